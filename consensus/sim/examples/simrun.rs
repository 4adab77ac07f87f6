//! A minimal runner for benchmarks and profiling without building the whole `cairn` CLI:
//! `cargo run --release -p cairn-sim --example simrun -- NODES LATENCY LOSS BYZANTINE BEHAVIOUR DECISIONS SEED
//! [LEADER_TIMEOUT] [COSTS] [BLOCK_BYTES]` prints the same JSON as `cairn sim --json` and the wall time on stderr.
//! COSTS is `on` (default: `Costs::default()`, measured ed25519 figures) or `off` (`Costs::free()`).

use cairn_sim::{Bft, Costs, SimConfig, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let mut costs = if get(8, "on") == "off" { Costs::free() } else { Costs::default() };
    costs.block_bytes = get(9, "0").parse()?;
    let cfg = SimConfig {
        nodes: get(0, "7").parse()?,
        latency: get(1, "50ms").parse()?,
        loss: get(2, "0").parse()?,
        decisions: get(5, "20").parse()?,
        seed: get(6, "1").parse()?,
        leader_timeout: get(7, "500").parse()?,
        costs,
        ..SimConfig::default()
    }
    .with_byzantine(get(3, "0").parse()?, get(4, "silent").parse()?);
    let t = std::time::Instant::now();
    let report = run(&Bft, &cfg, &mut |_| {})?;
    eprintln!("wall time: {:.2} s", t.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
