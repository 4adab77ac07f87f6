//! Each host limit and price a module can observe, pinned at its boundary (so a changed constant or a charge that
//! adds instead of taking fails here).

use cairn_execution::codes;
use cairn_execution::imports::{MAX_EVENT_BYTES, MAX_EVENT_BYTES_PER_TX, MAX_KEY, MAX_OUTPUT, MAX_VALUE};
use cairn_execution::prices::Prices;
use cairn_primitives::{Address, Message};
use serde_json::json;

use crate::common::*;

fn setup() -> (Chain, Address) {
    let code = wat("limits.wat");
    let chain = Chain::new(json!({ "modules": [{ "label": "limits", "wasm_hex": hex::encode(&code) }] }));
    (chain, genesis_instance(&code, 0))
}

fn probe(chain: &mut Chain, addr: Address, op: u8, n: usize, m: u32) -> cairn_abci::TxResult {
    let mut msg = vec![op];
    msg.extend_from_slice(&(n as u32).to_le_bytes());
    msg.extend_from_slice(&m.to_le_bytes());
    chain.exec(&key(1), addr, msg)
}

fn at_the_limit_ok_one_past_fails(op: u8, max: usize, what: &str) {
    let (mut chain, addr) = setup();
    let ok = probe(&mut chain, addr, op, max, 1);
    assert!(ok.is_ok(), "{what} of {max} bytes must pass: {}", ok.log);
    let over = probe(&mut chain, addr, op, max + 1, 1);
    assert_eq!(over.code, codes::EXEC_FAILED, "{what} of {} bytes must fail", max + 1);
    assert!(over.log.contains(&format!("over the limit of {max}")), "{what}: {}", over.log);
}

#[test]
fn key_length_is_pinned_at_max_key() {
    assert_eq!(MAX_KEY, 256);
    at_the_limit_ok_one_past_fails(0, MAX_KEY, "a key");
}

#[test]
fn value_length_is_pinned_at_max_value() {
    assert_eq!(MAX_VALUE, 64 * 1024);
    at_the_limit_ok_one_past_fails(1, MAX_VALUE, "a value");
}

#[test]
fn event_size_is_pinned_at_max_event_bytes() {
    assert_eq!(MAX_EVENT_BYTES, 8 * 1024);
    at_the_limit_ok_one_past_fails(2, MAX_EVENT_BYTES, "an event");
}

#[test]
fn output_size_is_pinned_at_max_output() {
    assert_eq!(MAX_OUTPUT, 256 * 1024);
    at_the_limit_ok_one_past_fails(3, MAX_OUTPUT, "an output");
}

#[test]
fn events_of_one_tx_are_capped_in_total_bytes() {
    // Each event counts its kind's length (n - 8 encoded bytes): 16 kinds of 4096 bytes fill the 64 KiB exactly.
    let (mut chain, addr) = setup();
    let per = MAX_EVENT_BYTES_PER_TX / 16;
    let ok = probe(&mut chain, addr, 5, per + 8, 16);
    assert!(ok.is_ok(), "{}", ok.log);
    let over = probe(&mut chain, addr, 5, per + 9, 16);
    assert_eq!(over.code, codes::EXEC_FAILED);
    assert!(over.log.contains(&format!("exceed {MAX_EVENT_BYTES_PER_TX} bytes")), "{}", over.log);
}

#[test]
fn host_calls_take_their_price_from_the_fuel() {
    let (mut chain, addr) = setup();
    let none = probe(&mut chain, addr, 4, 0, 0);
    let many = probe(&mut chain, addr, 4, 0, 1_000);
    assert!(none.is_ok() && many.is_ok(), "{} {}", none.log, many.log);
    let per_read = (many.gas_used - none.gas_used) / 1_000;
    // A read costs its price plus its key byte, plus a handful of loop instructions.
    assert!(
        (Prices::default().storage_read + 1..Prices::default().storage_read + 40).contains(&per_read),
        "a storage_get cost {per_read}"
    );
    // And a tx whose reads cost more than its fuel runs out.
    let broke = probe(&mut chain, addr, 4, 0, (FUEL / Prices::default().storage_read) as u32 + 1);
    assert_eq!(broke.code, codes::OUT_OF_FUEL, "{}", broke.log);
}

#[test]
fn uploads_are_charged_per_byte() {
    let mut chain = Chain::new(json!({}));
    let code = counter();
    let r = chain.send(&key(1), vec![Message::Upload { code: code.clone() }]);
    assert!(r.is_ok(), "{}", r.log);
    let price = code.len() as u64 * Prices::default().upload_per_byte;
    assert!(
        (price..price + 1_000).contains(&r.gas_used),
        "upload of {} bytes cost {}",
        code.len(),
        r.gas_used
    );
}

#[test]
fn prices_are_the_chains_genesis_parameters() {
    // The same probe on a chain whose reads cost 5,000 instead of 1,000: the difference per read is the price.
    let code = wat("limits.wat");
    let mut chain = Chain::new(json!({
        "modules": [{ "label": "limits", "wasm_hex": hex::encode(&code) }],
        "prices": { "storage_read": 5_000 },
    }));
    let addr = genesis_instance(&code, 0);
    let none = probe(&mut chain, addr, 4, 0, 0);
    let many = probe(&mut chain, addr, 4, 0, 1_000);
    let per_read = (many.gas_used - none.gas_used) / 1_000;
    assert!((5_001..5_040).contains(&per_read), "a storage_get cost {per_read}");
}

#[test]
fn a_zero_price_in_genesis_is_refused_by_name() {
    let Err(err) = Chain::try_new(json!({ "prices": { "ed25519": 0 } })) else { panic!("refused") };
    assert!(err.contains("prices.ed25519"), "{err}");
    let Err(err) = Chain::try_new(json!({ "prices": { "storage_reed": 7 } })) else {
        panic!("a typo is refused")
    };
    assert!(err.contains("storage_reed"), "{err}");
}
