//! The deterministic stack limit: recursion traps at a depth set by the code and the budget alone, the same
//! whatever native stack (`max_wasm_stack`) the node runs with.

use cairn_execution::instrument::{FRAME_UNITS, STACK_BUDGET};
use cairn_execution::{ExecApp, ExecConfig, codes};
use cairn_primitives::Address;
use serde_json::json;

use crate::common::*;

/// `execute(n)` recurses `n` deep through `$rec`, a frame of 1 parameter, no locals and an operand stack at most
/// 2 deep: each call costs `FRAME_UNITS + 3` units, and the entry point makes `n + 1` of them.
const RECURSE: &str = r#"(module
    (memory (export "memory") 1)
    (func (export "cairn_alloc") (param i32) (result i32) i32.const 16)
    (func (export "instantiate") (param i32 i32) (result i32) i32.const 0)
    (func (export "query") (param i32 i32) (result i32) i32.const 0)
    (func $rec (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n))
        (then (i32.const 0))
        (else (call $rec (i32.sub (local.get $n) (i32.const 1))))))
    (func (export "execute") (param $p i32) (param $l i32) (result i32)
      (drop (call $rec (i32.load (local.get $p))))
      i32.const 0))"#;

fn chain(max_wasm_stack: usize, stack_budget: u32) -> (Chain, Address) {
    let code = wat::parse_str(RECURSE).expect("wat");
    let app = ExecApp::in_memory(ExecConfig { max_wasm_stack, ..ExecConfig::default() }).expect("app");
    let chain = Chain::with_app(
        app,
        json!({
            "modules": [{ "label": "rec", "wasm_hex": hex::encode(&code) }],
            "limits": { "stack_budget": stack_budget },
        }),
    );
    (chain, genesis_instance(&code, 0))
}

/// The deepest recursion that runs under `stack_budget`, checked one deeper to trap; and the trap's log.
fn deepest_ok(max_wasm_stack: usize, stack_budget: u32) -> (u32, String) {
    let (mut chain, addr) = chain(max_wasm_stack, stack_budget);
    let cost = FRAME_UNITS + 3;
    let limit = stack_budget / cost - 1;
    let at = chain.exec(&key(1), addr, limit.to_le_bytes().to_vec());
    assert!(at.is_ok(), "recursion of {limit} fits the budget: {}", at.log);
    let past = chain.exec(&key(1), addr, (limit + 1).to_le_bytes().to_vec());
    assert_eq!(past.code, codes::EXEC_FAILED, "{}", past.log);
    (limit, past.log)
}

#[test]
fn recursion_traps_at_exactly_the_budget_whatever_the_native_stack() {
    let (small, log_small) = deepest_ok(768 * 1024, STACK_BUDGET);
    let (large, log_large) = deepest_ok(1536 * 1024, STACK_BUDGET);
    assert_eq!(small, large);
    assert_eq!(log_small, log_large, "the same message on both nodes");
    assert!(log_small.contains("call stack exhausted"), "{log_small}");
    assert!(!log_small.contains("0x"), "no wasm offsets or backtraces in logs: {log_small}");
}

#[test]
fn the_stack_budget_is_the_chains_genesis_parameter() {
    // A chain granting a quarter of the engine's budget traps at a quarter of the depth, with its own number.
    let (quarter, log) = deepest_ok(1024 * 1024, STACK_BUDGET / 4);
    let (full, _) = deepest_ok(1024 * 1024, STACK_BUDGET);
    assert!(quarter < full / 3, "{quarter} vs {full}");
    assert!(log.contains(&format!("over {} stack units", STACK_BUDGET / 4)), "{log}");
}

#[test]
fn a_genesis_stack_budget_outside_the_engines_range_is_refused() {
    for (budget, says) in [(STACK_BUDGET + 1, "over the engine's"), (16, "no module could call")] {
        let Err(err) = Chain::try_new(json!({ "limits": { "stack_budget": budget } })) else {
            panic!("refused")
        };
        assert!(err.contains("limits.stack_budget") && err.contains(says), "{err}");
    }
}
