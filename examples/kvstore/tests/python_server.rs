//! Another language drives the boundary: the Python kvstore (`examples/python-kvstore/kvstore_server.py`, a grpcio
//! server) is driven through `RemoteApp` — the `Application` trait — side by side with the Rust kvstore
//! in-process, over 120 blocks with key/value writes, validator updates and garbage txs. Both must return the same
//! app hash, validator updates and tx codes at every block, which they can only do because the hash is specified
//! (examples/kvstore/README.md), not incidental.
//!
//! Needs Python 3: `scripts/py-venv.sh` makes a virtual environment with grpcio and grpcio-tools under the
//! target dir on first use (`CAIRN_PYTHON` overrides it), so nothing has to be installed by hand.

mod common;

use std::path::PathBuf;
use std::process::Command;

use cairn_abci::{ClientConfig, RemoteApp};
use common::*;
use kvstore::KvStore;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python_dir() -> PathBuf {
    repo_root().join("examples/python-kvstore")
}

/// A Python with the test packages: made by `scripts/py-venv.sh` on first use. Fails (never skips) if it cannot.
fn require_python() -> PathBuf {
    let script = repo_root().join("scripts/py-venv.sh");
    let out = Command::new("bash").arg(&script).output().expect("running scripts/py-venv.sh");
    assert!(
        out.status.success(),
        "scripts/py-venv.sh could not make a Python environment: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The Python client side (`examples/python-kvstore/tests`, pytest) against the Rust kvstore binary cargo built.
#[test]
fn python_client_drives_the_rust_kvstore() {
    let py = require_python();
    let out = Command::new(py)
        .args(["-m", "pytest", "-q", "tests"])
        .env("KVSTORE_BIN", env!("CARGO_BIN_EXE_kvstore"))
        .current_dir(python_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pytest failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_blake3_matches_rust_blake3() {
    let py = require_python();
    let lengths = [0usize, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 2049, 3072, 4097, 8193, 16385, 40000];
    let script = format!(
        "from blake3_pure import blake3_pure\n\
         for n in {lengths:?}:\n    print(blake3_pure(bytes(i % 251 for i in range(n))).hex())"
    );
    let out = Command::new(py).args(["-c", &script]).current_dir(python_dir()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    let want: Vec<String> = lengths
        .iter()
        .map(|&n| blake3::hash(&(0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).to_hex().to_string())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn python_and_rust_kvstores_agree_on_120_blocks() {
    let py = require_python();
    let gen_dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(py);
    cmd.arg("kvstore_server.py")
        .args(["--listen", "127.0.0.1:0", "--gen"])
        .arg(gen_dir.path())
        .current_dir(python_dir());
    let (_server, addr) = start_server(cmd, "the Python kvstore server");
    let remote = RemoteApp::connect(addr, ClientConfig::default()).await.unwrap();
    let local = KvStore::new();

    let (updates, failed) = drive_side_by_side(&remote, &local, 120).await;
    // The sequence really exercised validator updates and failures (a test that can fail).
    assert!(updates >= 40, "only {updates} validator updates");
    assert!(failed >= 100, "only {failed} failed txs");
}
