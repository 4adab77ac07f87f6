//! The distance computation at 10,000 members: host calls and their fuel, measured natively (ignored by
//! default; run with `cargo test -p cairn-module-wot --release -- --ignored --nocapture`).

use cairn_module_wot::msg::{InitMsg, Params};
use cairn_sdk::testing::MockHost;

use crate::common::*;

fn a(i: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..4].copy_from_slice(&i.to_be_bytes());
    out[31] = 1;
    out
}

/// A web where each member is certified by 10 distinct members drawn by a fixed pseudo-random function:
/// 10 received each and ~10 issued (Ğ1 has ~10 per member), a random graph of diameter ~4.
pub fn big_web(members: u32) -> MockHost {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // splitmix64
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let ids: Vec<[u8; 32]> = (0..members).map(a).collect();
    let mut certs = Vec::with_capacity(ids.len() * 10);
    for i in 0..members {
        let mut chosen = std::collections::BTreeSet::new();
        while chosen.len() < 10 {
            let j = (next() % u64::from(members)) as u32;
            if j != i {
                chosen.insert(j);
            }
        }
        certs.extend(chosen.into_iter().map(|j| (j, i)));
    }
    let p = Params { max_members: 20_000, max_issued: 100, cert_validity: 1_000_000, ..params() };
    let host = setup(&InitMsg { params: p, members: ids, certs, smiths: vec![], smith_certs: vec![] });
    host.set_height(10);
    host
}

#[test]
#[ignore = "builds a 10,000-member web: a few seconds in release"]
fn distance_at_10_000_members() {
    let host = big_web(10_000);
    let newcomer = 250u8;
    for issuer in [0u32, 2_500, 5_000, 7_500, 9_999] {
        host.set_caller(a(issuer));
        host.execute(
            cairn_module_wot::contract::execute,
            &cairn_module_wot::msg::ExecuteMsg::Certify { to: cairn_sdk::testing::addr(newcomer) },
        )
        .unwrap();
    }
    host.reset_stats();
    join(&host, newcomer).unwrap();
    let s = host.stats();
    println!("join at 10,000 members: {s:?}; host fuel ≈ {}", host_fuel(s));
    assert!(s.nexts < 400, "the graph is read bucket by bucket, not certification by certification");
    assert!(host_fuel(s) < 5_000_000);
}

#[test]
fn distance_cost_grows_with_buckets_not_certifications() {
    // 1,000 members: 32 buckets. The count is structural, so it is asserted exactly.
    let host = big_web(1_000);
    for issuer in [0u32, 250, 500] {
        host.set_caller(a(issuer));
        host.execute(
            cairn_module_wot::contract::execute,
            &cairn_module_wot::msg::ExecuteMsg::Certify { to: cairn_sdk::testing::addr(250) },
        )
        .unwrap();
    }
    host.reset_stats();
    join(&host, 250).unwrap();
    let s = host.stats();
    // 32 buckets + 1 end-of-map probe, 3 certifiers + 1 probe (twice: distance, then the node), free list.
    assert!(s.nexts <= 32 + 1 + 2 * 4 + 1, "{s:?}");
}
