//! Random proposals and votes: whatever happens, the set stays within its bounds, and the validator updates the
//! chain receives, applied in order to the genesis set, always reproduce the authority set (the Sybil seam's
//! contract with the chain).

use std::collections::BTreeMap;

use cairn_module_poa::contract::{end_block, execute, instantiate, query, validator_set_updates};
use cairn_module_poa::msg::{Action, Address, ExecuteMsg, InitMsg, ProposalStatus, QueryMsg, Status};
use cairn_sdk::testing::{MockHost, addr};
use proptest::prelude::*;

const MAX: u32 = 6;

#[derive(Clone, Debug)]
enum Step {
    Propose { by: u8, action: Action },
    Vote { by: u8, id: u64, approve: bool },
    EndBlock,
}

fn step() -> impl Strategy<Value = Step> {
    let who = 1u8..9;
    let power = 1u64..5;
    let action = prop_oneof![
        (who.clone(), power.clone()).prop_map(|(k, power)| Action::Admit { key: addr(k), power }),
        who.clone().prop_map(|k| Action::Remove { key: addr(k) }),
        (who.clone(), power).prop_map(|(k, power)| Action::SetPower { key: addr(k), power }),
    ];
    prop_oneof![
        2 => (who.clone(), action).prop_map(|(by, action)| Step::Propose { by, action }),
        5 => (who, 0u64..12, prop::bool::weighted(0.8)).prop_map(|(by, id, approve)| Step::Vote { by, id, approve }),
        1 => Just(Step::EndBlock),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn updates_reproduce_the_authority_set(steps in proptest::collection::vec(step(), 1..80)) {
        let host = MockHost::new();
        host.instantiate(instantiate, &InitMsg {
            authorities: vec![(addr(1), 2), (addr(2), 1), (addr(3), 1), (addr(4), 1)],
            max_authorities: MAX,
            proposal_ttl: 5,
        }).unwrap();
        // The chain's view: starts empty and applies every drained update (power 0 removes).
        let mut chain: BTreeMap<Address, u64> = BTreeMap::new();
        for step in &steps {
            match step {
                Step::Propose { by, action } => {
                    host.set_caller(addr(*by));
                    let r: Result<ProposalStatus, String> =
                        host.execute_as(execute, &ExecuteMsg::Propose { action: action.clone() });
                    if let Ok(s) = r {
                        prop_assert!(matches!(s.status, Status::Open | Status::Passed | Status::Rejected));
                    }
                }
                Step::Vote { by, id, approve } => {
                    host.set_caller(addr(*by));
                    let _ = host.execute(execute, &ExecuteMsg::Vote { id: *id, approve: *approve });
                }
                Step::EndBlock => {
                    host.end_block(end_block).unwrap();
                    for (key, power) in host.validator_set_updates(validator_set_updates).unwrap() {
                        if power == 0 { chain.remove(&key); } else { chain.insert(key, power); }
                    }
                    host.advance_blocks(1);
                }
            }
            let set: Vec<(Address, u64)> = host.query_as(query, &QueryMsg::Authorities).unwrap();
            prop_assert!(!set.is_empty() && set.len() <= MAX as usize, "set size {}", set.len());
            prop_assert!(set.iter().all(|(_, p)| *p > 0));
        }
        for (key, power) in host.validator_set_updates(validator_set_updates).unwrap() {
            if power == 0 { chain.remove(&key); } else { chain.insert(key, power); }
        }
        let set: Vec<(Address, u64)> = host.query_as(query, &QueryMsg::Authorities).unwrap();
        prop_assert_eq!(chain.into_iter().collect::<Vec<_>>(), set);
    }
}
