//! Randomized sweep of the sampling engine: 1,000 seeds of small networks with up to 20 % Byzantine nodes of
//! random sampling behaviours, random latency and loss. Safety must hold in every run.

use cairn_sim::{Behaviour, Latency, SimConfig, Snow, run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BEHAVIOURS: [Behaviour; 4] =
    [Behaviour::Silent, Behaviour::Balance, Behaviour::Random, Behaviour::Conflict];

fn config(seed: u64) -> SimConfig {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes = rng.gen_range(4..=10);
    let faulty = rng.gen_range(0..=nodes / 5);
    let byzantine = (0..faulty).map(|i| (i, BEHAVIOURS[rng.gen_range(0..BEHAVIOURS.len())])).collect();
    let lo = rng.gen_range(1..60);
    SimConfig {
        nodes,
        latency: Latency::Uniform(lo, lo + rng.gen_range(0..120)),
        loss: if rng.gen_bool(0.7) { 0.0 } else { rng.gen_range(0.0..0.05) },
        byzantine,
        decisions: 2,
        max_time: 30_000,
        seed,
        ..SimConfig::default()
    }
}

fn sweep(seeds: std::ops::Range<u64>) {
    let snow = Snow::default();
    let mut stuck = 0;
    for seed in seeds.clone() {
        let cfg = config(seed);
        let r = run(&snow, &cfg, &mut |_| {}).expect("valid config");
        assert_eq!(r.safety_violations, 0, "seed {seed}: {cfg:?}\n{r:#?}");
        assert_eq!(r.evidence_against_honest, 0, "seed {seed}");
        if r.decided < cfg.decisions {
            stuck += 1;
        }
    }
    // Lossy links can delay a run past its time limit; almost all must still decide.
    assert!(stuck * 50 <= seeds.count(), "{stuck} runs did not decide");
}

#[test]
fn thousand_seeds_are_safe() {
    sweep(0..1_000);
}

/// `cargo test --release -p cairn-sim --test snow_sweep -- --ignored`.
#[test]
#[ignore]
fn ten_thousand_more_seeds() {
    sweep(1_000..11_000);
}
