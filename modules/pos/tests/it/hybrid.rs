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

mod with_the_web_of_trust {
    //! The web of trust as the membership source: its joins and leaves reach pos through `call`.

    use cairn_module_pos::contract as pos;
    use cairn_module_pos::msg::{ExecuteMsg, Hybrid, InitMsg, Params, QueryMsg, ValidatorInfo};
    use cairn_module_wot::contract as wot;
    use cairn_module_wot::msg as wot_msg;
    use cairn_sdk::testing::{MockHost, addr};

    const WOT_ADDR: u8 = 0xc0; // the mock host's default module address
    const POS_ADDR: u8 = 0xa2;

    #[test]
    fn wot_sink_message_is_pos_set_members() {
        let (add, remove) = (vec![addr(1)], vec![addr(2)]);
        assert_eq!(
            borsh::to_vec(&wot_msg::SinkMsg::SetMembers { add: add.clone(), remove: remove.clone() })
                .unwrap(),
            borsh::to_vec(&ExecuteMsg::SetMembers { add, remove }).unwrap()
        );
    }

    fn chain(hybrid: bool) -> MockHost {
        let host = MockHost::new();
        host.set_contract(addr(POS_ADDR));
        let h = hybrid.then(|| Hybrid { membership_source: addr(WOT_ADDR), max_power_per_member: 100 });
        let init = InitMsg {
            params: Params { hybrid: h, ..crate::common::params() },
            balances: vec![(addr(9), 10_000)],
            validators: vec![(addr(9), 1_000)],
            members: vec![],
        };
        host.instantiate(pos::instantiate, &init).unwrap();
        host.register_module(addr(POS_ADDR), pos::execute);
        host.set_contract(addr(WOT_ADDR));
        let p = wot_msg::Params { membership_sink: Some(addr(POS_ADDR)), ..wot_params() };
        let init = wot_msg::InitMsg::full_mesh(p, (1..=4).map(addr).collect(), vec![]);
        host.instantiate(wot::instantiate, &init).unwrap();
        host
    }

    fn wot_params() -> wot_msg::Params {
        wot_msg::Params { cert_period: 1, max_issued: 10, ..wot_msg::Params::default() }
    }

    fn pos_power(host: &MockHost, who: u8) -> u64 {
        host.set_contract(addr(POS_ADDR));
        let v: Option<ValidatorInfo> =
            host.query_as(pos::query, &QueryMsg::Validator { who: addr(who) }).unwrap();
        host.set_contract(addr(WOT_ADDR));
        v.unwrap().power
    }

    fn wot_run(host: &MockHost, who: u8, msg: wot_msg::ExecuteMsg) -> Result<(), String> {
        host.set_caller(addr(who));
        host.execute(wot::execute, &msg).map(|_| ())
    }

    #[test]
    fn joining_the_web_gives_stake_its_power_and_leaving_takes_it() {
        let host = chain(true);
        assert_eq!(pos_power(&host, 9), 0, "9 is not a member yet");
        for a in 1..=3 {
            wot_run(&host, a, wot_msg::ExecuteMsg::Certify { to: addr(9) }).unwrap();
        }
        wot_run(&host, 9, wot_msg::ExecuteMsg::Join).unwrap();
        assert_eq!(pos_power(&host, 9), 100, "a member: its 1,000 tokens count, capped at 100");
        wot_run(&host, 9, wot_msg::ExecuteMsg::Leave).unwrap();
        assert_eq!(pos_power(&host, 9), 0);
    }

    #[test]
    fn a_sink_that_refuses_fails_the_join() {
        let host = chain(false);
        for a in 1..=3 {
            wot_run(&host, a, wot_msg::ExecuteMsg::Certify { to: addr(9) }).unwrap();
        }
        let err = wot_run(&host, 9, wot_msg::ExecuteMsg::Join).unwrap_err();
        assert!(err.contains("this pos module is not in hybrid mode"), "{err}");
        let m: Option<wot_msg::MemberInfo> =
            host.query_as(wot::query, &wot_msg::QueryMsg::Member { who: addr(9) }).unwrap();
        assert_eq!(m, None, "the join was rolled back");
    }
}
