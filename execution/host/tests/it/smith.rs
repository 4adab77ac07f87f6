//! Property: random valid modules (wasm-smith), shaped like cairn modules, uploaded, instantiated and called
//! through ExecApp on redb, never make FinalizeBlock fail, and two independent hosts agree on every result.

use arbitrary::Unstructured;
use cairn_primitives::{Hash, Message};
use proptest::prelude::*;
use serde_json::json;

use crate::common::*;
use crate::corpus::Twin;

/// Imports a module may use (wasm-smith picks a subset) and the exports it must have.
fn shape() -> (Vec<u8>, Vec<u8>) {
    let imports = wat::parse_str(
        r#"(module
            (import "cairn_v1" "storage_get" (func (param i32 i32) (result i64)))
            (import "cairn_v1" "storage_set" (func (param i32 i32 i32 i32)))
            (import "cairn_v1" "storage_remove" (func (param i32 i32)))
            (import "cairn_v1" "storage_next" (func (param i32 i32 i32 i32) (result i64)))
            (import "cairn_v1" "read_return" (func (param i32)))
            (import "cairn_v1" "emit_event" (func (param i32 i32)))
            (import "cairn_v1" "set_output" (func (param i32 i32)))
            (import "cairn_v1" "abort" (func (param i32 i32)))
            (import "cairn_v1" "blake3" (func (param i32 i32 i32))))"#,
    )
    .expect("imports parse");
    let exports = wat::parse_str(
        r#"(module
            (memory (export "memory") 1)
            (func (export "cairn_alloc") (param i32) (result i32) unreachable)
            (func (export "instantiate") (param i32 i32) (result i32) unreachable)
            (func (export "execute") (param i32 i32) (result i32) unreachable)
            (func (export "query") (param i32 i32) (result i32) unreachable))"#,
    )
    .expect("exports parse");
    (imports, exports)
}

fn module(seed: &[u8]) -> Option<Vec<u8>> {
    let (imports, exports) = shape();
    let mut config = wasm_smith::Config {
        available_imports: Some(imports),
        exports: Some(exports),
        max_memories: 0,
        min_memories: 0,
        max_memory32_bytes: 16 * 65536,
        max_tables: 2,
        max_table_elements: 20_000,
        max_funcs: 40,
        max_instructions: 200,
        // Some of these are valid wasm the chain refuses: uploads must then fail alone, naming why.
        simd_enabled: seed.first().is_some_and(|b| b % 7 == 0),
        reference_types_enabled: seed.first().is_some_and(|b| b % 3 == 0),
        gc_enabled: seed.first().is_some_and(|b| b % 5 == 0),
        exceptions_enabled: false,
        tail_call_enabled: false,
        extended_const_enabled: false,
        threads_enabled: false,
        relaxed_simd_enabled: false,
        ..wasm_smith::Config::default()
    };
    config.memory64_enabled = false;
    let mut u = Unstructured::new(seed);
    wasm_smith::Module::new(config, &mut u).ok().map(|m| m.to_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_modules_never_fail_a_block_and_are_deterministic(seed in proptest::collection::vec(any::<u8>(), 64..2048)) {
        let Some(code) = module(&seed) else { return Ok(()) };
        let mut twin = Twin::new(json!({}));
        let k = key(1);
        let up = twin.send(&k, vec![Message::Upload { code: code.clone() }]);
        if !up.is_ok() {
            // A refusal is a tx result with a reason, never a block failure.
            prop_assert!(!up.log.is_empty());
            return Ok(());
        }
        let inst = Message::Instantiate { code_id: Hash::digest(&code), label: "smith".into(), admin: None, msg: seed[..8].to_vec() };
        let r = twin.send(&k, vec![inst]);
        if r.is_ok() {
            let outs: Vec<Vec<u8>> = borsh::from_slice(&r.data).expect("outputs");
            let addr = cairn_primitives::Address(outs[0].clone().try_into().expect("32 bytes"));
            for i in 0..3u8 {
                twin.send(&k, vec![Message::Execute { contract: addr, msg: vec![i; 16] }]);
            }
        }
    }
}

/// The property above must exercise modules the chain accepts, not only refusals: over a fixed set of seeds, some
/// modules upload, instantiate and run, on two hosts that agree on every block.
#[test]
fn fixed_seeds_upload_instantiate_and_run_on_two_hosts() {
    let mut twin = Twin::new(json!({}));
    let k = key(9);
    let (mut uploaded, mut refused, mut instantiated) = (0, 0, 0);
    for i in 0..40u64 {
        let mut seed = vec![0u8; 1024];
        blake3::Hasher::new().update(&i.to_le_bytes()).finalize_xof().fill(&mut seed);
        seed[0] = 1; // neither SIMD nor GC: modules the chain should accept
        let Some(code) = module(&seed) else { continue };
        let up = twin.send(&k, vec![Message::Upload { code: code.clone() }]);
        if !up.is_ok() {
            refused += 1;
            continue;
        }
        uploaded += 1;
        let label = format!("smith{i}");
        let inst = Message::Instantiate { code_id: Hash::digest(&code), label, admin: None, msg: vec![7; 8] };
        let r = twin.send(&k, vec![inst]);
        // Random code mostly traps or returns non-zero: a failed tx, with a cause, never anything else.
        let allowed = [0, cairn_execution::codes::EXEC_FAILED, cairn_execution::codes::OUT_OF_FUEL];
        assert!(allowed.contains(&r.code), "code {}: {}", r.code, r.log);
        assert!(r.is_ok() || !r.log.is_empty());
        if r.is_ok() {
            instantiated += 1;
            let outs: Vec<Vec<u8>> = borsh::from_slice(&r.data).expect("outputs");
            let addr = cairn_primitives::Address(outs[0].clone().try_into().expect("32 bytes"));
            twin.send(&k, vec![Message::Execute { contract: addr, msg: vec![1; 16] }]);
        }
    }
    assert!(uploaded >= 10, "only {uploaded} of 40 random modules uploaded ({refused} refused)");
    eprintln!("{uploaded} uploaded, {refused} refused, {instantiated} instantiated");
}
