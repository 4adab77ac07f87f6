//! Proof of authority (the committed poa.wasm) as the chain's Sybil module.

use borsh::BorshDeserialize;
use cairn_abci::FinalizeBlockResponse;
use cairn_module_poa::msg::{Action, ExecuteMsg, InitMsg, ProposalStatus, QueryMsg, Status};
use cairn_primitives::{Address, Keypair, Message, PublicKey, Validator};
use serde_json::json;

use crate::bank::POA_WASM;
use crate::common::*;

fn poa_chain() -> (Chain, Address, Vec<Validator>) {
    let init = InitMsg {
        authorities: (0..4).map(|i| (key(i).public().0, 10)).collect(),
        max_authorities: 10,
        proposal_ttl: 100,
    };
    let g = json!({
        "modules": [{ "label": "poa", "wasm_path": POA_WASM, "init_msg_hex": hex::encode(borsh::to_vec(&init).expect("init")) }],
        "sybil_module": "poa",
    });
    let code = std::fs::read(POA_WASM).expect("poa.wasm");
    let mut chain = Chain {
        app: cairn_execution::ExecApp::in_memory(cairn_execution::ExecConfig::default()).expect("app"),
        chain_id: cairn_primitives::ChainId::new(CHAIN).expect("id"),
        height: 0,
        nonces: Default::default(),
        price: 0,
        proposer: Default::default(),
    };
    let init = chain.init(&g).expect("init");
    (chain, genesis_instance(&code, 0), init.validators)
}

fn act(
    chain: &mut Chain,
    poa: Address,
    who: &Keypair,
    msg: ExecuteMsg,
) -> (FinalizeBlockResponse, Option<Status>) {
    let tx = chain.tx(who, vec![Message::Execute { contract: poa, msg: borsh::to_vec(&msg).expect("msg") }]);
    let resp = chain.block(vec![tx]);
    let r = &resp.tx_results[0];
    let status = r.is_ok().then(|| ProposalStatus::try_from_slice(&output(r)).expect("status").status);
    (resp, status)
}

fn vote(chain: &mut Chain, poa: Address, who: &Keypair, id: u64) -> (FinalizeBlockResponse, Option<Status>) {
    act(chain, poa, who, ExecuteMsg::Vote { id, approve: true })
}

#[test]
fn authorities_admit_a_fifth_and_remove_one() {
    let (mut chain, poa, genesis_set) = poa_chain();
    assert_eq!(genesis_set.len(), 4, "InitChain reports the module's genesis set");
    assert!(genesis_set.iter().all(|v| v.power == 10));

    let newcomer = key(4);
    let (resp, s) = act(
        &mut chain,
        poa,
        &key(0),
        ExecuteMsg::Propose { action: Action::Admit { key: newcomer.public().0, power: 10 } },
    );
    assert_eq!(s, Some(Status::Open), "{}", resp.tx_results[0].log);
    assert!(resp.validator_updates.is_empty());
    assert_eq!(vote(&mut chain, poa, &key(1), 0).1, Some(Status::Open));
    let (resp, s) = vote(&mut chain, poa, &key(2), 0);
    assert_eq!(s, Some(Status::Passed), "30 of 40 is more than 2/3");
    assert_eq!(resp.validator_updates, vec![Validator { public_key: newcomer.public(), power: 10 }]);
    // Reported once: the next block has no updates.
    assert!(chain.block(vec![]).validator_updates.is_empty());

    let leaving = key(3).public();
    let (_, s) =
        act(&mut chain, poa, &key(0), ExecuteMsg::Propose { action: Action::Remove { key: leaving.0 } });
    assert_eq!(s, Some(Status::Open));
    assert_eq!(vote(&mut chain, poa, &key(1), 1).1, Some(Status::Open));
    assert_eq!(vote(&mut chain, poa, &key(2), 1).1, Some(Status::Open), "30 of 50 is not enough");
    let (resp, s) = vote(&mut chain, poa, &newcomer, 1);
    assert_eq!(s, Some(Status::Passed));
    assert_eq!(resp.validator_updates, vec![Validator { public_key: leaving, power: 0 }]);

    let q = borsh::to_vec(&QueryMsg::Authorities).expect("q");
    let r = chain.query(&format!("module/{}", poa.to_hex()), q);
    let set = <Vec<([u8; 32], u64)>>::try_from_slice(&r.value).expect("set");
    let mut expected: Vec<_> = [0, 1, 2, 4].iter().map(|&i| (key(i).public().0, 10)).collect();
    expected.sort();
    assert_eq!(set, expected);
}

#[test]
fn proposals_and_votes_by_non_authorities_are_rejected() {
    let (mut chain, poa, _) = poa_chain();
    let outsider = key(9);
    let (resp, s) = act(
        &mut chain,
        poa,
        &outsider,
        ExecuteMsg::Propose { action: Action::Admit { key: outsider.public().0, power: 10 } },
    );
    assert_eq!(s, None);
    let log = &resp.tx_results[0].log;
    assert!(
        log.contains(&format!("{} is not an authority", PublicKey(outsider.public().0).to_hex())),
        "{log}"
    );

    let (_, s) = act(
        &mut chain,
        poa,
        &key(0),
        ExecuteMsg::Propose { action: Action::Admit { key: outsider.public().0, power: 10 } },
    );
    assert_eq!(s, Some(Status::Open));
    let (resp, s) = vote(&mut chain, poa, &outsider, 0);
    assert_eq!(s, None);
    assert!(resp.tx_results[0].log.contains("is not an authority"), "{}", resp.tx_results[0].log);
    assert!(resp.validator_updates.is_empty());
}
