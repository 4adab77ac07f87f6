//! Random certifications, joins, leaves and expiries keep the stored web consistent: every certification comes
//! from a member, counts match the certifications, and the compact graph the distance rule reads is exactly the
//! certifications between members.

use std::collections::{BTreeMap, BTreeSet};

use cairn_module_wot::msg::{ExecuteMsg, Params};
use cairn_module_wot::state::{CERTS, MEMBER_COUNT, MEMBERS, RECEIVED, load_graph};
use cairn_sdk::testing::{MockHost, addr};
use proptest::prelude::*;

use crate::common::*;

/// Reads the module's storage directly (the mock host must be alive: `_host`).
fn check(_host: &MockHost) {
    let members: BTreeMap<[u8; 32], u32> =
        MEMBERS.iter().map(|e| e.map(|(a, m)| (a, m.index))).collect::<Result<_, _>>().unwrap();
    assert_eq!(MEMBER_COUNT.load().unwrap() as usize, members.len());
    let certs: Vec<([u8; 32], [u8; 32])> =
        CERTS.iter().map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>().unwrap();
    let mut received: BTreeMap<[u8; 32], u32> = BTreeMap::new();
    let mut issued: BTreeMap<[u8; 32], u32> = BTreeMap::new();
    let mut certifiers: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    for (i, r) in &certs {
        assert!(members.contains_key(i), "a certification from a non-member");
        *received.entry(*r).or_default() += 1;
        *issued.entry(*i).or_default() += 1;
        if let Some(ri) = members.get(r) {
            certifiers.entry(*ri).or_default().insert(members[i]);
        }
    }
    for (who, n) in &received {
        assert_eq!(RECEIVED.may_load(who).unwrap(), Some(*n));
    }
    let graph = load_graph().unwrap();
    for (who, index) in &members {
        let node = graph[*index as usize].clone().expect("a member has a node");
        assert_eq!(node.issued, issued.get(who).copied().unwrap_or(0));
        assert_eq!(node.issued, MEMBERS.load(who).unwrap().issued);
        let got: BTreeSet<u32> = node.certifiers.iter().copied().collect();
        assert_eq!(got.len(), node.certifiers.len(), "no duplicate certifier");
        assert_eq!(got, certifiers.get(index).cloned().unwrap_or_default());
    }
    let live = graph.iter().flatten().count();
    assert_eq!(live, members.len(), "free indices hold no node");
}

#[derive(Clone, Debug)]
enum Op {
    Certify(u8, u8),
    Join(u8),
    Leave(u8),
    Advance(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=12u8, 1..=12u8).prop_map(|(a, b)| Op::Certify(a, b)),
        2 => (1..=12u8).prop_map(Op::Join),
        1 => (1..=12u8).prop_map(Op::Leave),
        2 => (1..=40u8).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_operations_keep_the_web_consistent(ops in proptest::collection::vec(op(), 1..60)) {
        let p = Params { cert_period: 2, cert_validity: 60, max_issued: 6, ..params() };
        let host = mesh(p, 1..=5, []);
        let mut height = 1;
        for o in ops {
            match o {
                Op::Certify(a, b) => { let _ = certify(&host, a, b); }
                Op::Join(a) => { let _ = join(&host, a); }
                Op::Leave(a) => { let _ = run(&host, a, ExecuteMsg::Leave); }
                Op::Advance(n) => {
                    for _ in 0..n {
                        height += 1;
                        end_block_at(&host, height);
                    }
                }
            }
            host.set_caller(addr(0));
            check(&host);
        }
    }
}
