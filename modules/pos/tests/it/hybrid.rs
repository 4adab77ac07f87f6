//! Hybrid weighting: stake counts only for web-of-trust members, capped per member.

use cairn_module_pos::msg::{ExecuteMsg, Hybrid, Params};
use cairn_sdk::hex;
use cairn_sdk::testing::addr;

use crate::common::*;

const WOT: u8 = 50;

fn hybrid() -> Params {
    Params { hybrid: Some(Hybrid { membership_source: addr(WOT), max_power_per_member: 1_500 }), ..params() }
}

#[test]
fn only_members_have_power_and_it_is_capped() {
    let host = setup_with(hybrid(), &[(1, 1_000), (2, 5_000), (3, 1_000)], &[1, 2]);
    assert_eq!(updates(&host), vec![(addr(1), 1_000), (addr(2), 1_500)], "3 is not a member; 2 is capped");
    assert_eq!(
        run(&host, 1, ExecuteMsg::SetMembers { add: vec![addr(3)], remove: vec![] }).unwrap_err(),
        format!("{} may not change the member list: only {} does", hex(&addr(1)), hex(&addr(WOT)))
    );
    run(&host, WOT, ExecuteMsg::SetMembers { add: vec![addr(3)], remove: vec![addr(2)] }).unwrap();
    assert_eq!(updates(&host), vec![(addr(2), 0), (addr(3), 1_000)]);
    // Buying more stake does not lift a member past the cap.
    run(&host, 9, ExecuteMsg::Delegate { validator: addr(1), amount: 9_000 }).unwrap();
    assert_eq!(updates(&host), vec![(addr(1), 1_500)]);
}

#[test]
fn set_members_needs_the_hybrid_mode() {
    let host = setup(&[(1, 1_000)]);
    assert_eq!(
        run(&host, WOT, ExecuteMsg::SetMembers { add: vec![], remove: vec![] }).unwrap_err(),
        "this pos module is not in hybrid mode: it has no member list"
    );
}
