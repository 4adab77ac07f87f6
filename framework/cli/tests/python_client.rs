//! The Python client (`clients/python`) against a real node: a 1-validator chain of the `small` template (ExecApp,
//! Wasm bank, PoA) started with the `cairn` binary, and the pytest suite of `clients/python/tests` run on it with
//! the python of `scripts/py-venv.sh` (a venv under the target dir, made on first use). The suite sends transfers
//! and a module call, checks a bad signature is refused with the node's message, verifies a balance proof (and its
//! failure on a flipped byte), and follows the transfer's events. Fails if pytest fails or skips anything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_node::NodeConfig;
use cairn_node::config::CONFIG_FILE;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
/// The whole pytest run may take this long (it needs a few blocks, well under a minute on a quiet machine).
const PYTEST_TIMEOUT: Duration = Duration::from_secs(240);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Kills and reaps a child process when dropped, so a failing assertion never leaves it running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()))
}

/// `cairn new --validators 1`, `cairn start`, and the node's status once it finalized a block.
fn start_chain(dir: &Path) -> (Running, NodeConfig, serde_json::Value) {
    let chain = dir.join("chain");
    let out = Command::new(CAIRN).args(["new", "--validators", "1"]).arg(&chain).output().unwrap();
    assert!(out.status.success(), "cairn new failed: {}", String::from_utf8_lossy(&out.stderr));
    let home = chain.join("node0");
    let config = NodeConfig::load(&home.join(CONFIG_FILE)).unwrap();
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    let node = Running(
        Command::new(CAIRN)
            .args(["start", "--home"])
            .arg(&home)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok((200, body)) = http_get(config.api.http, "/status")
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            && v["height"].as_u64().unwrap_or(0) >= 1
        {
            return (node, config, v);
        }
        assert!(
            Instant::now() < deadline,
            "the node did not finalize a block within 90 s; its log:\n{}",
            std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The python of `scripts/py-venv.sh` (grpcio, grpcio-tools, PyNaCl, pytest).
fn python() -> String {
    let out = Command::new("bash").arg(repo_root().join("scripts/py-venv.sh")).output().unwrap();
    assert!(
        out.status.success(),
        "scripts/py-venv.sh failed (it makes the Python venv the client tests need):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A devnet user's secret key as the CLI prints it.
fn user_secret(chain_id: &str, user: u64) -> String {
    let out = Command::new(CAIRN)
        .args(["keys", "show", "--user", &user.to_string(), "--chain-id", chain_id, "--secret", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "cairn keys show failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["secret_key"].as_str().expect("keys show --secret --json prints secret_key").to_string()
}

#[test]
fn python_client_suite_passes_against_a_localnet() {
    let dir = tempfile::tempdir().unwrap();
    let (_node, config, status) = start_chain(dir.path());
    let chain_id = status["chain_id"].as_str().expect("status has chain_id").to_string();
    let python = python();
    let root = repo_root();
    let out_path = dir.path().join("pytest.out");
    let mut pytest = Running(
        Command::new(&python)
            .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "clients/python/tests"])
            .current_dir(&root)
            .env("CAIRN_NODE_GRPC", config.api.grpc.to_string())
            .env("CAIRN_CHAIN_ID", &chain_id)
            .env("CAIRN_USER_SECRET", user_secret(&chain_id, 0))
            .env("CAIRN_PROTO_DIR", root.join("proto"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("pytest.err")).unwrap()))
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + PYTEST_TIMEOUT;
    let status = loop {
        if let Some(s) = pytest.0.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let report = format!(
        "{}\n{}\n--- node log (tail) ---\n{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(dir.path().join("pytest.err")).unwrap_or_default(),
        tail(&std::fs::read_to_string(dir.path().join("node.log")).unwrap_or_default(), 40),
    );
    let Some(status) = status else {
        panic!("pytest did not finish within {} s:\n{report}", PYTEST_TIMEOUT.as_secs());
    };
    assert!(status.success(), "the Python client's tests failed ({status}):\n{report}");
    let summary = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(summary.contains(" passed"), "pytest ran no tests:\n{report}");
    assert!(
        !summary.contains("skipped"),
        "pytest skipped tests that must run against the localnet:\n{report}"
    );
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The bank messages docs/TX_FORMAT.md spells out by hand (and the Python client builds) are the bank's own
/// borsh encoding.
#[test]
fn documented_bank_messages_are_the_bank_encoding() {
    use cairn_module_bank::msg::{ExecuteMsg, QueryMsg};
    let doc = std::fs::read_to_string(repo_root().join("docs/TX_FORMAT.md")).unwrap();
    let field = |name: &str, key: &str| -> String {
        let start =
            doc.find(&format!("name          = {name}\n")).unwrap_or_else(|| panic!("no vector {name}"));
        let block = &doc[start..start + doc[start..].find("```").unwrap()];
        let line = block.lines().find(|l| l.split('=').next().unwrap().trim() == key).unwrap();
        line.split_once('=').unwrap().1.trim().to_string()
    };
    let to: [u8; 32] = hex::decode(field("bank transfer", "to")).unwrap().try_into().unwrap();
    let amount: u128 = field("bank transfer", "amount").parse().unwrap();
    assert_eq!(
        field("bank transfer", "msg"),
        hex::encode(borsh::to_vec(&ExecuteMsg::Transfer { to, amount }).unwrap())
    );
    assert_eq!(
        field("module execute", "msg"),
        hex::encode(borsh::to_vec(&ExecuteMsg::Burn { amount: 10 }).unwrap())
    );
    // The query the Python client sends for a balance: variant 0 and the account.
    assert_eq!(
        borsh::to_vec(&QueryMsg::Balance { account: to }).unwrap()[..],
        [&[0u8][..], &to[..]].concat()[..]
    );
}
