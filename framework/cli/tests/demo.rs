//! End to end: `cairn demo --json` runs a 4-validator localnet of the `small` template (ExecApp, Wasm bank, PoA),
//! sends signed transfers, verifies balances and exits 0 with the promised JSON; `cairn new` makes a directory
//! that starts with one command.

use std::process::Command;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

#[test]
fn demo_finalizes_verified_transfers_and_cleans_up() {
    let out = Command::new(CAIRN).args(["demo", "--txs", "300", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("demo --json prints one JSON object");
    assert_eq!(v["txs"], 300, "{v}");
    assert_eq!(v["validators"], 4);
    assert_eq!(v["template"], "small");
    assert!(v["heights"]["end"].as_u64().unwrap() > v["heights"]["start"].as_u64().unwrap(), "{v}");
    assert!(v["tx_per_s"].as_f64().unwrap() > 0.0);
    for q in ["p50", "p95", "p99"] {
        let ms = v["finality_ms"][q].as_f64().unwrap();
        assert!(ms > 0.0 && ms < 60_000.0, "finality_ms.{q} = {ms}");
    }
    assert_eq!(v["verified"]["ok"], true);
    assert_eq!(v["verified"]["sum_before"], v["verified"]["sum_after"]);
    assert!(v["verified"]["moved"].as_u64().unwrap() > 0, "{v}");
    // Progress went to stderr, and the demo's temporary chain is gone.
    assert!(stderr.contains("finalized"), "{stderr}");
    let dir =
        stderr.lines().find_map(|l| l.split("chain directory ").nth(1)).expect("demo names its directory");
    assert!(!std::path::Path::new(dir.trim()).exists(), "demo left {dir} behind");
}

#[test]
fn new_writes_a_chain_that_starts_with_one_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mychain");
    let out = Command::new(CAIRN).args(["new", "--template", "small"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("start.sh").exists());
    for i in 0..4 {
        assert!(dir.join(format!("node{i}/config/config.toml")).exists());
        assert!(dir.join(format!("node{i}/config/node_key.json")).exists());
    }
    // Not twice into the same directory.
    let again = Command::new(CAIRN).args(["new"]).arg(&dir).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // An unknown template is named.
    let bad =
        Command::new(CAIRN).args(["new", "--template", "huge"]).arg(tmp.path().join("x")).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("huge"));
}
