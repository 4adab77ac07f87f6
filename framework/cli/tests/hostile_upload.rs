//! Issue 17's chain-killer, on real processes: a 3-validator localnet (template `small`, where anyone may upload
//! code) receives uploads of hostile modules — reference types wasmtime refuses, more globals than the instance
//! pool holds, a huge table, too many functions. Each upload must fail *as a tx*, with a log naming the cause;
//! every validator keeps running and the chain keeps finalizing blocks.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{CAIRN, Localnet};

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

#[test]
fn hostile_uploads_fail_as_txs_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let net = Localnet::start(&dir.path().join("chain"), 3);
    let grpc = net.grpc.clone();

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
    let before = net.heights();
    net.wait_progress(&before, 2, Duration::from_secs(30));
    drop(net);
}
