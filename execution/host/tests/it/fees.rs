//! Fees, storage deposits and quotas (issue 13) on the real ExecApp, block by block, with the committed bank.

use borsh::BorshDeserialize;
use cairn_abci::TxResult;
use cairn_execution::fees::FeeDestination;
use cairn_execution::ledger::{community_pool, deposit_escrow};
use cairn_execution::{ExecApp, ExecConfig, codes};
use cairn_module_bank::msg::{ExecuteMsg, InitMsg, QueryMsg};
use cairn_primitives::{Address, Keypair, Message};
use serde_json::json;

use crate::bank::{BANK_WASM, bank_code};
use crate::common::*;

/// Every funded account's genesis balance.
const FUNDS: u128 = 1_000_000_000_000;
const PRICE: u128 = 3;
const PER_BYTE: u128 = 1_000;
/// A key the store fixture writes: `m ‖ address ‖ "k" ‖ u32` = 38 bytes, with an 8-byte value.
const SMALL_ENTRY: u128 = 38 + 8;
const BIG_ENTRY: u128 = 38 + 60_000;

struct Fees {
    chain: Chain,
    bank: Address,
    store: Address,
    counter: Address,
}

fn store_code() -> Vec<u8> {
    wat("store.wat")
}

/// A chain with a bank (accounts 0..4 funded with [`FUNDS`], plus `extra`), the store and counter fixtures, and the
/// given `fees` section (its `bank_module` set to the bank).
fn fee_chain(fees: serde_json::Value, extra: &[(Address, u128)], config: ExecConfig) -> Fees {
    fee_chain_with(fees, extra, config, None)
}

/// [`fee_chain`], plus the quota-granting Sybil fixture as the chain's Sybil module (label `attest`) if `sybil`.
fn fee_chain_with(
    mut fees: serde_json::Value,
    extra: &[(Address, u128)],
    config: ExecConfig,
    sybil: Option<Vec<u8>>,
) -> Fees {
    let mut balances: Vec<([u8; 32], u128)> = (0..4).map(|i| (key(i).public().0, FUNDS)).collect();
    balances.extend(extra.iter().map(|(a, b)| (a.0, *b)));
    let init = InitMsg { denom: "cairn".into(), admin: None, balances };
    fees["bank_module"] = json!("bank");
    let mut g = json!({
        "modules": [
            { "label": "bank", "wasm_path": BANK_WASM, "init_msg_hex": hex::encode(borsh::to_vec(&init).expect("init")) },
            { "label": "store", "wasm_hex": hex::encode(store_code()) },
            { "label": "counter", "wasm_hex": hex::encode(counter()) },
        ],
        "fees": fees,
    });
    if let Some(code) = sybil {
        g["modules"]
            .as_array_mut()
            .expect("array")
            .push(json!({ "label": "attest", "wasm_hex": hex::encode(code) }));
        g["sybil_module"] = json!("attest");
    }
    let app = ExecApp::in_memory(config).expect("app");
    let mut chain = Chain::with_app(app, g);
    chain.price = PRICE;
    Fees {
        chain,
        bank: genesis_instance(&bank_code(), 0),
        store: genesis_instance(&store_code(), 1),
        counter: genesis_instance(&counter(), 2),
    }
}

fn paying(destination: &str, deposit_per_byte: u128) -> Fees {
    let fees = json!({ "min_price": 1, "destination": destination, "deposit_per_byte": deposit_per_byte });
    fee_chain(fees, &[], ExecConfig::default())
}

fn balance_of(f: &Fees, who: &Address) -> u128 {
    let q = borsh::to_vec(&QueryMsg::Balance { account: who.0 }).expect("q");
    let r = f.chain.query(&format!("module/{}", f.bank.to_hex()), q);
    assert_eq!(r.code, 0, "{}", r.log);
    u128::try_from_slice(&r.value).expect("u128")
}

fn supply(f: &Fees) -> u128 {
    let q = borsh::to_vec(&QueryMsg::TotalSupply).expect("q");
    let r = f.chain.query(&format!("module/{}", f.bank.to_hex()), q);
    u128::try_from_slice(&r.value).expect("u128")
}

fn addr(k: &Keypair) -> Address {
    Address::from(k.public())
}

fn store_op(op: u8, n: u32) -> Vec<u8> {
    let mut m = vec![op];
    m.extend_from_slice(&n.to_le_bytes());
    m
}

fn transfer(bank: Address, to: &Address, amount: u128) -> Message {
    let msg = ExecuteMsg::Transfer { to: to.0, amount };
    Message::Execute { contract: bank, msg: borsh::to_vec(&msg).expect("msg") }
}

fn fee_paid(r: &TxResult) -> u128 {
    let e = r.events.iter().find(|e| e.kind == "fee").unwrap_or_else(|| panic!("no fee event: {r:?}"));
    let amount = e.attributes.iter().find(|a| a.key == "amount").expect("amount");
    amount.value.parse().expect("decimal")
}

#[test]
fn a_key_with_no_balance_is_rejected_naming_the_shortfall() {
    let f = paying("burn", 0);
    let stranger = key(99);
    let r = f.chain.check(f.chain.tx_with(&stranger, 0, FUEL, vec![]));
    assert_eq!(r.code, codes::INSUFFICIENT_FEE, "{}", r.log);
    let need = u128::from(FUEL) * PRICE;
    assert!(r.log.contains(&format!("has 0, needs {need}")), "{}", r.log);

    // A funded key that cannot cover fuel_limit × price is refused too, with its own numbers.
    let poor = key(50);
    let f = fee_chain(json!({ "min_price": 1 }), &[(addr(&poor), need - 1)], ExecConfig::default());
    let r = f.chain.check(f.chain.tx_with(&poor, 0, FUEL, vec![]));
    assert_eq!(r.code, codes::INSUFFICIENT_FEE, "{}", r.log);
    assert!(r.log.contains(&format!("has {}, needs {need}", need - 1)), "{}", r.log);
    // One more token and it passes, with its price as the mempool priority.
    let f = fee_chain(json!({ "min_price": 1 }), &[(addr(&poor), need)], ExecConfig::default());
    let r = f.chain.check(f.chain.tx_with(&poor, 0, FUEL, vec![]));
    assert_eq!(r.code, 0, "{}", r.log);
    assert_eq!(r.priority, PRICE as i64);
}

#[test]
fn a_price_below_the_chain_or_node_minimum_is_rejected() {
    let f = fee_chain(json!({ "min_price": PRICE + 1 }), &[], ExecConfig::default());
    let r = f.chain.check(f.chain.tx_with(&key(0), 0, FUEL, vec![]));
    assert_eq!(r.code, codes::PRICE_TOO_LOW, "{}", r.log);
    assert!(r.log.contains(&format!("price {PRICE} is below the minimum of {}", PRICE + 1)), "{}", r.log);
    // A proposer that includes it anyway: it fails in FinalizeBlock, without spending the nonce or any funds.
    let mut f = f;
    let tx = f.chain.tx_with(&key(0), 0, FUEL, vec![]);
    let resp = f.chain.block(vec![tx]);
    assert_eq!(resp.tx_results[0].code, codes::PRICE_TOO_LOW);
    assert_eq!(balance_of(&f, &addr(&key(0))), FUNDS);

    // The node's own minimum: the chain accepts price 3, this node wants 4.
    let config = ExecConfig { min_price: PRICE + 1, ..ExecConfig::default() };
    let f = fee_chain(json!({ "min_price": 1 }), &[], config);
    let r = f.chain.check(f.chain.tx_with(&key(0), 0, FUEL, vec![]));
    assert_eq!(r.code, codes::PRICE_TOO_LOW, "{}", r.log);
}

#[test]
fn a_tx_that_runs_out_of_fuel_pays_for_all_it_burned() {
    let mut f = paying("burn", 0);
    let a = key(0);
    let fuel = 2_000_000;
    let tx = f.chain.tx_with(&a, 0, fuel, vec![Message::Execute { contract: f.counter, msg: vec![1] }]);
    let r = f.chain.block(vec![tx]).tx_results.remove(0);
    assert_eq!(r.code, codes::OUT_OF_FUEL, "{}", r.log);
    assert_eq!(r.gas_used, fuel);
    assert_eq!(fee_paid(&r), u128::from(fuel) * PRICE);
    assert_eq!(balance_of(&f, &addr(&a)), FUNDS - u128::from(fuel) * PRICE);
}

#[test]
fn a_failed_tx_keeps_its_fee_but_not_its_writes() {
    let mut f = paying("burn", 0);
    let a = key(0);
    let before = supply(&f);
    // Counter op 7: writes, then aborts.
    let r = f.chain.exec(&a, f.counter, vec![7]);
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    assert_eq!(counter_value(&f.chain, f.counter), 0, "the failed tx's write is undone");
    let fee = fee_paid(&r);
    assert!(fee > 0 && fee == u128::from(r.gas_used) * PRICE, "fee {fee} for {} fuel", r.gas_used);
    assert_eq!(balance_of(&f, &addr(&a)), FUNDS - fee);
    assert_eq!(supply(&f), before - fee, "burned");
    assert_eq!(balance_of(&f, &cairn_execution::ledger::fee_hold()), 0, "nothing stays held");
}

#[test]
fn the_fee_is_held_before_the_messages_run() {
    let mut f = paying("burn", 0);
    let (a, b) = (key(0), key(1));
    let max_fee = u128::from(FUEL) * PRICE;
    // The messages see the balance minus the whole fuel_limit × price: one token more than that cannot move.
    let r = f.chain.send(&a, vec![transfer(f.bank, &addr(&b), FUNDS - max_fee + 1)]);
    assert_eq!(r.code, codes::EXEC_FAILED, "{}", r.log);
    assert!(r.log.contains("insufficient funds"), "{}", r.log);
    let fee1 = fee_paid(&r);
    // Exactly that much can, and the unused fuel comes back afterwards.
    let left = FUNDS - fee1;
    let r = f.chain.send(&a, vec![transfer(f.bank, &addr(&b), left - max_fee)]);
    assert!(r.is_ok(), "{}", r.log);
    let fee2 = fee_paid(&r);
    assert_eq!(fee2, u128::from(r.gas_used) * PRICE);
    assert!(fee2 < max_fee);
    assert_eq!(balance_of(&f, &addr(&a)), max_fee - fee2, "unused fuel refunded");
    assert_eq!(balance_of(&f, &addr(&b)), FUNDS + left - max_fee);
}

#[test]
fn fees_go_where_the_chain_says() {
    let proposer = key(3);
    for dest in [FeeDestination::Burn, FeeDestination::Proposer, FeeDestination::CommunityPool] {
        let name = serde_json::to_value(dest).expect("json");
        let mut f = paying(name.as_str().expect("str"), 0);
        f.chain.proposer = proposer.public();
        let before = supply(&f);
        let r = f.chain.send(&key(0), vec![transfer(f.bank, &addr(&key(1)), 5)]);
        let fee = fee_paid(&r);
        let (pool, prop) = (balance_of(&f, &community_pool()), balance_of(&f, &addr(&proposer)));
        match dest {
            FeeDestination::Burn => assert_eq!((supply(&f), pool, prop), (before - fee, 0, FUNDS)),
            FeeDestination::Proposer => assert_eq!((supply(&f), pool, prop), (before, 0, FUNDS + fee)),
            FeeDestination::CommunityPool => assert_eq!((supply(&f), pool, prop), (before, fee, FUNDS)),
        }
    }
}

#[test]
fn a_replayed_tx_is_charged_once() {
    let mut f = paying("burn", 0);
    let a = key(0);
    let tx = f.chain.tx(&a, vec![transfer(f.bank, &addr(&key(1)), 5)]);
    let r = f.chain.block(vec![tx.clone(), tx.clone()]);
    assert!(r.tx_results[0].is_ok());
    assert_eq!(r.tx_results[1].code, codes::BAD_NONCE);
    assert!(r.tx_results[1].events.is_empty(), "the replay pays no fee");
    let fee = fee_paid(&r.tx_results[0]);
    assert_eq!(balance_of(&f, &addr(&a)), FUNDS - 5 - fee);
    let r = f.chain.block(vec![tx]);
    assert_eq!(r.tx_results[0].code, codes::BAD_NONCE);
    assert_eq!(balance_of(&f, &addr(&a)), FUNDS - 5 - fee, "a replay costs nothing");
}

#[test]
fn each_write_locks_at_least_its_bytes_times_the_deposit_price() {
    let mut f = paying("burn", PER_BYTE);
    let a = key(0);
    let r = f.chain.exec(&a, f.store, store_op(0, 10));
    assert!(r.is_ok(), "{}", r.log);
    let locked = 10 * SMALL_ENTRY * PER_BYTE;
    assert_eq!(balance_of(&f, &deposit_escrow()), locked);
    assert_eq!(balance_of(&f, &addr(&a)), FUNDS - fee_paid(&r) - locked);
    // Rewriting the same keys with the same sizes locks nothing more.
    let r = f.chain.exec(&a, f.store, store_op(0, 10));
    assert_eq!(balance_of(&f, &deposit_escrow()), locked);
    assert_eq!(balance_of(&f, &addr(&a)), FUNDS - fee_paid(&r) * 2 - locked);
}

#[test]
fn removing_state_refunds_whoever_locked_the_deposit() {
    let mut f = paying("burn", PER_BYTE);
    let (a, b) = (key(0), key(1));
    let r = f.chain.exec(&a, f.store, store_op(0, 4));
    let a_after_write = FUNDS - fee_paid(&r) - 4 * SMALL_ENTRY * PER_BYTE;
    assert_eq!(balance_of(&f, &addr(&a)), a_after_write);
    // b removes a's keys: a gets the deposit back, b pays only its fee.
    let r = f.chain.exec(&b, f.store, store_op(1, 4));
    assert!(r.is_ok(), "{}", r.log);
    assert_eq!(balance_of(&f, &addr(&a)), a_after_write + 4 * SMALL_ENTRY * PER_BYTE);
    assert_eq!(balance_of(&f, &addr(&b)), FUNDS - fee_paid(&r));
    assert_eq!(balance_of(&f, &deposit_escrow()), 0);
}

#[test]
fn an_attacker_with_balance_b_adds_at_most_b_over_the_price_bytes() {
    let attacker = key(60);
    // Enough for three 60 KB values' deposits (60 M each at 1 000 per byte) and fees, not for four.
    let budget: u128 = 200_000_000;
    let mut f = fee_chain(
        json!({ "min_price": 1, "deposit_per_byte": PER_BYTE }),
        &[(addr(&attacker), budget)],
        ExecConfig::default(),
    );
    f.chain.price = 1;
    // Each tx writes keys 0..k, so each adds one more 60 KB value; go on until the attacker cannot pay.
    let mut stored = 0u32;
    let refused = loop {
        let r = f.chain.exec(&attacker, f.store, store_op(4, stored + 1));
        if !r.is_ok() {
            break r;
        }
        stored += 1;
        assert!(stored < 10, "the attacker kept writing past its balance");
    };
    assert_eq!(refused.code, codes::DEPOSIT, "{}", refused.log);
    assert!(refused.log.contains("insufficient funds for the storage deposit"), "{}", refused.log);
    assert!(fee_paid(&refused) > 0, "the failed tx still pays its fee");
    let locked = balance_of(&f, &deposit_escrow());
    assert_eq!(locked, u128::from(stored) * BIG_ENTRY * PER_BYTE, "the refused tx's writes were dropped");
    assert!(locked / PER_BYTE <= budget / PER_BYTE, "{} bytes on a balance of {budget}", locked / PER_BYTE);
    assert_eq!(stored, 3);
}

#[test]
fn the_host_reads_and_writes_balances_where_the_bank_keeps_them() {
    // If the ledger's key layout drifted from the bank's, the bank's own query would not see the fee.
    let mut f = paying("community_pool", 0);
    let r = f.chain.send(&key(0), vec![transfer(f.bank, &addr(&key(1)), 1)]);
    let fee = fee_paid(&r);
    assert!(fee > 0);
    assert_eq!(balance_of(&f, &community_pool()), fee);
    assert_eq!(balance_of(&f, &addr(&key(0))), FUNDS - 1 - fee);
}

// ------------------------------------------------------------------------------------------------------ quotas

const WINDOW: u64 = 5;

fn quota_chain(fuel: u64, bytes: u64) -> Fees {
    let member = key(70);
    let fees = json!({
        "min_price": 1,
        "deposit_per_byte": PER_BYTE,
        "quota_window": WINDOW,
        "quotas": [{ "account": addr(&member).to_hex(), "fuel": fuel, "bytes": bytes }],
    });
    let mut f = fee_chain(fees, &[(addr(&member), FUNDS)], ExecConfig::default());
    f.chain.price = 0;
    f
}

#[test]
fn a_member_within_quota_transacts_free() {
    let mut f = quota_chain(3 * FUEL, 1_000);
    let m = key(70);
    let r = f.chain.exec(&m, f.store, store_op(0, 2));
    assert!(r.is_ok(), "{}", r.log);
    assert_eq!(balance_of(&f, &addr(&m)), FUNDS, "free: no fee, no deposit");
    assert!(r.events.iter().all(|e| e.kind != "fee"));
    let q = f.chain.query(&format!("quota/{}", addr(&m).to_hex()), vec![]);
    assert_eq!(q.code, 0, "{}", q.log);
    let (fuel_left, bytes_left): (u64, u64) = borsh::from_slice(&q.value).expect("(u64, u64)");
    assert_eq!(fuel_left, 3 * FUEL - r.gas_used);
    assert_eq!(bytes_left, 1_000 - 2 * SMALL_ENTRY as u64);
}

#[test]
fn past_its_quota_a_tx_is_rejected_or_pays_with_a_price() {
    let mut f = quota_chain(FUEL + FUEL / 2, 10_000);
    let m = key(70);
    // An endless loop burns its whole fuel limit, from the quota.
    let r = f.chain.exec(&m, f.counter, vec![1]);
    assert_eq!(r.code, codes::OUT_OF_FUEL, "{}", r.log);
    // Less than FUEL is left: a price-0 tx asking for FUEL is refused by CheckTx and fails in a block.
    let tx = f.chain.tx_with(&m, 1, FUEL, vec![]);
    let c = f.chain.check(tx.clone());
    assert_eq!(c.code, codes::QUOTA, "{}", c.log);
    assert!(c.log.contains("fuel"), "{}", c.log);
    let r = f.chain.block(vec![tx]).tx_results.remove(0);
    assert_eq!(r.code, codes::QUOTA, "{}", r.log);
    // With a price it pays like anyone.
    f.chain.price = PRICE;
    let tx = f.chain.tx_with(&m, 1, FUEL, vec![]);
    assert_eq!(f.chain.check(tx.clone()).code, 0);
    let r = f.chain.block(vec![tx]).tx_results.remove(0);
    assert!(r.is_ok(), "{}", r.log);
    assert_eq!(balance_of(&f, &addr(&m)), FUNDS - fee_paid(&r));
    // A key with no quota at all cannot send price 0.
    f.chain.price = 0;
    let c = f.chain.check(f.chain.tx_with(&key(0), 0, FUEL, vec![]));
    assert_eq!(c.code, codes::QUOTA, "{}", c.log);
}

#[test]
fn writes_past_the_byte_quota_fail_and_the_quota_refills_each_window() {
    let mut f = quota_chain(100 * FUEL, 3 * SMALL_ENTRY as u64);
    let m = key(70);
    let r = f.chain.exec(&m, f.store, store_op(0, 4));
    assert_eq!(r.code, codes::QUOTA, "{}", r.log);
    assert!(r.log.contains("quota exceeded"), "{}", r.log);
    let r = f.chain.exec(&m, f.store, store_op(0, 3));
    assert!(r.is_ok(), "{}", r.log);
    // Keys 0..3 exist: writing key 3 too needs 46 more bytes, none are left this window.
    let r = f.chain.exec(&m, f.store, store_op(0, 4));
    assert_eq!(r.code, codes::QUOTA, "{}", r.log);
    while f.chain.height % WINDOW != WINDOW - 1 {
        f.chain.block(vec![]);
    }
    let r = f.chain.exec(&m, f.store, store_op(0, 4));
    assert!(r.is_ok(), "a new window refills the quota: {}", r.log);
}

#[test]
fn the_sybil_modules_quota_follows_the_attested_person_not_the_key() {
    let attest_code = wat("quota.wat");
    let fees = json!({ "min_price": 1, "quota_window": WINDOW });
    let mut f = fee_chain_with(fees, &[], ExecConfig::default(), Some(attest_code.clone()));
    let attest = genesis_instance(&attest_code, 3);
    let (person, second_key) = (key(80), key(81));
    // Not attested yet: no quota, no balance.
    f.chain.price = 0;
    let c = f.chain.check(f.chain.tx_with(&person, 0, FUEL, vec![]));
    assert_eq!(c.code, codes::QUOTA, "{}", c.log);
    // A funded account attests the person (paying for it).
    f.chain.price = PRICE;
    let r = f.chain.exec(&key(0), attest, addr(&person).0.to_vec());
    assert!(r.is_ok(), "{}", r.log);
    // Now the person transacts free, within the module's (100 000 000 fuel, 1 000 bytes)...
    f.chain.price = 0;
    let r = f.chain.exec(&person, f.store, store_op(0, 2));
    assert!(r.is_ok(), "{}", r.log);
    assert_eq!(balance_of(&f, &addr(&person)), 0);
    let q = f.chain.query(&format!("quota/{}", addr(&person).to_hex()), vec![]);
    let (fuel_left, bytes_left): (u64, u64) = borsh::from_slice(&q.value).expect("(u64, u64)");
    assert_eq!((fuel_left, bytes_left), (100_000_000 - r.gas_used, 1_000 - 2 * SMALL_ENTRY as u64));
    // ...but another key the same person makes is attested by nothing: no quota.
    let c = f.chain.check(f.chain.tx_with(&second_key, 0, FUEL, vec![]));
    assert_eq!(c.code, codes::QUOTA, "{}", c.log);
}

#[test]
fn fifty_fresh_unfunded_keys_cannot_pass_check_tx() {
    // Each would otherwise take a mempool slot: the pool admits only what CheckTx accepts.
    for fees in [json!({ "min_price": 1 }), json!({ "min_price": 1, "quota_window": WINDOW })] {
        let f = fee_chain(fees, &[], ExecConfig::default());
        for price in [0, PRICE] {
            for i in 0..50 {
                let k = Keypair::derived("fresh", i);
                let c = f.chain.check(f.chain.tx_with_price(&k, 0, FUEL, price, vec![]));
                assert_ne!(c.code, 0, "fresh key {i} at price {price} was accepted");
            }
        }
    }
}

#[tokio::test]
async fn a_proposal_leaves_out_a_tx_its_sender_can_no_longer_pay() {
    use cairn_abci::{Application, PrepareProposalRequest};
    let payer = key(90);
    let max_fee = u128::from(FUEL) * PRICE;
    // Enough for one tx's fuel_limit × price, not two: CheckTx (on committed state) accepts both.
    let mut f =
        fee_chain(json!({ "min_price": 1 }), &[(addr(&payer), max_fee + max_fee / 2)], ExecConfig::default());
    // The first burns its whole fuel limit (an endless loop), so it pays all of max_fee.
    let burn = Message::Execute { contract: f.counter, msg: vec![1] };
    let txs = vec![f.chain.tx(&payer, vec![burn]), f.chain.tx(&payer, vec![])];
    assert!(txs.iter().all(|t| f.chain.check(t.clone()).code == 0));
    let req = PrepareProposalRequest {
        max_tx_bytes: u64::MAX,
        txs: txs.clone(),
        height: cairn_primitives::Height(f.chain.height + 1),
        time_ms: 1_000 + (f.chain.height + 1) * 1_000,
        proposer: cairn_primitives::PublicKey::default(),
    };
    let proposed = f.chain.app.prepare_proposal(req).await.expect("prepare").txs;
    // After the first, the second cannot be paid in this block: left out, it stays in the mempool.
    assert_eq!(proposed, txs[..1].to_vec());
    // Proposed anyway, the second fails without spending its nonce or paying anything.
    let r = f.chain.block(txs);
    assert_eq!(r.tx_results[0].code, codes::OUT_OF_FUEL, "{}", r.tx_results[0].log);
    assert_eq!(r.tx_results[1].code, codes::INSUFFICIENT_FEE, "{}", r.tx_results[1].log);
    assert!(r.tx_results[1].events.is_empty());
    assert_eq!(balance_of(&f, &addr(&payer)), max_fee / 2);
}
