//! Randomized sweep: 1,000 seeds of small networks with up to f Byzantine nodes of random behaviours, random
//! latency and loss. Safety must hold in every run; with at most f faulty nodes every run must also decide.

use cairn_sim::{Behaviour, Bft, Latency, SimConfig, run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config(seed: u64) -> SimConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes = rng.gen_range(4..=10);
    let f = (nodes - 1) / 3;
    let faulty = rng.gen_range(0..=f);
    let byzantine =
        (0..faulty).map(|i| (i, Behaviour::ALL_BFT[rng.gen_range(0..Behaviour::ALL_BFT.len())])).collect();
    let lo = rng.gen_range(1..60);
    let latency = if rng.gen_bool(0.5) {
        Latency::Constant(lo)
    } else {
        Latency::Uniform(lo, lo + rng.gen_range(0..120))
    };
    SimConfig {
        nodes,
        latency,
        jitter: rng.gen_range(0..20),
        loss: if rng.gen_bool(0.5) { 0.0 } else { rng.gen_range(0.0..0.15) },
        byzantine,
        decisions: 3,
        max_time: 60_000,
        seed,
        leader_timeout: rng.gen_range(200..800),
        ..SimConfig::default()
    }
}

fn sweep(seeds: std::ops::Range<u64>) {
    let mut stuck = Vec::new();
    for seed in seeds {
        let cfg = config(seed);
        let r = run(&Bft, &cfg, &mut |_| {}).expect("valid config");
        assert_eq!(r.safety_violations, 0, "seed {seed}: {cfg:?}\n{r:#?}");
        assert_eq!(r.evidence_against_honest, 0, "seed {seed}: {cfg:?}");
        if r.decided < cfg.decisions {
            stuck.push(seed);
        }
    }
    assert!(stuck.is_empty(), "seeds that did not decide: {stuck:?}");
}

#[test]
fn thousand_seeds_are_safe_and_live() {
    sweep(0..1_000);
}

/// `cargo test --release -p cairn-sim --test sweep -- --ignored` (about a minute).
#[test]
#[ignore]
fn twenty_thousand_more_seeds() {
    sweep(1_000..21_000);
}

#[test]
#[ignore]
fn dbg_seed() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let cfg = config(seed);
    let r = run(&Bft, &cfg, &mut |_| {}).expect("valid config");
    eprintln!("{cfg:?}\n{r:#?}");
}
