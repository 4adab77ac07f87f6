//! Cold start: getting bank.wasm ready to instantiate by compiling it vs loading it from the on-disk cache, and
//! the cost of one instantiation after that.
//!
//! `cargo run -p cairn-execution --release --example cold_start`

use std::time::Instant;

use cairn_execution::ModuleCache;
use cairn_execution::cache::CacheHit;
use cairn_primitives::Hash;

fn main() -> anyhow::Result<()> {
    let code = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/bank.wasm"))?;
    let id = Hash::digest(&code);
    let dir = tempfile::tempdir()?;
    let runs = 5;
    let (mut compile, mut disk) = (0.0, 0.0);
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(dir.path());
        let cache = ModuleCache::new(Some(dir.path()), 4, 512 * 1024)?;
        let t = Instant::now();
        let (_, hit) = cache.get(&id, || Ok(code.clone()))?;
        compile += t.elapsed().as_secs_f64();
        anyhow::ensure!(hit == CacheHit::Compiled);
        // A new process: a fresh engine and an empty memory cache over the same directory.
        let cache = ModuleCache::new(Some(dir.path()), 4, 512 * 1024)?;
        let t = Instant::now();
        let (_, hit) =
            cache.get(&id, || Err(cairn_execution::HostError::Config("must not recompile".into())))?;
        disk += t.elapsed().as_secs_f64();
        anyhow::ensure!(hit == CacheHit::Disk);
    }
    println!(
        "{}",
        serde_json::json!({
            "bench": "cold_start",
            "module": "bank.wasm",
            "bytes": code.len(),
            "compile_ms": (compile / f64::from(runs) * 1e4).round() / 10.0,
            "load_from_disk_cache_ms": (disk / f64::from(runs) * 1e4).round() / 10.0,
            "speedup": (compile / disk * 10.0).round() / 10.0,
        })
    );
    Ok(())
}
