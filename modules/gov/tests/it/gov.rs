//! Governance on the mock host: bad proposals, passing, failing and vetoed ones, the action queue.

use cairn_module_gov::contract::{end_block, execute, instantiate, query};
use cairn_module_gov::msg::{
    Action, ExecuteMsg, InitMsg, Params, Proposal, QueryMsg, Status, UploadPermission, VoteOption,
};
use cairn_sdk::hex;
use cairn_sdk::testing::{MockHost, addr};

const WOT: u8 = 0xa1;
const POS: u8 = 0xa2;

fn setup() -> MockHost {
    let host = MockHost::new();
    host.set_height(100);
    let params = Params {
        min_deposit: 100,
        voting_period: 10,
        min_enactment_delay: 5,
        sybil_modules: vec![addr(WOT), addr(POS)],
        engines: vec!["bft".into()],
        ..Params::default()
    };
    let init = InitMsg {
        params,
        validators: (1..=4).map(|i| (addr(i), 10)).collect(),
        balances: (1..=9).map(|i| (addr(i), 1_000)).collect(),
    };
    host.instantiate(instantiate, &init).unwrap();
    host
}

fn propose(host: &MockHost, who: u8, action: Action, deposit: u128) -> Result<u64, String> {
    host.set_caller(addr(who));
    host.execute_as(execute, &ExecuteMsg::Propose { action, deposit })
}

fn vote(host: &MockHost, who: u8, id: u64, option: VoteOption) -> Result<(), String> {
    host.set_caller(addr(who));
    host.execute(execute, &ExecuteMsg::Vote { id, option }).map(|_| ())
}

fn proposal(host: &MockHost, id: u64) -> Proposal {
    let p: Option<Proposal> = host.query_as(query, &QueryMsg::Proposal { id }).unwrap();
    p.unwrap()
}

fn balance(host: &MockHost, who: u8) -> u128 {
    host.query_as(query, &QueryMsg::Balance { who: addr(who) }).unwrap()
}

fn pending(host: &MockHost) -> Vec<(u64, Action)> {
    host.query_as(query, &QueryMsg::PendingActions).unwrap()
}

fn end_at(host: &MockHost, h: u64) {
    host.set_height(h);
    host.end_block(end_block).unwrap();
}

fn switch(module: u8, height: u64) -> Action {
    Action::SwitchSybil { module: addr(module), height }
}

#[test]
fn bad_proposals_are_rejected_saying_why() {
    let host = setup();
    assert_eq!(
        propose(&host, 1, switch(WOT, 50), 100).unwrap_err(),
        "switch height 50 is in the past (the chain is at height 100)"
    );
    assert_eq!(
        propose(&host, 1, switch(WOT, 112), 100).unwrap_err(),
        "switch height 112 is too soon: the vote ends at 110 and min_enactment_delay is 5, so the earliest height is 115"
    );
    assert_eq!(
        propose(&host, 1, switch(0x77, 200), 100).unwrap_err(),
        format!(
            "{} is not a Sybil module: it is not among the instantiated modules that export validator_set_updates",
            hex(&addr(0x77))
        )
    );
    assert_eq!(
        propose(&host, 9, switch(WOT, 200), 100).unwrap_err(),
        format!("{} is not a validator: only validators propose", hex(&addr(9)))
    );
    assert_eq!(
        propose(&host, 1, switch(WOT, 200), 99).unwrap_err(),
        "deposit 99 is below the minimum deposit of 100"
    );
    assert_eq!(
        propose(&host, 1, Action::SwitchEngine { engine: "snow".into(), height: 200, params: vec![] }, 100)
            .unwrap_err(),
        "unknown consensus engine \"snow\" (this chain runs: bft)"
    );
    let err = propose(&host, 1, Action::SetParam { key: "gas".into(), value: vec![] }, 100).unwrap_err();
    assert!(
        err.starts_with(
            "unknown chain parameter \"gas\" (settable: max_tx_fuel, max_block_fuel, prices.call_base,"
        ) && err.ends_with("prices.upload_per_byte)"),
        "{err}"
    );
    assert_eq!(balance(&host, 1), 1_000, "no deposit was taken");
    assert!(pending(&host).is_empty());
}

#[test]
fn a_passed_switch_is_queued_for_the_host() {
    let host = setup();
    let id = propose(&host, 1, switch(WOT, 200), 100).unwrap();
    assert_eq!(balance(&host, 1), 900, "the deposit is locked");
    vote(&host, 2, id, VoteOption::Yes).unwrap();
    vote(&host, 3, id, VoteOption::No).unwrap();
    assert_eq!(
        vote(&host, 9, id, VoteOption::Yes).unwrap_err(),
        format!("{} is not a validator: only validators vote", hex(&addr(9)))
    );
    end_at(&host, 109);
    assert_eq!(proposal(&host, id).status, Status::Open);
    end_at(&host, 110);
    let p = proposal(&host, id);
    assert_eq!((p.status, p.outcome.as_str()), (Status::Passed, "20 yes of 30"));
    assert_eq!(balance(&host, 1), 1_000, "refunded");
    assert_eq!(pending(&host), vec![(id, switch(WOT, 200))]);
    let ev = host.take_events().into_iter().find(|e| e.kind == "gov_action").unwrap();
    assert!(ev.attributes.contains(&("kind".into(), "switch_sybil".into())));
    assert!(ev.attributes.contains(&("height".into(), "200".into())));

    host.set_caller(addr(1));
    assert!(host.execute(execute, &ExecuteMsg::AckAction { id }).unwrap_err().contains("only the host"));
    host.set_caller(addr(0));
    host.execute(execute, &ExecuteMsg::AckAction { id }).unwrap();
    assert!(pending(&host).is_empty());
}

#[test]
fn quorum_threshold_and_veto() {
    let host = setup();
    // Only the proposer votes: 10 of 40 < 33 %.
    let a = propose(&host, 1, Action::SetUploadPermission(UploadPermission::Governance), 100).unwrap();
    // Two yes, two no: 50 % is not more than 50 %.
    let b = propose(
        &host,
        2,
        Action::SetParam { key: "max_tx_fuel".into(), value: 5u64.to_le_bytes().to_vec() },
        100,
    )
    .unwrap();
    vote(&host, 1, b, VoteOption::No).unwrap();
    vote(&host, 3, b, VoteOption::No).unwrap();
    vote(&host, 4, b, VoteOption::Yes).unwrap();
    // Vetoed by 2 of 4.
    let c = propose(&host, 3, switch(POS, 300), 100).unwrap();
    vote(&host, 1, c, VoteOption::Veto).unwrap();
    vote(&host, 2, c, VoteOption::Veto).unwrap();
    end_at(&host, 110);
    assert_eq!(proposal(&host, a).outcome, "quorum not reached: 10 of 40 voted");
    assert_eq!(proposal(&host, b).outcome, "threshold not reached: 20 yes of 40");
    assert_eq!(
        (proposal(&host, c).status, proposal(&host, c).outcome.as_str()),
        (Status::Vetoed, "vetoed by 20 of 30")
    );
    assert_eq!(balance(&host, 1), 1_000);
    assert_eq!(balance(&host, 2), 1_000);
    assert_eq!(balance(&host, 3), 900, "a vetoed proposal's deposit is burned");
    assert!(pending(&host).is_empty());
}

#[test]
fn votes_count_with_the_weights_at_the_tally() {
    let host = setup();
    let id = propose(&host, 1, switch(WOT, 200), 100).unwrap();
    vote(&host, 2, id, VoteOption::Yes).unwrap();
    vote(&host, 3, id, VoteOption::No).unwrap();
    // The host reports that 2 left the set and 3 now weighs 30.
    host.set_caller(addr(0));
    host.execute(execute, &ExecuteMsg::SetValidators { updates: vec![(addr(2), 0), (addr(3), 30)] }).unwrap();
    host.set_caller(addr(5));
    assert!(
        host.execute(execute, &ExecuteMsg::SetValidators { updates: vec![] })
            .unwrap_err()
            .contains("only the host")
    );
    end_at(&host, 110);
    assert_eq!(proposal(&host, id).outcome, "threshold not reached: 10 yes of 40");
}
