//! Bond, delegate, unbond, redelegate; the top-N set.

use cairn_module_pos::msg::{ExecuteMsg, Params};
use cairn_sdk::hex;
use cairn_sdk::testing::addr;

use crate::common::*;

#[test]
fn bond_delegate_unbond_timings() {
    let host = setup(&[(1, 1_000)]);
    assert_eq!(updates(&host), vec![(addr(1), 1_000)], "the genesis validator is announced");
    host.set_height(5);
    run(&host, 2, ExecuteMsg::Delegate { validator: addr(1), amount: 500 }).unwrap();
    assert_eq!(balance(&host, 2), 9_500);
    assert_eq!(updates(&host), vec![(addr(1), 1_500)]);
    assert_eq!(updates(&host), vec![], "nothing changed since");

    host.set_height(20);
    run(&host, 2, ExecuteMsg::Unbond { validator: addr(1), amount: 200 }).unwrap();
    assert_eq!(updates(&host), vec![(addr(1), 1_300)], "unbonding stake stops counting at once");
    end_block_at(&host, 29);
    assert_eq!(balance(&host, 2), 9_500, "not free before unbonding_period = 10 blocks");
    end_block_at(&host, 30);
    assert_eq!(balance(&host, 2), 9_700);
    assert_eq!(delegation(&host, 2, 1), 300);
    assert_eq!(total(&host), 20 * 10_000, "no token created or lost");
}

#[test]
fn bad_bonds_are_rejected_with_reasons() {
    let host = setup(&[(1, 1_000)]);
    assert_eq!(
        run(&host, 2, ExecuteMsg::Delegate { validator: addr(3), amount: 5 }).unwrap_err(),
        format!("{} is not a validator", hex(&addr(3)))
    );
    assert_eq!(
        run(&host, 2, ExecuteMsg::Bond { amount: 99 }).unwrap_err(),
        "a new validator bonds at least min_self_bond = 100, not 99"
    );
    assert_eq!(
        run(&host, 2, ExecuteMsg::Delegate { validator: addr(1), amount: 10_001 }).unwrap_err(),
        format!("insufficient free balance: {} has 10000, needs 10001", hex(&addr(2)))
    );
    assert_eq!(
        run(&host, 2, ExecuteMsg::Unbond { validator: addr(1), amount: 1 }).unwrap_err(),
        format!("{} has nothing bonded to {}", hex(&addr(2)), hex(&addr(1)))
    );
    run(&host, 2, ExecuteMsg::Delegate { validator: addr(1), amount: 10 }).unwrap();
    assert_eq!(
        run(&host, 2, ExecuteMsg::Unbond { validator: addr(1), amount: 11 }).unwrap_err(),
        format!("{} has 10 bonded to {}, not 11", hex(&addr(2)), hex(&addr(1)))
    );
}

#[test]
fn unbonding_entries_are_capped_per_pair() {
    let host = setup(&[(1, 1_000)]);
    run(&host, 2, ExecuteMsg::Delegate { validator: addr(1), amount: 100 }).unwrap();
    for h in 2..5 {
        host.set_height(h);
        run(&host, 2, ExecuteMsg::Unbond { validator: addr(1), amount: 1 }).unwrap();
    }
    host.set_height(5);
    assert!(
        run(&host, 2, ExecuteMsg::Unbond { validator: addr(1), amount: 1 })
            .unwrap_err()
            .contains("already has 3 unbonding or redelegation entries"),
    );
    end_block_at(&host, 12);
    host.set_height(12);
    run(&host, 2, ExecuteMsg::Unbond { validator: addr(1), amount: 1 }).unwrap();
}

#[test]
fn top_n_by_power() {
    let host = setup_with(Params { max_validators: 2, ..params() }, &[(1, 300), (2, 200), (3, 100)], &[]);
    assert_eq!(updates(&host), vec![(addr(1), 300), (addr(2), 200)]);
    host.set_height(5);
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(3), amount: 250 }).unwrap();
    assert_eq!(
        updates(&host),
        vec![(addr(2), 0), (addr(3), 350)],
        "3 overtakes 2, which leaves with power 0"
    );
    // A tie is broken by address: 2 rising to 1's 300 stays out.
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(2), amount: 100 }).unwrap();
    assert_eq!(updates(&host), vec![]);
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(2), amount: 1 }).unwrap();
    assert_eq!(updates(&host), vec![(addr(1), 0), (addr(2), 301)]);
}

#[test]
fn redelegation_moves_power_now_and_is_not_transitive() {
    let host = setup(&[(1, 1_000), (2, 1_000), (3, 1_000)]);
    updates(&host);
    host.set_height(5);
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(1), amount: 500 }).unwrap();
    run(&host, 9, ExecuteMsg::Redelegate { src: addr(1), dst: addr(2), amount: 300 }).unwrap();
    assert_eq!(updates(&host), vec![(addr(1), 1_200), (addr(2), 1_300)]);
    assert_eq!(
        run(&host, 9, ExecuteMsg::Redelegate { src: addr(2), dst: addr(3), amount: 100 }).unwrap_err(),
        format!(
            "{} redelegated into {} until height 15: no onward redelegation before then",
            hex(&addr(9)),
            hex(&addr(2))
        )
    );
    end_block_at(&host, 15);
    run(&host, 9, ExecuteMsg::Redelegate { src: addr(2), dst: addr(3), amount: 100 }).unwrap();
}
