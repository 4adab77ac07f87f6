//! Bad input against a real node (the `cairn` binary, a 1-validator chain from the `small` template): each case
//! must be refused with an error that says what was wrong, and the node must keep running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_node::config::CONFIG_FILE;
use cairn_node::{Genesis, NodeConfig};
use cairn_primitives::{Address, ChainId, Keypair, Message, Tx, TxBody};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

/// A one-validator chain directory made by `cairn new`.
fn new_chain(dir: &Path) -> PathBuf {
    let chain = dir.join("chain");
    let out = Command::new(CAIRN).args(["new", "--validators", "1"]).arg(&chain).output().unwrap();
    assert!(out.status.success(), "cairn new failed: {}", String::from_utf8_lossy(&out.stderr));
    chain.join("node0")
}

fn config(home: &Path) -> NodeConfig {
    NodeConfig::load(&home.join(CONFIG_FILE)).unwrap()
}

/// `cairn start` that must fail: its exit code and stderr.
fn start_fails(home: &Path) -> String {
    let mut child = Command::new(CAIRN)
        .args(["start", "--home"])
        .arg(home)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            assert!(!status.success(), "cairn start should have failed; stderr: {err}");
            return err;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("cairn start kept running although it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Starts the node and waits for its first block.
fn start(home: &Path) -> (Running, SocketAddr) {
    start_with(home, &[])
}

/// [`start`] with extra `cairn start` flags.
fn start_with(home: &Path, flags: &[&str]) -> (Running, SocketAddr) {
    let log = std::fs::File::create(home.join("node.log")).unwrap();
    let child = Command::new(CAIRN)
        .args(["start", "--home"])
        .arg(home)
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let running = Running(child);
    let http = config(home).api.http;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok((200, body)) = http_request(http, "GET", "/status", b"")
            && serde_json::from_str::<serde_json::Value>(&body).unwrap()["height"].as_u64().unwrap_or(0) >= 1
        {
            return (running, http);
        }
        assert!(
            Instant::now() < deadline,
            "node did not finalize a block: {}",
            std::fs::read_to_string(home.join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http_request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(40)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

fn query_value(http: SocketAddr, path: &str) -> Vec<u8> {
    let (code, body) = http_request(http, "GET", &format!("/query?path={path}"), b"").unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    hex::decode(v["value"].as_str().unwrap()).unwrap()
}

/// A signed transfer from devnet user 0 to user 1, at the sender's next nonce.
fn transfer(http: SocketAddr) -> Tx {
    let chain: ChainId = "cairn-small".parse().unwrap();
    let from = Keypair::derived("cairn-small/user", 0);
    let to = Keypair::derived("cairn-small/user", 1);
    let bank = Address(query_value(http, "label/bank").try_into().unwrap());
    let nonce: u64 =
        borsh::from_slice(&query_value(http, &format!("nonce/{}", from.public().to_hex()))).unwrap();
    let msg = borsh::to_vec(&cairn_module_bank::msg::ExecuteMsg::Transfer { to: to.public().0, amount: 5 })
        .unwrap();
    let body = TxBody {
        chain_id: chain,
        sender: from.public(),
        nonce,
        fuel_limit: 5_000_000,
        price: 0,
        messages: vec![Message::Execute { contract: bank, msg }],
    };
    Tx::sign(body, &from)
}

#[test]
fn oversized_tx_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let (_node, http) = start(&home);
    let big = vec![0xAB; cairn_primitives::MAX_TX_BYTES + 1];
    let (code, body) = http_request(http, "POST", "/tx", &big).unwrap();
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("over the limit"), "{body}");
    // The node still serves.
    assert_eq!(http_request(http, "GET", "/status", b"").unwrap().0, 200);
}

#[test]
fn tx_with_bad_signature_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let (_node, http) = start(&home);
    let mut tx = transfer(http);
    tx.signature.0[10] ^= 1;
    let (code, body) = http_request(http, "POST", "/tx", hex::encode(tx.to_bytes()).as_bytes()).unwrap();
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("signature"), "{body}");
}

#[test]
fn replayed_tx_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let (_node, http) = start(&home);
    let tx = hex::encode(transfer(http).to_bytes());
    let (code, body) = http_request(http, "POST", "/tx?wait=commit", tx.as_bytes()).unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["height"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(v["result"]["code"], 0, "{body}");
    // The same bytes again: refused (already committed, or its nonce is used), never executed twice.
    let (code, body) = http_request(http, "POST", "/tx", tx.as_bytes()).unwrap();
    assert!(code == 409 || code == 422, "replay answered {code}: {body}");
    assert!(body.contains("already"), "{body}");
}

#[test]
fn broken_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let path = home.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).unwrap().replace("max_txs = 50000", "max_txs = \"lots\"");
    std::fs::write(&path, text).unwrap();
    let err = start_fails(&home);
    assert!(err.contains("mempool.max_txs"), "{err}");
}

#[test]
fn broken_genesis_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let path = NodeConfig::resolve(&home, &config(&home).genesis_file);
    let mut g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    g["validators"][0]["power"] = serde_json::json!("lots");
    std::fs::write(&path, g.to_string()).unwrap();
    let err = start_fails(&home);
    assert!(err.contains("validators[0].power"), "{err}");
    // And a genesis that is not JSON at all says where.
    std::fs::write(&path, "{\"chain_id\": ").unwrap();
    let err = start_fails(&home);
    assert!(err.contains("genesis") && err.contains("line"), "{err}");
    let _ = Genesis::load(&path).unwrap_err();
}

#[test]
fn port_in_use_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut c = config(&home);
    c.api.grpc = addr;
    std::fs::write(home.join(CONFIG_FILE), c.to_toml()).unwrap();
    let err = start_fails(&home);
    assert!(err.contains(&addr.to_string()), "{err}");
    assert!(err.contains("grpc"), "{err}");
}

#[test]
fn unreachable_app_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut c = config(&home);
    c.app.mode = cairn_node::AppMode::Grpc;
    c.app.address = format!("http://{closed}");
    std::fs::write(home.join(CONFIG_FILE), c.to_toml()).unwrap();
    let err = start_fails(&home);
    assert!(err.contains("cannot reach the application"), "{err}");
    assert!(err.contains(&closed.to_string()), "{err}");
}

/// `cairn … | head` closes stdout early: the CLI must end quietly, not panic with "failed printing to stdout".
#[test]
fn closed_stdout_is_not_a_panic() {
    for args in [&["version"][..], &["sim", "--nodes", "4", "--decisions", "3"][..]] {
        let mut child =
            Command::new(CAIRN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // the reader goes away before the first line is written
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "cairn {args:?} panicked on a closed stdout: {stderr}");
        assert!(out.status.success(), "cairn {args:?}: {:?} {stderr}", out.status);
    }
}

/// A WAL record that cannot be decoded must stop the start (skipping it could mean signing twice), naming the file.
#[test]
fn unreadable_wal_record_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    drop(start(&home)); // a few blocks, so the WAL has real records around the damaged one
    let wal_path = home.join("data/wal.redb");
    {
        let mut wal = cairn_store::Wal::open(&wal_path).unwrap();
        wal.append(cairn_primitives::Height(u64::MAX / 2), b"\xff\xff not a record").unwrap();
    }
    let err = start_fails(&home);
    assert!(err.contains("consensus WAL record"), "{err}");
    assert!(err.contains("wal.redb"), "the message names the file: {err}");
}

/// `unsafe-reset-all` removes blocks, WAL and app state, keeps key and config; the node restarts from genesis.
#[test]
fn unsafe_reset_all_keeps_key_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let key_before = std::fs::read(home.join(&config(&home).key_file)).unwrap();
    drop(start_with(&home, &["--log-format", "json"]));
    // --log-format json: every log line the node wrote is one JSON object.
    let log = std::fs::read_to_string(home.join("node.log")).unwrap();
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(home.join("data/blocks.redb").exists());

    let out = Command::new(CAIRN).args(["unsafe-reset-all", "--json", "--home"]).arg(&home).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed: Vec<&str> =
        report["removed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(removed.iter().any(|p| p.ends_with("blocks.redb")), "{removed:?}");
    assert!(removed.iter().any(|p| p.ends_with("wal.redb")), "{removed:?}");
    assert_eq!(std::fs::read_dir(home.join("data")).unwrap().count(), 0, "data/ is empty");
    assert_eq!(std::fs::read(home.join(&config(&home).key_file)).unwrap(), key_before, "key kept");
    assert!(home.join(CONFIG_FILE).exists());
    // It starts again from genesis.
    drop(start(&home));
}

/// A home that is not one is refused with a clear message, and nothing is deleted.
#[test]
fn unsafe_reset_all_refuses_a_non_home() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("precious.txt"), b"x").unwrap();
    let out = Command::new(CAIRN).args(["unsafe-reset-all", "--home"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a node home"));
    assert!(dir.path().join("precious.txt").exists());
}

/// A home from before the p2p key was split off (`key_file = "config/node_key.json"`, holding the validator key)
/// is migrated by `cairn start`: the node logs one warning saying what moved, signs as the same validator (its
/// one-validator chain goes on), and `cairn status` shows the validator key apart from a new p2p key.
#[test]
fn an_old_single_key_home_is_migrated_by_cairn_start() {
    let dir = tempfile::tempdir().unwrap();
    let home = new_chain(dir.path());
    let validator = std::fs::read_to_string(home.join("config/priv_validator_key.json")).unwrap();
    std::fs::rename(home.join("config/priv_validator_key.json"), home.join("config/node_key.json")).unwrap();
    let toml = std::fs::read_to_string(home.join(CONFIG_FILE)).unwrap();
    let old =
        toml.replace("key_file = \"config/priv_validator_key.json\"", "key_file = \"config/node_key.json\"");
    assert_ne!(old, toml, "the config names its key file");
    std::fs::write(home.join(CONFIG_FILE), old).unwrap();

    let (running, _) = start(&home);
    let log = std::fs::read_to_string(home.join("node.log")).unwrap();
    let warning =
        log.lines().find(|l| l.contains("migrated to separate keys")).unwrap_or_else(|| panic!("{log}"));
    assert!(warning.contains("priv_validator_key.json") && warning.contains("node_key.json"), "{warning}");
    let out = Command::new(CAIRN).args(["status", "--json", "--node"]).arg(grpc(&home)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    drop(running);
    let key = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap()["public_key"].clone();
    assert_eq!(
        key(&std::fs::read_to_string(home.join("config/priv_validator_key.json")).unwrap()),
        key(&validator)
    );
    assert_eq!(status["node_key"], key(&validator), "status shows the validator key");
    let p2p = key(&std::fs::read_to_string(home.join("config/node_key.json")).unwrap());
    assert_eq!(status["p2p_key"], p2p, "and the new p2p key");
    assert_ne!(p2p, key(&validator));
    assert!(status["peer_id"].as_str().is_some_and(|p| p.starts_with("12D3KooW")), "{status}");
    assert_eq!(config(&home).key_file, Path::new("config/priv_validator_key.json"));
}

fn grpc(home: &Path) -> String {
    format!("http://{}", config(home).api.grpc)
}
