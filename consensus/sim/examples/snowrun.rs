//! Runs the snow engine without building the `cairn` CLI (release builds for the scale benchmarks):
//! `cargo run --release -p cairn-sim --example snowrun -- NODES LATENCY BYZANTINE BEHAVIOUR DECISIONS SEED [CHURN]
//! [CONCURRENT]` prints the same JSON as `cairn sim --engine snow --json` and the wall time on stderr.
//! CONCURRENT overrides `Params::concurrent` (polls in flight) for the latency/messages trade-off measurements.

use cairn_sim::{SimConfig, Snow, churn, run};
use cairn_snow::Params;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let get = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let nodes: usize = get(0, "7").parse()?;
    let byzantine: usize = get(2, "0").parse()?;
    let seed: u64 = get(5, "1").parse()?;
    let churn_fraction: f64 = get(6, "0").parse()?;
    let mut cfg = SimConfig {
        nodes,
        latency: get(1, "50ms..150ms").parse()?,
        decisions: get(4, "20").parse()?,
        seed,
        ..SimConfig::default()
    }
    .with_byzantine(byzantine, get(3, "silent").parse()?);
    let skip: Vec<usize> = (0..byzantine).collect();
    cfg.crashes = churn(nodes, churn_fraction, seed, &skip, 1_000, 10_000, 2_000);
    let t = std::time::Instant::now();
    let mut params = Params::default();
    if let Some(c) = a.get(7) {
        params.concurrent = c.parse()?;
    }
    let report = run(&Snow::new(params), &cfg, &mut |_| {})?;
    eprintln!("wall time: {:.2} s", t.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
