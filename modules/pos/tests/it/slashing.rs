//! Double signing, downtime, and stake that left after an offence.

use cairn_module_pos::msg::ExecuteMsg;
use cairn_sdk::hex;
use cairn_sdk::testing::addr;

use crate::common::*;

#[test]
fn double_sign_slashes_and_tombstones() {
    let host = setup(&[(1, 1_000), (2, 1_000)]);
    updates(&host);
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(1), amount: 1_000 }).unwrap();
    begin_block(&host, 10, &[1, 2], &[(1, 8)]).unwrap();
    let v = validator(&host, 1);
    assert_eq!(v.tokens, 1_900, "5 % of 2,000 burned");
    assert!(v.tombstoned);
    assert_eq!(v.power, 0);
    assert_eq!(delegation(&host, 9, 1), 950, "delegators lose the same share");
    assert_eq!(updates(&host), vec![(addr(1), 0)]);
    assert_eq!(total(&host), 20 * 10_000 - 100);
    host.set_height(1_000);
    assert_eq!(
        run(&host, 1, ExecuteMsg::Unjail).unwrap_err(),
        format!("{} double-signed: it is jailed for good", hex(&addr(1)))
    );
    // Evidence again is ignored, not slashed twice.
    begin_block(&host, 1_001, &[2], &[(1, 8)]).unwrap();
    assert_eq!(validator(&host, 1).tokens, 1_900);
}

#[test]
fn evidence_is_only_accepted_from_the_host_and_when_fresh() {
    let host = setup(&[(1, 1_000)]);
    host.set_height(10);
    let info = cairn_module_pos::msg::BeginBlockInfo { signers: Some(vec![]), misbehaviour: vec![] };
    assert_eq!(
        run(&host, 5, ExecuteMsg::BeginBlock(info)).unwrap_err(),
        format!("{} may not send BeginBlock: only the host (as {}) does", hex(&addr(5)), hex(&addr(0)))
    );
    begin_block(&host, 200, &[1], &[(1, 99)]).unwrap();
    assert_eq!(validator(&host, 1).tokens, 1_000, "older than max_evidence_age = 100");
}

#[test]
fn downtime_jails_then_unjail_after_the_delay() {
    let host = setup(&[(1, 1_000), (2, 1_000)]);
    assert_eq!(updates(&host).len(), 2); // reported at height 1: they owe signatures from height 4
    // Window of 10 from height 1, at most 5 missed. 2 never signs from height 4 on.
    for h in 4..=8 {
        begin_block(&host, h, &[1], &[]).unwrap();
    }
    assert_eq!(validator(&host, 2).missed_in_window, 5);
    assert!(validator(&host, 2).jailed_until.is_none(), "5 misses are allowed");
    begin_block(&host, 9, &[1], &[]).unwrap();
    let v = validator(&host, 2);
    assert_eq!(v.jailed_until, Some(29));
    assert_eq!(v.tokens, 990, "1 % burned");
    assert_eq!(updates(&host), vec![(addr(2), 0)]);
    assert_eq!(validator(&host, 1).missed_in_window, 0);
    host.set_height(28);
    assert_eq!(
        run(&host, 2, ExecuteMsg::Unjail).unwrap_err(),
        format!("{} is jailed until height 29 (now 28)", hex(&addr(2)))
    );
    host.set_height(29);
    run(&host, 2, ExecuteMsg::Unjail).unwrap();
    assert_eq!(updates(&host), vec![(addr(2), 990)]);
}

#[test]
fn a_block_without_a_commit_to_report_counts_no_one_absent() {
    let host = setup(&[(1, 1_000), (2, 1_000)]);
    updates(&host);
    // Blocks after a parent decided by sampling carry no signers (`None`): not "nobody signed".
    for h in 4..=20 {
        host.set_height(h);
        let info = cairn_module_pos::msg::BeginBlockInfo { signers: None, misbehaviour: vec![] };
        run(&host, 0, ExecuteMsg::BeginBlock(info)).unwrap();
    }
    assert_eq!(validator(&host, 2).missed_in_window, 0);
    assert!(validator(&host, 2).jailed_until.is_none());
}

#[test]
fn unbonding_stake_is_slashed_for_an_earlier_offence_but_not_for_a_later_one() {
    let host = setup(&[(1, 1_000), (2, 1_000)]);
    run(&host, 8, ExecuteMsg::Delegate { validator: addr(1), amount: 1_000 }).unwrap();
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(1), amount: 1_000 }).unwrap();
    // 8 unbonds before the offence (height 10), 9 after it.
    host.set_height(5);
    run(&host, 8, ExecuteMsg::Unbond { validator: addr(1), amount: 1_000 }).unwrap();
    host.set_height(12);
    run(&host, 9, ExecuteMsg::Unbond { validator: addr(1), amount: 1_000 }).unwrap();
    begin_block(&host, 13, &[1, 2], &[(1, 10)]).unwrap();
    end_block_at(&host, 15);
    assert_eq!(balance(&host, 8), 10_000, "unbonded before the offence: untouched");
    end_block_at(&host, 22);
    assert_eq!(balance(&host, 9), 9_950, "bonded at the offence: 5 % of its 1,000 burned");
    assert_eq!(validator(&host, 1).tokens, 950);
    assert_eq!(total(&host), 20 * 10_000 - 50 - 50);
}

#[test]
fn redelegated_stake_is_slashed_for_the_source_offence() {
    let host = setup(&[(1, 1_000), (2, 1_000)]);
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(1), amount: 1_000 }).unwrap();
    host.set_height(12);
    run(&host, 9, ExecuteMsg::Redelegate { src: addr(1), dst: addr(2), amount: 1_000 }).unwrap();
    assert_eq!(delegation(&host, 9, 2), 1_000);
    begin_block(&host, 13, &[1, 2], &[(1, 10)]).unwrap();
    assert_eq!(delegation(&host, 9, 2), 950, "the offence at 10 predates the move at 12");
    assert_eq!(validator(&host, 2).tokens, 1_950);
    assert_eq!(validator(&host, 1).tokens, 950);
}
