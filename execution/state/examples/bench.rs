//! Stage and commit throughput, proof generation and verification.
//!
//! `cargo run -p cairn-state --release --example bench [-- --keys N --block W --blocks B --dir DIR]`
//!
//! Loads N keys (default 1,000,000; loading is not measured), then stages and commits B blocks (default 5) of W
//! writes each (default 30,000: ~10,000 bank transfers), fsync on: 90% updates of existing keys, 10% new keys.
//! Prints writes/s for stage and commit, and proofs/s generated and verified.

use std::collections::BTreeMap;
use std::time::Instant;

use cairn_primitives::Height;
use cairn_state::{State, StateConfig, verify_proof};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn key(i: u64) -> Vec<u8> {
    // A bank-like key: module prefix, "balance/", a 32-byte address.
    let mut k = b"bank/balance/".to_vec();
    k.extend_from_slice(cairn_primitives::Hash::digest(&i.to_le_bytes()).as_bytes());
    k
}

/// CPU seconds this process has used (user + system), from /proc; the box is shared, so wall time alone misleads.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(") ").map_or(vec![], |(_, rest)| rest.split(' ').collect());
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name; 100 ticks/s.
    (ticks(11) + ticks(12)) / 100.0
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n_keys: u64 = arg(&args, "--keys").map_or(Ok(1_000_000), |s| s.parse())?;
    let block: u64 = arg(&args, "--block").map_or(Ok(30_000), |s| s.parse())?;
    let blocks: u64 = arg(&args, "--blocks").map_or(Ok(5), |s| s.parse())?;
    let dir = match arg(&args, "--dir") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let path = dir.path().join("bench.redb");

    // Load without fsync (not measured).
    let t = Instant::now();
    let mut state = State::open(&path, StateConfig { prune_window: 10, fsync: false })?;
    let load_batch = 100_000;
    let mut next_key = 0u64;
    while next_key < n_keys {
        let end = (next_key + load_batch).min(n_keys);
        let changes: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            (next_key..end).map(|i| (key(i), Some(1_000_000u128.to_le_bytes().to_vec()))).collect();
        state.stage(state.version().next(), changes)?;
        state.commit()?;
        next_key = end;
    }
    drop(state);
    println!("loaded {n_keys} keys in {:.1}s", t.elapsed().as_secs_f64());

    let mut state = State::open(&path, StateConfig { prune_window: 10, fsync: true })?;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut stage_s, mut commit_s, mut writes) = (0.0f64, 0.0f64, 0u64);
    let (mut stage_cpu, mut commit_cpu) = (0.0f64, 0.0f64);
    for b in 0..blocks {
        let mut changes = BTreeMap::new();
        while (changes.len() as u64) < block {
            let k = if rng.next().is_multiple_of(10) {
                next_key += 1;
                key(next_key - 1)
            } else {
                key(rng.next() % n_keys.max(1))
            };
            changes.insert(k, Some((rng.next() as u128).to_le_bytes().to_vec()));
        }
        let n = changes.len() as u64;
        let (t, c) = (Instant::now(), cpu_seconds());
        state.stage(state.version().next(), changes)?;
        let (st, sc) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        let (t, c) = (Instant::now(), cpu_seconds());
        state.commit()?;
        let (ct, cc) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
        println!(
            "block {b}: {n} writes, stage {:.0} ms (cpu {:.0} ms, {:.0} writes/s), commit {:.0} ms (cpu {:.0} ms, {:.0} writes/s)",
            st * 1e3,
            sc * 1e3,
            n as f64 / st,
            ct * 1e3,
            cc * 1e3,
            n as f64 / ct
        );
        stage_cpu += sc;
        commit_cpu += cc;
        stage_s += st;
        commit_s += ct;
        writes += n;
    }
    println!(
        "stage: {:.0} writes/s, commit (fsync on): {:.0} writes/s, stage+commit: {:.0} writes/s (wall)",
        writes as f64 / stage_s,
        writes as f64 / commit_s,
        writes as f64 / (stage_s + commit_s)
    );
    println!(
        "stage: {:.0} writes/cpu-s, commit: {:.0} writes/cpu-s (cpu time of this process)",
        writes as f64 / stage_cpu.max(1e-9),
        writes as f64 / commit_cpu.max(1e-9)
    );

    let n_gets = 100_000u64;
    let get_keys: Vec<Vec<u8>> = (0..n_gets).map(|_| key(rng.next() % next_key.max(1))).collect();
    let t = Instant::now();
    let mut found = 0u64;
    for k in &get_keys {
        found += u64::from(state.get(k)?.is_some());
    }
    let get_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for k in get_keys.iter().take(10_000) {
        state.get_at(k, Height(state.version().0.saturating_sub(1)))?;
    }
    let get_at_s = t.elapsed().as_secs_f64();
    println!(
        "get: {:.0}/s (latest, {found} of {n_gets} found), get_at previous version: {:.0}/s",
        n_gets as f64 / get_s,
        10_000.0 / get_at_s
    );

    let h = state.version();
    let root = state.root_at(h)?;
    let n_proofs = 20_000u64;
    let keys: Vec<Vec<u8>> = (0..n_proofs).map(|_| key(rng.next() % next_key.max(1))).collect();
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(keys.len());
    for k in &keys {
        proofs.push(state.prove(k, h)?);
    }
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (k, (v, p)) in keys.iter().zip(&proofs) {
        verify_proof(&root, k, v.as_deref(), p)?;
    }
    let ver_s = t.elapsed().as_secs_f64();
    let avg_depth = proofs.iter().map(|(_, p)| p.siblings.len()).sum::<usize>() as f64 / proofs.len() as f64;
    println!(
        "proofs: {:.0} generated/s, {:.0} verified/s (mean depth {avg_depth:.1}, {} bytes each)",
        n_proofs as f64 / gen_s,
        n_proofs as f64 / ver_s,
        proofs.first().map_or(0, |(_, p)| p.to_bytes().len())
    );
    Ok(())
}
