//! The growth path's engine half on real processes: a 4-validator localnet starts on the BFT engine, switches to
//! the sampling engine (snow) at a height while signed transfers flow, and loses none of them; a chain can also
//! start on snow. Both through `cairn demo`, which verifies balances and that every node holds the same block.

use std::process::Command;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

fn demo(args: &[&str]) -> serde_json::Value {
    let out = Command::new(CAIRN).arg("demo").args(args).arg("--json").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo {args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).expect("demo --json prints one JSON object")
}

#[test]
fn bft_to_snow_at_a_height_under_load_loses_nothing() {
    // Paced, so the load spans the switch however fast the chain is (unpaced, 1,500 batched transfers can be
    // final before height 4).
    let v = demo(&["--txs", "1500", "--rate", "500", "--engine-switch", "snow@4"]);
    assert_eq!(v["txs"], 1500, "every transfer finalized: {v}");
    assert_eq!(
        (v["lost"].as_u64(), v["rejected"].as_u64(), v["failed"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(v["verified"]["ok"], true, "{v}");
    assert_eq!(v["verified"]["engine"], "snow", "the switch happened: {v}");
    // The load spanned the switch: it began before height 4 and finished after it.
    let (start, end) = (v["heights"]["start"].as_u64().unwrap(), v["heights"]["end"].as_u64().unwrap());
    assert!(start < 4 && end > 4, "transfers did not span the switch at 4: heights {start}..{end}");
}

#[test]
fn a_chain_can_start_on_snow() {
    let v = demo(&["--txs", "300", "--engine", "snow"]);
    assert_eq!(v["txs"], 300, "{v}");
    assert_eq!(v["verified"]["ok"], true, "{v}");
    assert_eq!(v["verified"]["engine"], "snow", "{v}");
}
