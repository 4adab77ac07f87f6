//! The committed bank.wasm through ExecApp: transfers, errors, and a proptest against a model.

use std::collections::BTreeMap;

use borsh::BorshDeserialize;
use cairn_execution::{Limits, validate};
use cairn_module_bank::msg::{ExecuteMsg, InitMsg, QueryMsg};
use cairn_primitives::{Address, Keypair, Message};
use proptest::prelude::*;
use serde_json::json;

use crate::common::*;

pub const BANK_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/bank.wasm");
pub const POA_WASM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/poa.wasm");

pub fn bank_code() -> Vec<u8> {
    std::fs::read(BANK_WASM).expect("modules/wasm/bank.wasm")
}

pub const START: u128 = 1_000;

pub fn bank_genesis(accounts: u64) -> (serde_json::Value, Address) {
    let init = InitMsg {
        denom: "cairn".into(),
        admin: None,
        balances: (0..accounts).map(|i| (key(i).public().0, START)).collect(),
    };
    let g = json!({
        "modules": [{ "label": "bank", "wasm_path": BANK_WASM, "init_msg_hex": hex::encode(borsh::to_vec(&init).expect("init")) }]
    });
    (g, genesis_instance(&bank_code(), 0))
}

pub fn transfer_msg(bank: Address, to: &Keypair, amount: u128) -> Message {
    let msg = ExecuteMsg::Transfer { to: to.public().0, amount };
    Message::Execute { contract: bank, msg: borsh::to_vec(&msg).expect("msg") }
}

pub fn balance(chain: &Chain, bank: Address, who: &Keypair) -> u128 {
    let q = borsh::to_vec(&QueryMsg::Balance { account: who.public().0 }).expect("q");
    let r = chain.query(&format!("module/{}", bank.to_hex()), q);
    assert_eq!(r.code, 0, "{}", r.log);
    u128::try_from_slice(&r.value).expect("u128")
}

#[test]
fn committed_modules_pass_upload_validation() {
    for path in [BANK_WASM, POA_WASM] {
        let code = std::fs::read(path).expect("wasm");
        let info = validate(&code, &Limits::default()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(info.exports.iter().any(|(n, _)| n == "execute"));
        assert!(
            info.imports.iter().all(|i| cairn_execution::imports::HOST_FUNCTIONS.iter().any(|h| h.name == i))
        );
    }
    let poa = validate(&std::fs::read(POA_WASM).expect("poa"), &Limits::default()).expect("poa");
    assert!(poa.has_validator_set_updates && poa.has_end_block);
}

#[test]
fn bank_transfers_through_exec_app() {
    let (g, bank) = bank_genesis(3);
    let mut chain = Chain::new(g);
    let (a, b, c) = (key(0), key(1), key(2));
    let r = chain.send(&a, vec![transfer_msg(bank, &b, 250)]);
    assert!(r.is_ok(), "{}", r.log);
    assert_eq!(r.events[0].kind, "transfer");
    assert_eq!(balance(&chain, bank, &a), START - 250);
    assert_eq!(balance(&chain, bank, &b), START + 250);

    // Many transfers in one block, including one that overdraws.
    let txs = vec![
        chain.tx(&b, vec![transfer_msg(bank, &c, 1_250)]),
        chain.tx(&c, vec![transfer_msg(bank, &a, 5_000)]),
        chain.tx(&c, vec![transfer_msg(bank, &a, 1)]),
    ];
    let resp = chain.block(txs);
    assert!(resp.tx_results[0].is_ok(), "{}", resp.tx_results[0].log);
    assert!(resp.tx_results[1].log.contains("insufficient funds"), "{}", resp.tx_results[1].log);
    assert!(resp.tx_results[2].is_ok(), "the failed tx spent its nonce; the next one runs");
    assert_eq!(balance(&chain, bank, &b), 0);
    assert_eq!(balance(&chain, bank, &c), START + 1_250 - 1);
    assert_eq!(balance(&chain, bank, &a), START - 250 + 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_transfers_match_a_model(
        blocks in prop::collection::vec(
            prop::collection::vec((0u64..4, 0u64..5, 0u128..1_500), 1..8),
            1..5,
        )
    ) {
        let (g, bank) = bank_genesis(4);
        let mut chain = Chain::new(g);
        let mut model: BTreeMap<u64, u128> = (0..4).map(|i| (i, START)).collect();
        for block in blocks {
            let mut txs = Vec::new();
            let mut expect = Vec::new();
            for (from, to, amount) in block {
                let have = model.get(&from).copied().unwrap_or(0);
                let ok = amount > 0 && have >= amount;
                if ok {
                    *model.entry(from).or_insert(0) -= amount;
                    *model.entry(to).or_insert(0) += amount;
                }
                expect.push(ok);
                txs.push(chain.tx(&key(from), vec![transfer_msg(bank, &key(to), amount)]));
            }
            let resp = chain.block(txs);
            for (r, ok) in resp.tx_results.iter().zip(expect) {
                prop_assert_eq!(r.is_ok(), ok, "{}", r.log);
            }
        }
        for i in 0..5u64 {
            prop_assert_eq!(balance(&chain, bank, &key(i)), model.get(&i).copied().unwrap_or(0));
        }
        let supply = borsh::to_vec(&QueryMsg::TotalSupply).expect("q");
        let r = chain.query(&format!("module/{}", bank.to_hex()), supply);
        prop_assert_eq!(u128::try_from_slice(&r.value).expect("u128"), 4 * START);
    }
}
