//! Issue 17's chain-killer, on real processes: a 3-validator localnet (template `small`, where anyone may upload
//! code) receives uploads of hostile modules — reference types wasmtime refuses, more globals than the instance
//! pool holds, a huge table, too many functions. Each upload must fail *as a tx*, with a log naming the cause;
//! every validator keeps running and the chain keeps finalizing blocks.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

struct Localnet(Child);

impl Drop for Localnet {
    fn drop(&mut self) {
        // SIGTERM lets localnet stop its validators; kill as a fallback.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A module with every entry point, plus `extra` declarations.
fn module(extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
            (memory (export "memory") 1)
            (func (export "cairn_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "instantiate") (param i32 i32) (result i32) i32.const 0)
            (func (export "execute") (param i32 i32) (result i32) i32.const 0)
            (func (export "query") (param i32 i32) (result i32) i32.const 0)
            {extra})"#
    ))
    .expect("hostile module parses")
}

fn height(grpc: &str) -> u64 {
    let out = Command::new(CAIRN).args(["status", "--json", "--node", grpc]).output().unwrap();
    assert!(out.status.success(), "node {grpc} does not answer: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["height"].as_u64().unwrap()
}

#[test]
fn hostile_uploads_fail_as_txs_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(CAIRN)
        .args(["localnet", "--validators", "3", "--dir"])
        .arg(dir.path().join("chain"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let net = Localnet(child);
    let mut grpc = Vec::new();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.split("grpc ").nth(1).and_then(|r| r.split_whitespace().next()) {
            grpc.push(url.to_string());
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    // Keep draining localnet's stderr: a closed pipe would end it (and its validators) at its next line.
    std::thread::spawn(move || lines.for_each(drop));
    assert_eq!(grpc.len(), 3, "localnet printed its endpoints");

    let wasm_dir = tempfile::tempdir().unwrap();
    let globals: String = (0..70_000).map(|i| format!("(global $g{i} i32 (i32.const 0))")).collect();
    let funcs: String = (0..50_001).map(|_| "(func)").collect();
    let corpus: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("externref table", module("(table 1 externref)"), &["reference", "externref", "gc"]),
        (
            "externref global",
            module("(global externref (ref.null extern))"),
            &["reference", "externref", "gc"],
        ),
        ("70,000 globals", module(&globals), &["pool", "engine", "global"]),
        ("50,001 functions", module(&funcs), &["function"]),
        ("huge table", module("(table 4000000000 funcref)"), &["table"]),
    ];
    for (what, code, words) in corpus {
        let path = wasm_dir.path().join("m.wasm");
        std::fs::write(&path, &code).unwrap();
        let out = Command::new(CAIRN)
            .args([
                "tx",
                "upload",
                "--user",
                "0",
                "--json",
                "--fuel",
                "100000000",
                "--node",
                &grpc[0],
                "--wasm",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{what}: the upload was accepted: {text}");
        let lower = text.to_lowercase();
        assert!(
            words.iter().any(|w| lower.contains(w)),
            "{what}: the error names no cause ({words:?}): {text}"
        );
    }

    // Every validator still runs and the chain still finalizes new blocks.
    let before: Vec<u64> = grpc.iter().map(|g| height(g)).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now: Vec<u64> = grpc.iter().map(|g| height(g)).collect();
        if now.iter().zip(&before).all(|(n, b)| n >= &(b + 2)) {
            break;
        }
        assert!(Instant::now() < deadline, "the chain stopped finalizing: {before:?} -> {now:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(net);
}
