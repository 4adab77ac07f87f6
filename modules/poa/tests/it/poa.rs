//! Proof of authority on the mock host.

use cairn_module_poa::contract::{end_block, execute, instantiate, query, validator_set_updates};
use cairn_module_poa::msg::{
    Action, Address, Config, ExecuteMsg, InitMsg, Proposal, ProposalStatus, QueryMsg, Status, passes,
};
use cairn_sdk::hex;
use cairn_sdk::testing::{MockHost, addr};

const TTL: u64 = 10;

fn setup(authorities: &[(u8, u64)], max: u32) -> MockHost {
    let host = MockHost::new();
    host.set_height(100);
    host.instantiate(
        instantiate,
        &InitMsg {
            authorities: authorities.iter().map(|&(a, p)| (addr(a), p)).collect(),
            max_authorities: max,
            proposal_ttl: TTL,
        },
    )
    .expect("instantiate");
    host
}

fn run(host: &MockHost, sender: u8, msg: ExecuteMsg) -> Result<ProposalStatus, String> {
    host.set_caller(addr(sender));
    host.execute_as(execute, &msg)
}

fn propose(host: &MockHost, sender: u8, action: Action) -> Result<ProposalStatus, String> {
    run(host, sender, ExecuteMsg::Propose { action })
}

fn vote(host: &MockHost, sender: u8, id: u64, approve: bool) -> Result<ProposalStatus, String> {
    run(host, sender, ExecuteMsg::Vote { id, approve })
}

fn authorities(host: &MockHost) -> Vec<(Address, u64)> {
    host.query_as(query, &QueryMsg::Authorities).unwrap()
}

fn updates(host: &MockHost) -> Vec<(Address, u64)> {
    host.validator_set_updates(validator_set_updates).unwrap()
}

fn open(id: u64) -> ProposalStatus {
    ProposalStatus { id, status: Status::Open }
}
fn passed(id: u64) -> ProposalStatus {
    ProposalStatus { id, status: Status::Passed }
}

#[test]
fn four_authorities_admit_a_fifth_and_remove_one() {
    let host = setup(&[(1, 10), (2, 10), (3, 10), (4, 10)], 10);
    // The genesis set is announced once.
    assert_eq!(updates(&host), vec![(addr(1), 10), (addr(2), 10), (addr(3), 10), (addr(4), 10)]);
    assert_eq!(updates(&host), vec![]);

    // Admit 5: 1 proposes (10/40), 2 votes (20/40), 3 votes (30/40 > 2/3) → passed.
    assert_eq!(propose(&host, 1, Action::Admit { key: addr(5), power: 10 }), Ok(open(0)));
    assert_eq!(vote(&host, 2, 0, true), Ok(open(0)));
    assert_eq!(vote(&host, 3, 0, true), Ok(passed(0)));
    assert_eq!(authorities(&host).len(), 5);
    assert_eq!(updates(&host), vec![(addr(5), 10)]);

    // Remove 4 with 50 total: needs > 33.3, i.e. four yes votes of 10.
    assert_eq!(propose(&host, 5, Action::Remove { key: addr(4) }), Ok(open(1)));
    assert_eq!(vote(&host, 1, 1, true), Ok(open(1)));
    assert_eq!(vote(&host, 2, 1, true), Ok(open(1)));
    assert_eq!(vote(&host, 3, 1, true), Ok(passed(1)));
    assert_eq!(authorities(&host), vec![(addr(1), 10), (addr(2), 10), (addr(3), 10), (addr(5), 10)]);
    assert_eq!(updates(&host), vec![(addr(4), 0)]);
    assert_eq!(updates(&host), vec![], "updates are drained once");

    // The removed authority can no longer act.
    let err = propose(&host, 4, Action::Remove { key: addr(1) }).unwrap_err();
    assert_eq!(err, format!("{} is not an authority", hex(&addr(4))));
    let changes: Vec<_> = host.take_events().into_iter().filter(|e| e.kind == "authority_changed").collect();
    assert_eq!(changes.len(), 2);
}

#[test]
fn proposals_and_votes_by_non_authorities_are_rejected() {
    let host = setup(&[(1, 1), (2, 1), (3, 1), (4, 1)], 10);
    let err = propose(&host, 9, Action::Admit { key: addr(9), power: 1 }).unwrap_err();
    assert_eq!(err, format!("{} is not an authority", hex(&addr(9))));
    propose(&host, 1, Action::Admit { key: addr(9), power: 1 }).unwrap();
    let err = vote(&host, 9, 0, true).unwrap_err();
    assert_eq!(err, format!("{} is not an authority", hex(&addr(9))));
    let proposal: Option<Proposal> = host.query_as(query, &QueryMsg::Proposal { id: 0 }).unwrap();
    assert_eq!(proposal.unwrap().yes, vec![addr(1)], "the rejected vote left no trace");
}

#[test]
fn threshold_is_strictly_more_than_two_thirds() {
    assert!(!passes(2, 3));
    assert!(passes(3, 4));
    assert!(!passes(20, 30));
    assert!(passes(21, 30));
    assert!(!passes(0, 0));
    assert!(passes(u128::from(u64::MAX), u128::from(u64::MAX)));

    // Weights 2,1,1,1,1 (total 6): yes must weigh > 4, so 4 is not enough and 5 is.
    let host = setup(&[(1, 2), (2, 1), (3, 1), (4, 1), (5, 1)], 10);
    propose(&host, 1, Action::Admit { key: addr(9), power: 1 }).unwrap();
    assert_eq!(vote(&host, 2, 0, true), Ok(open(0))); // 3/6
    assert_eq!(vote(&host, 3, 0, true), Ok(open(0))); // 4/6: exactly 2/3 does not pass
    assert_eq!(vote(&host, 4, 0, true), Ok(passed(0))); // 5/6

    // Three equal authorities: 2 of 3 is exactly 2/3 and not enough.
    drop(host);
    let host = setup(&[(1, 1), (2, 1), (3, 1)], 10);
    propose(&host, 1, Action::Remove { key: addr(3) }).unwrap();
    assert_eq!(vote(&host, 2, 0, true), Ok(open(0)));
    assert_eq!(vote(&host, 3, 0, true), Ok(passed(0)));
}

#[test]
fn enough_no_weight_rejects_a_proposal() {
    let host = setup(&[(1, 1), (2, 1), (3, 1), (4, 1)], 10);
    propose(&host, 1, Action::Admit { key: addr(9), power: 1 }).unwrap();
    // One no out of 4: yes could still reach 3/4 > 2/3.
    assert_eq!(vote(&host, 2, 0, false), Ok(open(0)));
    // Two no: at most 2/4 yes remain.
    assert_eq!(vote(&host, 3, 0, false), Ok(ProposalStatus { id: 0, status: Status::Rejected }));
    let proposals: Vec<Proposal> = host.query_as(query, &QueryMsg::Proposals).unwrap();
    assert!(proposals.is_empty());
    assert_eq!(authorities(&host).len(), 4);
}

#[test]
fn a_single_authority_with_most_weight_passes_alone() {
    let host = setup(&[(1, 7), (2, 1), (3, 1)], 10);
    assert_eq!(propose(&host, 1, Action::SetPower { key: addr(2), power: 5 }), Ok(passed(0)));
    assert_eq!(authorities(&host), vec![(addr(1), 7), (addr(2), 5), (addr(3), 1)]);
}

#[test]
fn the_set_cannot_grow_past_its_maximum() {
    let host = setup(&[(1, 1), (2, 1), (3, 1)], 4);
    propose(&host, 1, Action::Admit { key: addr(4), power: 1 }).unwrap();
    vote(&host, 2, 0, true).unwrap();
    assert_eq!(vote(&host, 3, 0, true), Ok(passed(0)));
    let err = propose(&host, 1, Action::Admit { key: addr(5), power: 1 }).unwrap_err();
    assert_eq!(err, "the authority set is full (4 authorities, the maximum)");
}

#[test]
fn a_passing_proposal_that_no_longer_applies_is_rejected() {
    // Two admits opened while there is room for one; the second fails when it passes.
    let host = setup(&[(1, 1), (2, 1), (3, 1)], 4);
    propose(&host, 1, Action::Admit { key: addr(4), power: 1 }).unwrap();
    propose(&host, 1, Action::Admit { key: addr(5), power: 1 }).unwrap();
    vote(&host, 2, 0, true).unwrap();
    assert_eq!(vote(&host, 3, 0, true), Ok(passed(0)));
    // Now 1,2,3 of 4 equal authorities: 3/4 passes, but the set is full.
    assert_eq!(vote(&host, 2, 1, true), Ok(open(1)));
    assert_eq!(vote(&host, 3, 1, true), Ok(ProposalStatus { id: 1, status: Status::Rejected }));
    assert_eq!(authorities(&host).len(), 4);
    let rejected = host.take_events().into_iter().find(|e| e.kind == "proposal_rejected").unwrap();
    assert!(rejected.attributes.iter().any(|(k, v)| k == "reason" && v.contains("full")), "{rejected:?}");
}

#[test]
fn proposals_expire() {
    let host = setup(&[(1, 1), (2, 1), (3, 1), (4, 1)], 10);
    propose(&host, 1, Action::Admit { key: addr(9), power: 1 }).unwrap(); // at height 100, open below 110
    host.set_height(109);
    assert_eq!(vote(&host, 2, 0, true), Ok(open(0)));
    host.set_height(110);
    let err = vote(&host, 3, 0, true).unwrap_err();
    assert_eq!(err, "proposal 0 expired at height 110 (now 110)");
    // end_block of 108 keeps it (still votable at 109); of 109 removes it.
    host.set_height(108);
    host.end_block(end_block).unwrap();
    assert_eq!(host.query_as::<Vec<Proposal>, _, _, _, _>(query, &QueryMsg::Proposals).unwrap().len(), 1);
    host.set_height(109);
    host.end_block(end_block).unwrap();
    assert!(host.query_as::<Vec<Proposal>, _, _, _, _>(query, &QueryMsg::Proposals).unwrap().is_empty());
    assert!(host.take_events().iter().any(|e| e.kind == "proposal_expired"));
}

#[test]
fn double_votes_and_bad_actions_are_rejected() {
    let host = setup(&[(1, 1), (2, 1), (3, 1), (4, 1)], 10);
    propose(&host, 1, Action::Admit { key: addr(9), power: 1 }).unwrap();
    let err = vote(&host, 1, 0, true).unwrap_err();
    assert_eq!(err, format!("{} already voted on proposal 0", hex(&addr(1))));
    assert!(vote(&host, 2, 7, true).unwrap_err().starts_with("no open proposal 7"));
    assert_eq!(
        propose(&host, 1, Action::Admit { key: addr(2), power: 1 }).unwrap_err(),
        format!("{} is already an authority", hex(&addr(2)))
    );
    assert_eq!(
        propose(&host, 1, Action::Remove { key: addr(8) }).unwrap_err(),
        format!("{} is not an authority", hex(&addr(8)))
    );
    assert!(propose(&host, 1, Action::Admit { key: addr(8), power: 0 }).unwrap_err().contains("positive"));
    assert!(
        propose(&host, 1, Action::SetPower { key: addr(2), power: 1 }).unwrap_err().contains("already has")
    );
}

#[test]
fn the_last_authority_cannot_be_removed() {
    let host = setup(&[(1, 1)], 3);
    assert_eq!(
        propose(&host, 1, Action::Remove { key: addr(1) }).unwrap_err(),
        "cannot remove the last authority"
    );
}

#[test]
fn several_changes_to_one_key_in_a_block_collapse_into_the_last() {
    let host = setup(&[(1, 10)], 3);
    updates(&host);
    propose(&host, 1, Action::Admit { key: addr(2), power: 1 }).unwrap();
    propose(&host, 1, Action::SetPower { key: addr(2), power: 3 }).unwrap();
    assert_eq!(
        host.query_as::<Vec<(Address, u64)>, _, _, _, _>(query, &QueryMsg::PendingUpdates).unwrap(),
        vec![(addr(2), 3)]
    );
    propose(&host, 1, Action::Remove { key: addr(2) }).unwrap();
    assert_eq!(updates(&host), vec![(addr(2), 0)]);
}

#[test]
fn invalid_genesis_is_rejected() {
    let host = MockHost::new();
    let init = |authorities: Vec<(Address, u64)>, max, ttl| {
        host.instantiate(instantiate, &InitMsg { authorities, max_authorities: max, proposal_ttl: ttl })
    };
    assert_eq!(init(vec![], 3, 5).unwrap_err(), "the genesis authority set is empty");
    assert_eq!(
        init(vec![(addr(1), 1), (addr(2), 1)], 1, 5).unwrap_err(),
        "2 genesis authorities exceed max_authorities = 1"
    );
    assert_eq!(init(vec![(addr(1), 1)], 1, 0).unwrap_err(), "proposal_ttl must be at least 1 block");
    assert_eq!(
        init(vec![(addr(1), 1), (addr(1), 2)], 3, 5).unwrap_err(),
        format!("duplicate genesis authority {}", hex(&addr(1)))
    );
    assert!(init(vec![(addr(1), u64::MAX), (addr(2), 1)], 3, 5).unwrap_err().contains("total power"));
    assert!(host.storage(&host.env().contract).is_empty());
    init(vec![(addr(1), 1)], 3, 5).unwrap();
    let config: Config = host.query_as(query, &QueryMsg::Config).unwrap();
    assert_eq!(config, Config { max_authorities: 3, proposal_ttl: 5 });
}

#[test]
fn queries_are_read_only() {
    // The query entry point cannot be used to smuggle writes: the mock host enforces it like the real one.
    let host = setup(&[(1, 1)], 3);
    let err = host.query(validator_set_updates_as_query, &()).unwrap_err();
    assert_eq!(err, "storage_remove is not allowed in a query (queries are read-only)");
}

fn validator_set_updates_as_query(
    env: &cairn_sdk::Env,
    _: (),
) -> Result<Vec<(Address, u64)>, cairn_sdk::Error> {
    validator_set_updates(env)
}

#[test]
fn end_block_closes_exactly_the_expired_proposals() {
    let host = setup(&[(1, 1), (2, 1), (3, 1), (4, 1)], 10);
    for (height, key) in [(100, 10), (103, 11), (105, 12)] {
        host.set_height(height);
        propose(&host, 1, Action::Admit { key: addr(key), power: 1 }).unwrap(); // open below height + 10
    }
    // A proposal that closes by vote leaves no expiry behind to trip over.
    host.set_height(106);
    propose(&host, 1, Action::Admit { key: addr(13), power: 1 }).unwrap();
    vote(&host, 2, 3, false).unwrap();
    assert_eq!(vote(&host, 3, 3, false).unwrap().status, Status::Rejected);

    let open_ids = |host: &MockHost| -> Vec<u64> {
        let all: Vec<Proposal> = host.query_as(query, &QueryMsg::Proposals).unwrap();
        all.into_iter().map(|p| p.id).collect()
    };
    host.take_events();
    host.set_height(112); // proposal 0 (expires 110) and 1 (expires 113) cannot be voted at 113
    host.end_block(end_block).unwrap();
    assert_eq!(open_ids(&host), vec![2]);
    let expired: Vec<String> = host
        .take_events()
        .into_iter()
        .filter(|e| e.kind == "proposal_expired")
        .map(|e| e.attributes[0].1.clone())
        .collect();
    assert_eq!(expired, vec!["0", "1"]);
    host.set_height(200);
    host.end_block(end_block).unwrap();
    assert!(open_ids(&host).is_empty());
    assert!(
        host.storage(&host.env().contract).keys().all(|k| !k.starts_with(&[0, 6, b'e'])),
        "expiry index is empty"
    );
}
