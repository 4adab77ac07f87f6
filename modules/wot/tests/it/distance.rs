//! The distance rule against a Sybil cluster.

use cairn_module_wot::contract::query;
use cairn_module_wot::msg::{Distance, InitMsg, Params, QueryMsg};
use cairn_sdk::hex;
use cairn_sdk::testing::{MockHost, addr};

use crate::common::*;

/// 20 honest founders in a mesh (ids 1–20) and a cluster of 4 (ids 101–104) that certify each other, attached by
/// one certification 1 → 101. Every founder is a referee (M = 24, threshold ⌈24^(1/5)⌉ = 2).
fn web(steps: u32) -> MockHost {
    let honest = addrs(1..=20);
    let cluster = addrs(101..=104);
    let mut init = InitMsg::full_mesh(Params { distance_max_steps: steps, ..params() }, honest, vec![]);
    let fakes = InitMsg::full_mesh(params(), cluster.clone(), vec![]);
    init.members.extend(cluster);
    // Cluster indices follow the 20 honest ones; 1 (index 0) certifies 101 (index 20).
    init.certs.extend(fakes.certs.into_iter().map(|(i, j)| (i + 20, j + 20)));
    init.certs.push((0, 20));
    let host = setup(&init);
    host.set_height(10);
    host
}

fn distance(host: &MockHost, who: u8) -> Distance {
    host.query_as(query, &QueryMsg::Distance { who: addr(who) }).unwrap()
}

#[test]
fn the_distance_rule_rejects_a_self_certifying_cluster() {
    let host = web(3);
    for f in 102..=104 {
        certify(&host, f, 200).unwrap();
    }
    // 200 ← 102..104 (1 step) ← 101..104 (2) ← 1 (3): 5 of 24 referees.
    assert_eq!(distance(&host, 200), Distance { referees: 24, reached: 5, threshold: 2, passes: false });
    assert_eq!(
        join(&host, 200).unwrap_err(),
        format!("distance rule: 5 of 24 referees reach {} within 3 steps, 80 % needed", hex(&addr(200)))
    );
    assert_eq!(member(&host, 200), None);

    // An honest newcomer with as many certifications passes: the 20 honest founders reach it, 20 of 24 = 83 %.
    for h in 2..=4 {
        certify(&host, h, 201).unwrap();
    }
    assert_eq!(distance(&host, 201), Distance { referees: 24, reached: 20, threshold: 2, passes: true });
    join(&host, 201).unwrap();
}

#[test]
fn more_steps_let_the_cluster_through_which_is_what_the_step_limit_is_for() {
    let host = web(4);
    for f in 102..=104 {
        certify(&host, f, 200).unwrap();
    }
    // At 4 steps the honest mesh is reached through 1 → 101.
    assert_eq!(distance(&host, 200).reached, 24);
    join(&host, 200).unwrap();
}
