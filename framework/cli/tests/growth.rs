//! The growth walkthrough in its CI form: `examples/growth/run.sh --short` on a real 4-validator localnet —
//! proof of authority → web of trust → hybrid stake by governance while transfers flow, none lost.

use std::process::Command;

#[test]
fn growth_walkthrough_short_switches_twice_and_loses_nothing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/growth/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .arg("--short")
        .env("CAIRN", env!("CARGO_BIN_EXE_cairn"))
        .output()
        .expect("run.sh runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run.sh --short failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a last line");
    let v: serde_json::Value = serde_json::from_str(last).expect("the last line is one JSON object");
    assert_eq!(v["lost"], 0, "{v}");
    let switches = v["switches"].as_array().expect("switches");
    assert_eq!(switches.len(), 2, "{v}");
    assert_eq!((switches[0]["module"].as_str(), switches[0]["validators"].as_u64()), (Some("wot"), Some(3)));
    assert_eq!((switches[1]["module"].as_str(), switches[1]["validators"].as_u64()), (Some("pos"), Some(4)));
    assert!(switches[0]["height"].as_u64() < switches[1]["height"].as_u64(), "{v}");
    assert!(v["txs"].as_u64().unwrap_or(0) > 0, "transfers flowed: {v}");
}
