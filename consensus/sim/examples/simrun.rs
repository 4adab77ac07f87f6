//! A minimal runner for profiling the simulator without building the whole `cairn` CLI:
//! `cargo run --release -p cairn-sim --example simrun -- NODES LATENCY LOSS BYZANTINE BEHAVIOUR DECISIONS SEED
//! [LEADER_TIMEOUT]` prints the same JSON as `cairn sim --json` and the wall time on stderr.

use cairn_sim::{Bft, SimConfig, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let cfg = SimConfig {
        nodes: get(0, "7").parse()?,
        latency: get(1, "50ms").parse()?,
        loss: get(2, "0").parse()?,
        decisions: get(5, "20").parse()?,
        seed: get(6, "1").parse()?,
        leader_timeout: get(7, "500").parse()?,
        ..SimConfig::default()
    }
    .with_byzantine(get(3, "0").parse()?, get(4, "silent").parse()?);
    let t = std::time::Instant::now();
    let report = run(&Bft, &cfg, &mut |_| {})?;
    eprintln!("wall time: {:.2} s", t.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
