//! Helpers shared by the web-of-trust tests.

use cairn_module_wot::contract::{end_block, execute, instantiate, query, validator_set_updates};
use cairn_module_wot::msg::{Address, ExecuteMsg, InitMsg, MemberInfo, Params, QueryMsg};
use cairn_sdk::testing::{HostStats, MockHost, addr};

/// Small numbers so a test walks through periods and expiries in a few steps.
pub fn params() -> Params {
    Params {
        min_certs: 3,
        cert_period: 10,
        max_issued: 30,
        cert_validity: 100,
        distance_max_steps: 5,
        distance_min_reached_pct: 80,
        referee_root: 5,
        max_members: 1_000,
        smith_min_certs: 2,
        smith_cert_period: 5,
        smith_max_issued: 4,
        smith_cert_validity: 200,
        max_smiths: 4,
        smith_power: 10,
        max_work_per_block: 1_000,
        quota_fuel: 1_000,
        quota_bytes: 100,
        membership_sink: None,
    }
}

pub fn addrs(ids: impl IntoIterator<Item = u8>) -> Vec<Address> {
    ids.into_iter().map(addr).collect()
}

pub fn setup(init: &InitMsg) -> MockHost {
    let host = MockHost::new();
    host.set_height(1);
    host.instantiate(instantiate, init).expect("instantiate");
    host
}

/// A full mesh of founders `members` (smiths among them), at height 1.
pub fn mesh(
    p: Params,
    members: impl IntoIterator<Item = u8>,
    smiths: impl IntoIterator<Item = u8>,
) -> MockHost {
    let members: Vec<u8> = members.into_iter().collect();
    let smiths =
        smiths.into_iter().map(|s| members.iter().position(|&m| m == s).expect("a smith is a member") as u32);
    setup(&InitMsg::full_mesh(p, addrs(members.iter().copied()), smiths.collect()))
}

pub fn run(host: &MockHost, who: u8, msg: ExecuteMsg) -> Result<(), String> {
    host.set_caller(addr(who));
    host.execute(execute, &msg).map(|_| ())
}

pub fn certify(host: &MockHost, who: u8, to: u8) -> Result<(), String> {
    run(host, who, ExecuteMsg::Certify { to: addr(to) })
}

pub fn join(host: &MockHost, who: u8) -> Result<(), String> {
    run(host, who, ExecuteMsg::Join)
}

pub fn member(host: &MockHost, who: u8) -> Option<MemberInfo> {
    host.query_as(query, &QueryMsg::Member { who: addr(who) }).expect("member query")
}

pub fn member_count(host: &MockHost) -> u32 {
    host.query_as(query, &QueryMsg::MemberCount).expect("count")
}

pub fn updates(host: &MockHost) -> Vec<(Address, u64)> {
    host.validator_set_updates(validator_set_updates).expect("updates")
}

/// Advance to `height` and run its `end_block`.
pub fn end_block_at(host: &MockHost, height: u64) {
    host.set_height(height);
    host.end_block(end_block).expect("end_block");
}

/// Fuel the host would charge for the storage calls in `s` (prices of execution/host/src/imports.rs: base 100
/// per call, read 1,000, write 3,000 + 10/byte written, next 2,000, event 500, 1 per byte moved). Wasm
/// instructions come on top.
pub fn host_fuel(s: HostStats) -> u64 {
    s.reads * 1_100
        + s.writes * 3_100
        + s.nexts * 2_100
        + s.events * 600
        + s.bytes_moved
        + s.bytes_written * 10
}
