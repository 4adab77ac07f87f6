//! Hostile modules: each must fail alone (its tx), never the host or the block.

use cairn_execution::{Limits, ValidationError, codes, validate};
use cairn_primitives::Message;
use serde_json::json;

use crate::common::*;

fn setup() -> (Chain, cairn_primitives::Address) {
    let code = counter();
    let chain = Chain::new(json!({
        "modules": [{ "label": "counter", "wasm_hex": hex::encode(&code), "admin": null }]
    }));
    (chain, genesis_instance(&code, 0))
}

#[test]
fn infinite_loop_runs_out_of_fuel_and_the_next_tx_in_the_block_runs() {
    let (mut chain, addr) = setup();
    let k = key(1);
    let looping = chain.tx(&k, vec![Message::Execute { contract: addr, msg: vec![1] }]);
    let incr = chain.tx(&k, vec![Message::Execute { contract: addr, msg: vec![0] }]);
    let resp = chain.block(vec![looping, incr]);
    assert_eq!(resp.tx_results[0].code, codes::OUT_OF_FUEL, "{}", resp.tx_results[0].log);
    assert!(resp.tx_results[0].log.contains("out of fuel"), "{}", resp.tx_results[0].log);
    assert_eq!(resp.tx_results[0].gas_used, FUEL, "a loop burns the whole budget");
    assert!(resp.tx_results[1].is_ok(), "{}", resp.tx_results[1].log);
    assert_eq!(counter_value(&chain, addr), 1);
}

#[test]
fn memory_bomb_stops_at_the_cap() {
    let (mut chain, addr) = setup();
    let r = chain.exec(&key(1), addr, vec![2]);
    let pages = u32::from_le_bytes(output(&r).try_into().expect("4 bytes"));
    assert_eq!(u64::from(pages), Limits::default().max_memory_pages, "memory.grow must fail at the cap");
}

#[test]
fn deep_recursion_traps_without_crashing_the_host() {
    let (mut chain, addr) = setup();
    let k = key(1);
    let r = chain.exec(&k, addr, vec![3]);
    assert_eq!(r.code, codes::EXEC_FAILED);
    assert!(r.log.contains("stack"), "{}", r.log);
    // The host is fine: the next tx works.
    assert!(chain.exec(&k, addr, vec![0]).is_ok());
}

#[test]
fn ten_mib_module_is_rejected_at_upload() {
    let mut chain = Chain::new(json!({}));
    // A valid module padded to 10 MiB with a custom section.
    let mut code = counter();
    let pad = 10 * 1024 * 1024;
    code.push(0); // custom section id
    let mut size = pad as u32 + 2;
    loop {
        let mut b = (size & 0x7f) as u8;
        size >>= 7;
        if size != 0 {
            b |= 0x80;
        }
        code.push(b);
        if size == 0 {
            break;
        }
    }
    code.extend_from_slice(&[1, b'x']);
    code.resize(code.len() + pad, 0);
    let err = validate(&code, &Limits::default()).expect_err("too large");
    assert!(matches!(err, ValidationError::TooLarge { .. }), "{err}");
    // Through a tx (the envelope itself allows 4 MiB + 64 KiB, so this tx is refused as oversized).
    let k = key(1);
    let tx = chain.tx(&k, vec![Message::Upload { code: code.clone() }]);
    let check = chain.check(tx.clone());
    assert_eq!(check.code, codes::TOO_LARGE, "{}", check.log);
    let r = chain.block(vec![tx]);
    assert_ne!(r.tx_results[0].code, 0);
    // A 4 MiB + 1 module inside the envelope limit fails validation by size, naming the limit.
    let mut big = counter();
    big.resize(4 * 1024 * 1024 + 1, 0);
    let r = chain.send(&key(2), vec![Message::Upload { code: big }]);
    assert_eq!(r.code, codes::EXEC_FAILED);
    assert!(r.log.contains("over the limit of 4194304 bytes"), "{}", r.log);
}

#[test]
fn unknown_import_is_rejected_naming_it() {
    let text = r#"(module
        (import "env" "clock_time_get" (func (result i64)))
        (memory (export "memory") 1)
        (func (export "cairn_alloc") (param i32) (result i32) i32.const 0)
        (func (export "instantiate") (param i32 i32) (result i32) i32.const 0)
        (func (export "execute") (param i32 i32) (result i32) i32.const 0)
        (func (export "query") (param i32 i32) (result i32) i32.const 0))"#;
    let code = wat::parse_str(text).expect("wat");
    let mut chain = Chain::new(json!({}));
    let r = chain.send(&key(1), vec![Message::Upload { code }]);
    assert_eq!(r.code, codes::EXEC_FAILED);
    assert!(r.log.contains("env.clock_time_get"), "{}", r.log);

    let text2 = text.replace(r#""env" "clock_time_get""#, r#""cairn_v1" "random""#);
    let err = validate(&wat::parse_str(text2).expect("wat"), &Limits::default()).expect_err("unknown");
    assert!(err.to_string().contains("cairn_v1.random"), "{err}");
}

#[test]
fn float_nan_is_canonical() {
    // Documented choice: floats are allowed and NaNs canonicalised, so 0/0 has the same bits on every machine.
    let (mut chain, addr) = setup();
    let r = chain.exec(&key(1), addr, vec![5]);
    let bits = u64::from_le_bytes(output(&r).try_into().expect("8 bytes"));
    assert_eq!(bits, 0x7ff8_0000_0000_0000, "canonical quiet NaN, got {bits:#x}");
}

#[test]
fn abort_message_lands_in_the_log_truncated() {
    let (mut chain, addr) = setup();
    let r = chain.exec(&key(1), addr, vec![4]);
    assert_eq!(r.code, codes::EXEC_FAILED);
    let xs = r.log.matches('x').count();
    assert_eq!(xs, 1024, "message truncated to 1 KiB: {}", r.log.len());
    assert!(r.log.contains("aborted"), "{}", &r.log[..80]);
}

#[test]
fn a_failed_tx_leaves_no_writes() {
    let (mut chain, addr) = setup();
    let k = key(1);
    assert!(chain.exec(&k, addr, vec![0]).is_ok());
    let r = chain.exec(&k, addr, vec![7]);
    assert!(r.log.contains("VERSION"), "{}", r.log);
    assert_eq!(counter_value(&chain, addr), 1, "the aborted write of 999 must be gone");
    assert!(r.events.is_empty());
}

#[test]
fn queries_cannot_write() {
    let (chain, addr) = setup();
    let r = chain.query(&format!("module/{}", addr.to_hex()), vec![1]);
    assert_ne!(r.code, 0);
    assert!(r.log.contains("read-only"), "{}", r.log);
}

#[test]
fn the_block_fuel_limit_caps_a_block_and_resets_with_the_next() {
    let code = counter();
    let mut chain = Chain::new(json!({
        "modules": [{ "label": "counter", "wasm_hex": hex::encode(&code) }],
        "max_block_fuel": FUEL + FUEL / 2,
    }));
    let addr = genesis_instance(&code, 0);
    let k = key(1);
    let txs = vec![
        chain.tx(&k, vec![Message::Execute { contract: addr, msg: vec![1] }]),
        chain.tx(&k, vec![Message::Execute { contract: addr, msg: vec![1] }]),
        chain.tx(&k, vec![Message::Execute { contract: addr, msg: vec![0] }]),
    ];
    let resp = chain.block(txs);
    let codes_seen: Vec<u32> = resp.tx_results.iter().map(|r| r.code).collect();
    assert_eq!(codes_seen, vec![codes::OUT_OF_FUEL, codes::OUT_OF_FUEL, codes::BLOCK_FUEL]);
    assert_eq!(resp.tx_results[1].gas_used, FUEL / 2, "the second tx gets only what the block has left");
    // The refused tx did not spend its nonce: resubmitted in the next block, it runs.
    let again = chain.tx_with(&k, 2, FUEL, vec![Message::Execute { contract: addr, msg: vec![0] }]);
    let resp = chain.block(vec![again]);
    assert!(resp.tx_results[0].is_ok(), "{}", resp.tx_results[0].log);
}

#[test]
fn an_event_flood_fails_the_tx() {
    let (mut chain, addr) = setup();
    let r = chain.exec(&key(1), addr, vec![11]);
    assert_eq!(r.code, codes::EXEC_FAILED);
    assert!(r.log.contains("more than 1024 events"), "{}", r.log);
    assert!(r.events.is_empty());
}
