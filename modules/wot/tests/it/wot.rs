//! Membership rules: how many certifications, how often, how many, how long.

use cairn_module_wot::contract::query;
use cairn_module_wot::msg::{ExecuteMsg, InitMsg, Params, QueryMsg};
use cairn_sdk::hex;
use cairn_sdk::testing::addr;

use crate::common::*;

#[test]
fn too_few_certifications_is_no_membership() {
    let host = mesh(params(), 1..=4, []);
    host.set_height(10);
    certify(&host, 1, 9).unwrap();
    certify(&host, 2, 9).unwrap();
    assert_eq!(
        join(&host, 9).unwrap_err(),
        format!("{} holds 2 certifications from members, 3 needed to join", hex(&addr(9)))
    );
    assert_eq!(member(&host, 9), None);
    certify(&host, 3, 9).unwrap();
    join(&host, 9).unwrap();
    assert_eq!(member(&host, 9).map(|m| m.received), Some(3));
    assert_eq!(member_count(&host), 5);
    assert_eq!(join(&host, 9).unwrap_err(), format!("{} is already a member", hex(&addr(9))));
}

#[test]
fn only_members_certify_and_nobody_certifies_itself() {
    let host = mesh(params(), 1..=4, []);
    assert_eq!(
        certify(&host, 8, 9).unwrap_err(),
        format!("{} is not a member: only members certify", hex(&addr(8)))
    );
    assert_eq!(certify(&host, 1, 1).unwrap_err(), "a member cannot certify itself");
}

#[test]
fn one_certification_per_period() {
    let host = mesh(params(), 1..=4, []);
    host.set_height(20);
    certify(&host, 1, 9).unwrap();
    host.set_height(29);
    assert_eq!(
        certify(&host, 1, 8).unwrap_err(),
        format!(
            "{} certified at height 20: one certification per 10 blocks, next at height 30",
            hex(&addr(1))
        )
    );
    // A renewal is an issuance too.
    assert!(certify(&host, 1, 9).unwrap_err().contains("next at height 30"));
    host.set_height(30);
    certify(&host, 1, 8).unwrap();
}

#[test]
fn at_most_max_issued_active_certifications() {
    // In a mesh of 4 every founder has issued 3; allow 4.
    let host = mesh(Params { max_issued: 4, ..params() }, 1..=4, []);
    host.set_height(20);
    certify(&host, 1, 9).unwrap();
    host.set_height(30);
    assert_eq!(
        certify(&host, 1, 8).unwrap_err(),
        format!("{} already holds 4 active certifications, the maximum", hex(&addr(1)))
    );
    // Renewing an existing one does not take stock.
    certify(&host, 1, 9).unwrap();
    assert_eq!(member(&host, 1).unwrap().issued, 4);
}

#[test]
fn expiry_drops_members_whose_certifications_lapse() {
    // Five founders, certifications valid 100 blocks from height 1. Founders 1–4 renew each other's; nobody
    // renews 5's, and 5 renews nothing.
    let host = mesh(params(), 1..=5, []);
    let others = |a: u8| (1..=4).filter(move |&b| b != a);
    for (round, h) in [50u64, 60, 70].into_iter().enumerate() {
        host.set_height(h);
        for a in 1..=4u8 {
            let to = others(a).nth(round).unwrap();
            certify(&host, a, to).unwrap();
        }
    }
    end_block_at(&host, 100);
    assert_eq!(member_count(&host), 5, "nothing expires before height 101");
    end_block_at(&host, 101);
    assert_eq!(member(&host, 5), None, "5 held no renewed certification");
    assert_eq!(member_count(&host), 4);
    for a in 1..=4 {
        let m = member(&host, a).expect("still a member");
        assert_eq!(m.received, 3, "founder {a} holds the three renewals");
        assert_eq!(m.issued, 3, "its certification of 5 was withdrawn or expired");
    }
    let left: Vec<_> = host.take_events().into_iter().filter(|e| e.kind == "member_left").collect();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].attributes[0], ("who".to_string(), hex(&addr(5))));
}

#[test]
fn a_leaving_member_withdraws_its_certifications_and_the_cascade_is_applied() {
    let host = mesh(params(), 1..=4, []);
    host.set_height(10);
    for a in 1..=3 {
        certify(&host, a, 9).unwrap();
    }
    join(&host, 9).unwrap();
    run(&host, 1, ExecuteMsg::Leave).unwrap();
    assert_eq!(member(&host, 1), None);
    // 9 now holds 2 (from 2 and 3); founders 2–4 hold 2 each. All fall below 3 at the next end_block.
    assert_eq!(member(&host, 9).unwrap().received, 2);
    end_block_at(&host, 11);
    assert_eq!(member_count(&host), 0, "every remaining member held 2 certifications");
}

#[test]
fn end_block_work_is_bounded_per_block() {
    let host = mesh(Params { max_work_per_block: 5, ..params() }, 1..=4, []);
    // 12 founding certifications expire at 101: 5 per block.
    end_block_at(&host, 101);
    let expired = |h: &cairn_sdk::testing::MockHost| {
        h.take_events().into_iter().filter(|e| e.kind == "cert_expired").count()
    };
    assert_eq!(expired(&host), 5);
    end_block_at(&host, 102);
    assert_eq!(expired(&host), 5);
    end_block_at(&host, 103);
    assert_eq!(expired(&host), 2);
}

#[test]
fn quota_is_one_per_member() {
    let host = mesh(params(), 1..=4, []);
    let q = |who: u8| -> (u64, u64) { host.query_as(query, &QueryMsg::Quota { who: addr(who) }).unwrap() };
    assert_eq!(q(1), (1_000, 100));
    assert_eq!(q(9), (0, 0));
}

#[test]
fn genesis_rejects_an_inconsistent_web() {
    let host = cairn_sdk::testing::MockHost::new();
    let mut init = InitMsg::full_mesh(params(), addrs(1..=3), vec![]);
    let err = host.instantiate(cairn_module_wot::contract::instantiate, &init).unwrap_err();
    assert_eq!(
        err,
        format!("founder {} holds 2 certifications from founders, min_certs is 3", hex(&addr(1)))
    );
    init = InitMsg::full_mesh(params(), addrs(1..=4), vec![0]);
    let err = host.instantiate(cairn_module_wot::contract::instantiate, &init).unwrap_err();
    assert!(err.contains("holds 0 smith certifications, smith_min_certs is 2"), "{err}");
}
