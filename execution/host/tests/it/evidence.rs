//! Evidence and the previous block's signers reach the active Sybil module (pos, the committed pos.wasm) through
//! `FinalizeBlock` and the `begin_block` entry point: a double-signer is slashed, tombstoned and leaves the set; a
//! validator absent from the signers for longer than the window allows is jailed for downtime.

use borsh::BorshDeserialize;
use cairn_abci::{CommitInfo, FinalizeBlockResponse, Misbehavior, MisbehaviorKind};
use cairn_module_pos::msg::{InitMsg, Params, QueryMsg, ValidatorInfo};
use cairn_primitives::{Height, PublicKey, Validator};
use serde_json::json;

use crate::common::*;

const POS_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/pos.wasm");

fn pk(i: u64) -> PublicKey {
    key(i).public()
}

/// Four validators of 1,000 tokens; a window of 10 blocks of which 5 may be missed.
fn pos_chain() -> (Chain, cairn_primitives::Address) {
    let params = Params {
        unbonding_period: 10,
        max_validators: 4,
        power_reduction: 1,
        slash_double_sign_ppm: 50_000,
        slash_downtime_ppm: 10_000,
        signed_blocks_window: 10,
        min_signed_pct: 50,
        downtime_jail_blocks: 20,
        max_evidence_age: 100,
        max_entries: 7,
        max_delegations: 16,
        min_self_bond: 1,
        max_work_per_block: 256,
        system: [0; 32],
        hybrid: None,
    };
    let init = InitMsg {
        params,
        balances: (0..4).map(|i| (pk(i).0, 1_000)).collect(),
        validators: (0..4).map(|i| (pk(i).0, 1_000)).collect(),
        members: vec![],
    };
    let g = json!({
        "modules": [{ "label": "pos", "wasm_path": POS_WASM,
            "init_msg_hex": hex::encode(borsh::to_vec(&init).expect("init")) }],
        "sybil_module": "pos",
    });
    let mut chain = Chain {
        app: cairn_execution::ExecApp::in_memory(cairn_execution::ExecConfig::default()).expect("app"),
        chain_id: cairn_primitives::ChainId::new(CHAIN).expect("id"),
        height: 0,
        nonces: Default::default(),
        price: 0,
        proposer: Default::default(),
    };
    let init = chain.init(&g).expect("init chain");
    assert_eq!(init.validators.len(), 4);
    let code = std::fs::read(POS_WASM).expect("wasm");
    (chain, genesis_instance(&code, 0))
}

fn validator(chain: &Chain, pos: cairn_primitives::Address, who: u64) -> ValidatorInfo {
    let q = borsh::to_vec(&QueryMsg::Validator { who: pk(who).0 }).expect("q");
    let r = chain.query(&format!("module/{}", pos.to_hex()), q);
    assert_eq!(r.code, 0, "query failed: {}", r.log);
    <Option<ValidatorInfo>>::try_from_slice(&r.value).expect("answer").expect("a validator")
}

fn signed_by(chain: &Chain, who: &[u64]) -> Option<CommitInfo> {
    Some(CommitInfo { height: Height(chain.height), signers: who.iter().map(|i| pk(*i)).collect() })
}

fn removed(resp: &FinalizeBlockResponse, who: u64) -> bool {
    resp.validator_updates.contains(&Validator { public_key: pk(who), power: 0 })
}

#[test]
fn double_sign_evidence_slashes_tombstones_and_removes_the_validator() {
    let (mut chain, pos) = pos_chain();
    for _ in 0..3 {
        let commit = signed_by(&chain, &[0, 1, 2, 3]);
        chain.block_with(vec![], vec![], commit);
    }
    let offence = Height(chain.height);
    let evidence = Misbehavior { kind: MisbehaviorKind::Equivocation, validator: pk(1), height: offence };
    let commit = signed_by(&chain, &[0, 1, 2, 3]);
    let resp = chain.block_with(vec![], vec![evidence.clone()], commit);
    assert!(removed(&resp, 1), "the double-signer leaves the set: {:?}", resp.validator_updates);
    let slash = resp.events.iter().find(|e| e.kind == "slash").expect("a slash event");
    assert!(slash.attributes.iter().any(|a| a.key == "reason" && a.value == "double_sign"), "{slash:?}");
    let v = validator(&chain, pos, 1);
    assert!(v.tombstoned, "tombstoned");
    assert_eq!(v.jailed_until, Some(u64::MAX), "jailed for good");
    assert_eq!(v.tokens, 950, "5 % burned");
    assert_eq!(validator(&chain, pos, 0).tokens, 1_000, "the others are untouched");

    // The same evidence again (it cannot be committed twice by the node; the module ignores it anyway).
    let resp = chain.block_with(vec![], vec![evidence], signed_by(&chain, &[0, 2, 3]));
    assert!(resp.events.iter().any(|e| e.kind == "evidence_ignored"));
    assert_eq!(validator(&chain, pos, 1).tokens, 950);
}

#[test]
fn a_validator_missing_from_the_signers_beyond_the_window_is_jailed() {
    let (mut chain, pos) = pos_chain();
    // Blocks with no commit to report (first block, sampling): nobody is counted absent.
    for _ in 0..15 {
        let resp = chain.block_with(vec![], vec![], None);
        assert!(resp.validator_updates.is_empty());
    }
    assert_eq!(validator(&chain, pos, 3).missed_in_window, 0);
    // Validator 3 stops signing: 5 misses in a window of 10 are allowed, the 6th jails it.
    let mut jailed_at = None;
    for _ in 0..12 {
        let commit = signed_by(&chain, &[0, 1, 2]);
        let resp = chain.block_with(vec![], vec![], commit);
        if removed(&resp, 3) {
            jailed_at = Some(chain.height);
            break;
        }
    }
    let jailed_at = jailed_at.expect("validator 3 was jailed for downtime");
    assert_eq!(jailed_at, 16 + 5, "the sixth miss jails");
    let v = validator(&chain, pos, 3);
    assert!(!v.tombstoned, "downtime is not double signing");
    assert_eq!(v.jailed_until, Some(jailed_at + 20));
    assert_eq!(v.tokens, 990, "1 % burned");
    assert_eq!(validator(&chain, pos, 0).missed_in_window, 0, "signers miss nothing");
}
