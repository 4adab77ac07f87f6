//! Host overhead: an `execute` doing one storage write through the full host (fresh store, instance, fuel, the
//! `storage_set` import writing into the overlay) vs a bare wasmtime call of the same function whose import does
//! nothing — both instantiate a fresh instance per call, as the host does per tx.
//!
//! `cargo run -p cairn-execution --release --example host_overhead`

use std::sync::Arc;
use std::time::Instant;

use cairn_execution::Limits;
use cairn_execution::backend::{Batch, MemBackend, Overlay};
use cairn_execution::cache::{ModuleCache, engine_config};
use cairn_execution::instance::BlockEnv;
use cairn_execution::session::{Host, Session};
use cairn_primitives::Address;
use wasmtime::{Engine, Linker, Module, Store};

const WAT: &str = r#"(module
  (import "cairn_v1" "storage_set" (func $set (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "counter!")
  (func (export "cairn_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "instantiate") (param i32 i32) (result i32) i32.const 0)
  (func (export "execute") (param $p i32) (param $l i32) (result i32)
    (call $set (i32.const 0) (i32.const 8) (local.get $p) (local.get $l))
    i32.const 0)
  (func (export "query") (param i32 i32) (result i32) i32.const 0))"#;

const N: u32 = 50_000;

fn main() -> wasmtime::Result<()> {
    let code = wat::parse_str(WAT).map_err(|e| wasmtime::Error::msg(e.to_string()))?;

    // Bare wasmtime: same engine config (fuel on), trivial import, fresh store + instance per call.
    let engine = Engine::new(&engine_config(512 * 1024))?;
    let module = Module::new(&engine, &code)?;
    let mut linker: Linker<()> = Linker::new(&engine);
    linker.func_wrap("cairn_v1", "storage_set", |_: i32, _: i32, _: i32, _: i32| {})?;
    let pre = linker.instantiate_pre(&module)?;
    let input = 42u64.to_le_bytes();
    let bare = |n: u32| -> wasmtime::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let mut store = Store::new(&engine, ());
            store.set_fuel(1_000_000)?;
            let inst = pre.instantiate(&mut store)?;
            let mem = inst.get_memory(&mut store, "memory").ok_or_else(|| wasmtime::Error::msg("memory"))?;
            let alloc = inst.get_typed_func::<i32, i32>(&mut store, "cairn_alloc")?;
            let exec = inst.get_typed_func::<(i32, i32), i32>(&mut store, "execute")?;
            let p = alloc.call(&mut store, 8)?;
            mem.write(&mut store, p as usize, &input).map_err(|e| wasmtime::Error::msg(e.to_string()))?;
            exec.call(&mut store, (p, 8))?;
        }
        Ok(t.elapsed().as_secs_f64() * 1e9 / f64::from(n))
    };

    // The host: Session per call (store + HostState), registry lookup, cached InstancePre, the real import.
    let cache = ModuleCache::new(None, 8, 512 * 1024).map_err(|e| wasmtime::Error::msg(e.to_string()))?;
    let host = Host { cache: Arc::new(cache), base: Arc::new(MemBackend::new()), limits: Limits::default() };
    let block = BlockEnv { chain_id: "bench".into(), height: 1, time_ms: 0 };
    let creator = Address([1; 32]);
    let mut s = Session::new(&host, Overlay::new(Batch::new()), block.clone(), creator, u64::MAX / 4);
    let id = s.store_code(&code).map_err(|e| wasmtime::Error::msg(e.to_string()))?;
    let addr =
        s.instantiate(&creator, &id, "bench", None, &[]).map_err(|e| wasmtime::Error::msg(e.to_string()))?;
    let mut overlay = s.finish();
    let mut hosted = |n: u32| -> wasmtime::Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let mut s = Session::new(&host, std::mem::take(&mut overlay), block.clone(), creator, 1_000_000);
            s.execute(&creator, &addr, &input).map_err(|e| wasmtime::Error::msg(e.to_string()))?;
            overlay = s.finish();
        }
        Ok(t.elapsed().as_secs_f64() * 1e9 / f64::from(n))
    };

    // Warm up, then interleave to share any frequency drift.
    bare(2_000)?;
    hosted(2_000)?;
    let (mut b, mut h) = (0.0, 0.0);
    for _ in 0..3 {
        b += bare(N)?;
        h += hosted(N)?;
    }
    let (b, h) = (b / 3.0, h / 3.0);
    println!(
        "{}",
        serde_json::json!({
            "bench": "host_overhead",
            "calls": N * 3,
            "bare_wasmtime_ns_per_call": b.round(),
            "host_execute_ns_per_call": h.round(),
            "ratio": (h / b * 100.0).round() / 100.0,
            "target_ratio": 2.0,
        })
    );
    Ok(())
}
