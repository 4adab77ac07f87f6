//! Measures what the simulator's `Costs::default()` charges for signatures: `cargo run --release -p cairn-sim
//! --example ed25519_cost` prints microseconds per ed25519 sign and verify of a vote on this machine, as CPU
//! time of this process (from /proc/self/stat, so other load on a shared box does not inflate it).

use std::time::Instant;

use cairn_consensus::{Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, Keypair, Purpose};

/// User + system CPU time of this process in seconds (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the state field.
    (f.get(10).copied().unwrap_or(0.0) + f.get(11).copied().unwrap_or(0.0)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chain: ChainId = "bench".parse()?;
    let key = Keypair::derived("bench", 0);
    let vote = Vote { kind: VoteKind::Notarize, height: Height(1), view: 0, block: Hash::digest(b"b") };
    let n = 40_000u32;
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut sig = vote.sign(&chain, &key);
    for i in 0..n {
        let v = Vote { view: u64::from(i), ..vote };
        sig = v.sign(&chain, &key);
    }
    let sign_wall = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let sign_us = (cpu_seconds() - c) * 1e6 / f64::from(n);
    let last = Vote { view: u64::from(n - 1), ..vote };
    let (t, c) = (Instant::now(), cpu_seconds());
    let mut ok = 0u32;
    for _ in 0..n {
        ok += u32::from(key.public().verify(&chain, Purpose::Vote, &last.signing_bytes(), &sig).is_ok());
    }
    let verify_wall = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    let verify_us = (cpu_seconds() - c) * 1e6 / f64::from(n);
    assert_eq!(ok, n);
    println!(
        "{{\"sign_us_cpu\": {sign_us:.1}, \"verify_us_cpu\": {verify_us:.1}, \"sign_us_wall\": {sign_wall:.1}, \
         \"verify_us_wall\": {verify_wall:.1}}}"
    );
    Ok(())
}
