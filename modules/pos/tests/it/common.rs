//! Helpers shared by the proof-of-stake tests.

use cairn_module_pos::contract::{end_block, execute, instantiate, query, validator_set_updates};
use cairn_module_pos::msg::{
    Address, BeginBlockInfo, ExecuteMsg, InitMsg, Misbehaviour, MisbehaviourKind, Params, QueryMsg,
    ValidatorInfo,
};
use cairn_sdk::testing::{MockHost, addr};

pub const SYSTEM: u8 = 0;

pub fn params() -> Params {
    Params {
        unbonding_period: 10,
        max_validators: 10,
        power_reduction: 1,
        slash_double_sign_ppm: 50_000,
        slash_downtime_ppm: 10_000,
        signed_blocks_window: 10,
        min_signed_pct: 50,
        downtime_jail_blocks: 20,
        max_evidence_age: 100,
        max_entries: 3,
        max_delegations: 4,
        min_self_bond: 100,
        max_work_per_block: 100,
        system: addr(SYSTEM),
        hybrid: None,
    }
}

/// Validators `vals` (id, self-bond); every account 1..=20 holds 10,000 free tokens.
pub fn setup_with(p: Params, vals: &[(u8, u128)], members: &[u8]) -> MockHost {
    let host = MockHost::new();
    host.set_height(1);
    let init = InitMsg {
        params: p,
        balances: (1..=20).map(|i| (addr(i), 10_000)).collect(),
        validators: vals.iter().map(|&(v, a)| (addr(v), a)).collect(),
        members: members.iter().map(|&m| addr(m)).collect(),
    };
    host.instantiate(instantiate, &init).expect("instantiate");
    host
}

pub fn setup(vals: &[(u8, u128)]) -> MockHost {
    setup_with(params(), vals, &[])
}

pub fn run(host: &MockHost, who: u8, msg: ExecuteMsg) -> Result<(), String> {
    host.set_caller(addr(who));
    host.execute(execute, &msg).map(|_| ())
}

pub fn balance(host: &MockHost, who: u8) -> u128 {
    host.query_as(query, &QueryMsg::Balance { who: addr(who) }).unwrap()
}

pub fn validator(host: &MockHost, who: u8) -> ValidatorInfo {
    let v: Option<ValidatorInfo> = host.query_as(query, &QueryMsg::Validator { who: addr(who) }).unwrap();
    v.expect("a validator")
}

pub fn delegation(host: &MockHost, d: u8, v: u8) -> u128 {
    host.query_as(query, &QueryMsg::Delegation { delegator: addr(d), validator: addr(v) }).unwrap()
}

pub fn total(host: &MockHost) -> u128 {
    host.query_as(query, &QueryMsg::TotalTokens).unwrap()
}

pub fn updates(host: &MockHost) -> Vec<(Address, u64)> {
    host.validator_set_updates(validator_set_updates).unwrap()
}

pub fn end_block_at(host: &MockHost, height: u64) {
    host.set_height(height);
    host.end_block(end_block).unwrap();
}

/// Block `height` begins: `signers` signed the previous one, `evidence` is (offender, offence height).
pub fn begin_block(
    host: &MockHost,
    height: u64,
    signers: &[u8],
    evidence: &[(u8, u64)],
) -> Result<(), String> {
    host.set_height(height);
    let info = BeginBlockInfo {
        signers: Some(signers.iter().map(|&s| addr(s)).collect()),
        misbehaviour: evidence
            .iter()
            .map(|&(o, h)| Misbehaviour {
                offender: addr(o),
                height: h,
                kind: MisbehaviourKind::DuplicateVote,
            })
            .collect(),
    };
    run(host, SYSTEM, ExecuteMsg::BeginBlock(info))
}
