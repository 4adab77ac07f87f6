//! Another language drives the boundary: the Python kvstore (`examples/python-kvstore/kvstore_server.py`, a grpcio
//! server) is driven through `RemoteApp` — the `Application` trait — side by side with the Rust kvstore
//! in-process, over 120 blocks with key/value writes, validator updates and garbage txs. Both must return the same
//! app hash, validator updates and tx codes at every block, which they can only do because the hash is specified
//! (examples/kvstore/README.md), not incidental.
//!
//! Needs Python 3 with grpcio and grpcio-tools: `.venv/bin/python` at the repository root if it exists, else
//! `python3`. Without them this test FAILS (it does not skip) and says how to install them.

mod common;

use std::path::PathBuf;
use std::process::Command;

use cairn_abci::{ClientConfig, RemoteApp};
use common::*;
use kvstore::KvStore;

const INSTALL: &str = "python3 -m venv .venv && .venv/bin/pip install grpcio grpcio-tools pytest \
                       (run at the repository root; CI does this)";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

fn python_dir() -> PathBuf {
    repo_root().join("examples/python-kvstore")
}

/// Fails with the install command unless Python with grpcio and grpcio-tools is there.
fn require_python() -> PathBuf {
    let py = python();
    let out = Command::new(&py).args(["-c", "import grpc, grpc_tools"]).output();
    match out {
        Ok(o) if o.status.success() => py,
        Ok(o) => panic!(
            "{} cannot import grpc/grpc_tools ({}). Install them: {INSTALL}",
            py.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("cannot run {}: {e}. Install Python 3 and then: {INSTALL}", py.display()),
    }
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
