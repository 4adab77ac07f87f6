//! Crash safety: a child process commits large deterministic batches in a loop and is killed with SIGKILL at
//! random moments; after each kill the store must be exactly at some committed version — never a mix.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_primitives::Height;
use cairn_state::{State, StateConfig, compute_root, verify_proof};

/// Set (to the store path) in the child: `writer_child_process` then commits forever.
const WRITER_ENV: &str = "CAIRN_STATE_CRASH_WRITER";
const KEY_SPACE: u64 = 4_000;
const CHANGES_PER_VERSION: u64 = 1_500;
const CONFIG: StateConfig = StateConfig { prune_window: 4, fsync: true };

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The batch of version `v`: a deterministic function of `v` alone, so the parent can recompute any version.
fn batch_for(v: u64) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut rng = Rng(v.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut b = BTreeMap::new();
    for _ in 0..CHANGES_PER_VERSION {
        let k = format!("k{}", rng.next() % KEY_SPACE).into_bytes();
        let r = rng.next();
        let value = if r.is_multiple_of(7) {
            None
        } else {
            // 8..~1 KB, tagged with the version so a value from the wrong version is detected.
            let len = 8 + (r % 1000) as usize;
            let mut val = v.to_le_bytes().to_vec();
            val.resize(len, (r >> 8) as u8);
            Some(val)
        };
        b.insert(k, value);
    }
    b
}

fn apply(model: &mut Map, v: u64) {
    for (k, val) in batch_for(v) {
        match val {
            Some(val) => model.insert(k, val),
            None => model.remove(&k),
        };
    }
}

fn entries(s: &State) -> Map {
    let mut out = Map::new();
    let mut start = Vec::new();
    while let Some((k, v)) = s.next_entry(&start, None).unwrap() {
        start = k.clone();
        start.push(0);
        out.insert(k, v);
    }
    out
}

/// Not a test of its own: the body of the child process. Without `WRITER_ENV` it returns at once.
#[test]
fn writer_child_process() {
    let Ok(path) = std::env::var(WRITER_ENV) else { return };
    let mut s = State::open(Path::new(&path), CONFIG).unwrap();
    let mut out = std::io::stdout().lock();
    loop {
        let h = s.version().next();
        let _ = writeln!(out, "stage {}", h.0).and_then(|_| out.flush());
        s.stage(h, batch_for(h.0)).unwrap();
        let _ = writeln!(out, "commit {}", h.0).and_then(|_| out.flush());
        s.commit().unwrap();
        let _ = writeln!(out, "done {}", h.0).and_then(|_| out.flush());
    }
}

#[test]
fn sigkill_during_commit_leaves_a_whole_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut model = Map::new();
    let mut model_version = 0u64;
    let mut kills_mid_commit = 0;
    let rounds = 15;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", "writer_child_process", "--nocapture", "--test-threads=1"])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + rng.next() % 500));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let mut log = String::new();
        child.stdout.take().unwrap().read_to_string(&mut log).unwrap();
        let last_line = log
            .lines()
            .rev()
            .find(|l| l.starts_with("stage ") || l.starts_with("commit ") || l.starts_with("done "));
        let last_done =
            log.lines().filter_map(|l| l.strip_prefix("done ")).filter_map(|n| n.parse::<u64>().ok()).max();
        if last_line.is_some_and(|l| l.starts_with("commit ")) {
            kills_mid_commit += 1;
        }

        let s = State::open(&path, CONFIG).unwrap();
        let v = s.version().0;
        assert!(v >= model_version, "round {round}: store went back from {model_version} to {v}");
        if let Some(done) = last_done {
            // fsync is on: a commit that returned is durable; one more may have landed before the kill.
            assert!(v == done || v == done + 1, "round {round}: child finished {done}, store is at {v}");
        }
        while model_version < v {
            model_version += 1;
            apply(&mut model, model_version);
        }
        assert_eq!(
            s.root(),
            compute_root(model.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))),
            "round {round}"
        );
        let got = entries(&s);
        assert_eq!(got.len(), model.len(), "round {round}: entry count at version {v}");
        assert!(got == model, "round {round}: contents differ from version {v}");
        // The tree and the history agree with the latest table too.
        for i in (0..KEY_SPACE).step_by(97) {
            let k = format!("k{i}").into_bytes();
            let (val, proof) = s.prove(&k, Height(v)).unwrap();
            assert_eq!(val.as_ref(), model.get(&k), "round {round}: proof value of {i}");
            verify_proof(&s.root(), &k, val.as_deref(), &proof).unwrap();
        }
    }
    assert!(model_version >= 5, "the writer made too little progress to test anything: {model_version}");
    assert!(kills_mid_commit >= 1, "no kill landed inside commit() in {rounds} rounds");
    eprintln!("{rounds} kills, {kills_mid_commit} inside commit(), final version {model_version}");
}
