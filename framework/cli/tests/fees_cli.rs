//! Fees and quotas through the `cairn` binary against a real 1-validator `small` chain: `cairn query params`,
//! `cairn query quota`, and `cairn tx` filling price and fuel from the chain (overridable with --price/--fuel).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cairn_node::NodeConfig;
use cairn_node::config::CONFIG_FILE;
use cairn_primitives::Keypair;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn cairn(args: &[&str]) -> Output {
    Command::new(CAIRN).args(args).output().expect("run cairn")
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "cairn failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", out.stdout))
}

/// Starts a fresh one-validator chain and waits until it answers queries at height ≥ 1; returns its gRPC URL.
fn start(dir: &Path) -> (Running, String) {
    let chain = dir.join("chain");
    let out = Command::new(CAIRN).args(["new", "--validators", "1"]).arg(&chain).output().expect("new");
    assert!(out.status.success(), "cairn new: {}", String::from_utf8_lossy(&out.stderr));
    let home = chain.join("node0");
    let config = NodeConfig::load(&home.join(CONFIG_FILE)).expect("config");
    let log = std::fs::File::create(dir.join("node.log")).expect("log");
    let child = Command::new(CAIRN)
        .args(["start", "--home"])
        .arg(&home)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start");
    let running = Running(child);
    let url = format!("http://{}", config.api.grpc);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cairn(&["query", "block", "1", "--node", &url]).status.success() {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (running, url)
}

fn balance(url: &str, who: &str) -> u128 {
    json_of(&cairn(&["query", "balance", who, "--node", url, "--json"]))["balance"]
        .as_str()
        .expect("balance")
        .parse()
        .expect("decimal")
}

#[test]
fn tx_fills_price_and_fuel_from_the_chain_and_queries_show_params_and_quota() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_node, url) = start(dir.path());
    let user = |i: u64| Keypair::derived("cairn-small/user", i).public().to_hex();

    let params = json_of(&cairn(&["query", "params", "--node", &url, "--json"]));
    assert_eq!(params["fees"]["min_price"], "1", "{params}");
    assert_eq!(params["fees"]["deposit_per_byte"], "10", "{params}");
    assert_eq!(params["fees"]["quota_window"], 3600, "{params}");
    assert_eq!(params["fees"]["destination"], "burn", "{params}");

    let quota = |who: &str| json_of(&cairn(&["query", "quota", who, "--node", &url, "--json"]));
    assert_eq!(quota(&user(0))["fuel"], 10_000_000_000_000u64);
    assert_eq!(quota(&user(100))["fuel"], 0, "only the devnet users have a quota");

    // Within its quota a devnet user pays nothing: price 0 is chosen for it.
    let before = balance(&url, &user(0));
    let to = user(1);
    let out = cairn(&["tx", "transfer", "--user", "0", "--to", &to, "--amount", "7", "--node", &url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(balance(&url, &user(0)), before - 7);
    assert!(quota(&user(0))["fuel"].as_u64().expect("u64") < 10_000_000_000_000);

    // With --price it pays: fuel used × 1 is burned, the rest of --fuel × 1 comes back.
    let out = cairn(&[
        "tx", "transfer", "--user", "0", "--to", &to, "--amount", "7", "--price", "1", "--fuel", "3000000",
        "--node", &url,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paid = before - 14 - balance(&url, &user(0));
    assert!(paid > 0 && paid < 3_000_000, "fee {paid}");

    // A key with neither tokens nor quota is refused, and told why.
    let out = cairn(&["tx", "transfer", "--user", "100", "--to", &to, "--amount", "1", "--node", &url]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has 0, needs 20000000"), "{err}");
}
