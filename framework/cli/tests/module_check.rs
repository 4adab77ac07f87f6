//! `cairn module check`: the committed modules pass; garbage is refused with a readable reason and exit code 1.

use std::process::Command;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

#[test]
fn committed_bank_module_passes_the_check() {
    let wasm = concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules/wasm/bank.wasm");
    let out = Command::new(CAIRN).args(["module", "check", wasm]).output().expect("run cairn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("storage_get") && stdout.contains("execute: func (i32, i32) -> (i32)"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().last(), Some("OK"));
}

#[test]
fn garbage_bytes_are_rejected_with_exit_code_one() {
    let path = std::env::temp_dir().join(format!("cairn-garbage-{}.wasm", std::process::id()));
    std::fs::write(&path, b"this is not a wasm module").expect("write");
    let out = Command::new(CAIRN).args(["module", "check"]).arg(&path).output().expect("run cairn");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is rejected") && stderr.contains("offset 0x0"), "{stderr}");
}
