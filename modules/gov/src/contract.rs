//! Entry points: proposals, votes, the tally at the end of the voting period, and the queue of passed actions
//! the host applies.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use cairn_sdk::{Env, Error, Event, Item, Map, Raw, bail, ensure, hex};

use crate::msg::{
    Action, Address, ExecuteMsg, InitMsg, MigrateMsg, Params, Proposal, QueryMsg, SETTABLE_PARAMS, Status,
    VoteOption,
};
use crate::tally::{Tally, tally};

const STORAGE_VERSION: u32 = 1;

pub const CONFIG: Item<Params> = Item::new(b"config");
pub const VERSION: Item<u32> = Item::new(b"version");
pub const NEXT_ID: Item<u64> = Item::new(b"next_id");
pub const OPEN_COUNT: Item<u32> = Item::new(b"open");
pub const BURNED: Item<u128> = Item::new(b"burned");
pub const BALANCES: Map<Address, u128> = Map::new(b"b");
/// The current validator set (key → power), kept by the host through `SetValidators`.
pub const VALIDATORS: Map<Address, u64> = Map::new(b"v");
pub const PROPOSALS: Map<u64, Proposal> = Map::new(b"p");
/// (id, voter) → option.
pub const VOTES: Map<(u64, Address), VoteOption> = Map::new(b"vt");
/// (voting_ends_at, id): `end_block` visits only proposals that end.
pub const ENDS: Map<(u64, u64), ()> = Map::new(b"e");
/// Passed actions the host has not acknowledged yet: **the key the host reads** (see the README).
pub const ACTIONS: Map<u64, Action> = Map::new(b"act");

fn check_params(p: &Params) -> Result<(), Error> {
    ensure!(p.voting_period >= 1, "voting_period must be at least 1 block");
    ensure!(
        p.quorum_pct <= 100 && p.threshold_pct <= 100 && p.veto_pct <= 100,
        "quorum_pct, threshold_pct and veto_pct are per cent (≤ 100)"
    );
    ensure!(p.max_open_proposals >= 1, "max_open_proposals must be at least 1");
    Ok(())
}

pub fn instantiate(_env: &Env, msg: InitMsg) -> Result<(), Error> {
    check_params(&msg.params)?;
    CONFIG.save(&msg.params)?;
    VERSION.save(&STORAGE_VERSION)?;
    NEXT_ID.save(&0)?;
    OPEN_COUNT.save(&0)?;
    BURNED.save(&0)?;
    for (who, power) in &msg.validators {
        if *power > 0 {
            VALIDATORS.save(who, power)?;
        }
    }
    for (who, amount) in &msg.balances {
        ensure!(!BALANCES.has(who), "duplicate genesis balance {}", hex(who));
        BALANCES.save(who, amount)?;
    }
    Ok(())
}

pub fn execute(env: &Env, msg: ExecuteMsg) -> Result<u64, Error> {
    let p = CONFIG.load()?;
    match msg {
        ExecuteMsg::Propose { action, deposit } => propose(env, &p, action, deposit),
        ExecuteMsg::Vote { id, option } => vote(env, id, option).map(|()| id),
        ExecuteMsg::SetValidators { updates } => {
            ensure!(env.caller == p.system, "only the host (as {}) reports validators", hex(&p.system));
            for (who, power) in updates {
                if power == 0 {
                    VALIDATORS.remove(&who);
                } else {
                    VALIDATORS.save(&who, &power)?;
                }
            }
            Ok(0)
        }
        ExecuteMsg::AckAction { id } => {
            ensure!(env.caller == p.system, "only the host (as {}) acknowledges actions", hex(&p.system));
            ensure!(ACTIONS.has(&id), "no pending action {id}");
            ACTIONS.remove(&id);
            Ok(id)
        }
    }
}

/// Why `action` cannot be scheduled now, with the vote ending at `ends`.
fn check_action(p: &Params, now: u64, ends: u64, action: &Action) -> Result<(), Error> {
    let check_height = |height: u64| -> Result<(), Error> {
        ensure!(height > now, "switch height {height} is in the past (the chain is at height {now})");
        let earliest = ends.saturating_add(p.min_enactment_delay);
        ensure!(
            height >= earliest,
            "switch height {height} is too soon: the vote ends at {ends} and min_enactment_delay is {}, so the \
             earliest height is {earliest}",
            p.min_enactment_delay
        );
        Ok(())
    };
    match action {
        Action::SetParam { key, value } => {
            let Some((_, ty)) = SETTABLE_PARAMS.iter().find(|(k, _)| k == key) else {
                let known: Vec<&str> = SETTABLE_PARAMS.iter().map(|(k, _)| *k).collect();
                bail!("unknown chain parameter {key:?} (settable: {})", known.join(", "));
            };
            ensure!(
                value.len() == 8 && u64::from_le_bytes(value[..].try_into().unwrap_or([0; 8])) > 0,
                "parameter {key} takes a non-zero borsh {ty}"
            );
        }
        Action::SetUploadPermission(_) => {}
        Action::SwitchSybil { module, height } => {
            check_height(*height)?;
            ensure!(
                p.sybil_modules.contains(module),
                "{} is not a Sybil module: it is not among the instantiated modules that export \
                 validator_set_updates",
                hex(module)
            );
        }
        Action::SwitchEngine { engine, height, .. } => {
            check_height(*height)?;
            ensure!(
                p.engines.iter().any(|e| e == engine),
                "unknown consensus engine {engine:?} (this chain runs: {})",
                p.engines.join(", ")
            );
        }
    }
    Ok(())
}

fn propose(env: &Env, p: &Params, action: Action, deposit: u128) -> Result<u64, Error> {
    let who = env.caller;
    ensure!(VALIDATORS.has(&who), "{} is not a validator: only validators propose", hex(&who));
    ensure!(deposit >= p.min_deposit, "deposit {deposit} is below the minimum deposit of {}", p.min_deposit);
    let have = BALANCES.may_load(&who)?.unwrap_or(0);
    ensure!(
        have >= deposit,
        "insufficient balance for the deposit: {} has {have}, needs {deposit}",
        hex(&who)
    );
    let open = OPEN_COUNT.load()?;
    ensure!(open < p.max_open_proposals, "{open} proposals are open, the maximum: wait for one to end");
    let ends = env.height.saturating_add(p.voting_period);
    check_action(p, env.height, ends, &action)?;
    BALANCES.save(&who, &(have - deposit))?;
    let id = NEXT_ID.load()?;
    NEXT_ID.save(&(id + 1))?;
    OPEN_COUNT.save(&(open + 1))?;
    PROPOSALS.save(
        &id,
        &Proposal {
            id,
            proposer: who,
            action,
            deposit,
            submitted_at: env.height,
            voting_ends_at: ends,
            status: Status::Open,
            outcome: String::new(),
        },
    )?;
    ENDS.save(&(ends, id), &())?;
    VOTES.save(&(id, who), &VoteOption::Yes)?;
    Event::new("proposal")
        .attr("id", id.to_string())
        .attr("proposer", hex(&who))
        .attr("voting_ends_at", ends.to_string())
        .emit();
    Ok(id)
}

fn vote(env: &Env, id: u64, option: VoteOption) -> Result<(), Error> {
    let who = env.caller;
    ensure!(VALIDATORS.has(&who), "{} is not a validator: only validators vote", hex(&who));
    let Some(prop) = PROPOSALS.may_load(&id)? else { bail!("no proposal {id}") };
    ensure!(prop.status == Status::Open, "proposal {id} is closed ({:?})", prop.status);
    ensure!(
        env.height < prop.voting_ends_at,
        "voting on proposal {id} ended at height {}",
        prop.voting_ends_at
    );
    VOTES.save(&(id, who), &option)?;
    Event::new("vote").attr("id", id.to_string()).attr("voter", hex(&who)).emit();
    Ok(())
}

/// Tally every proposal whose voting period ends at `height`: pass (queue the action), reject (refund) or veto
/// (burn).
pub fn end_block(env: &Env, height: u64) -> Result<(), Error> {
    let p = CONFIG.load()?;
    let until = height.checked_add(1).map(|h| (h, 0));
    let ending: Vec<(u64, u64)> =
        ENDS.range(None, until.as_ref()).map(|e| e.map(|(k, ())| k)).collect::<Result<_, _>>()?;
    for (ends, id) in ending {
        ENDS.remove(&(ends, id));
        let mut prop = PROPOSALS.load(&id)?;
        let t = tally(&p, id)?;
        let (status, outcome) = decide(&p, env.height, &prop, &t);
        match status {
            Status::Vetoed => BURNED.save(&(BURNED.load()?.saturating_add(prop.deposit)))?,
            _ => {
                let back = BALANCES.may_load(&prop.proposer)?.unwrap_or(0).saturating_add(prop.deposit);
                BALANCES.save(&prop.proposer, &back)?;
            }
        }
        if status == Status::Passed {
            ACTIONS.save(&id, &prop.action)?;
            emit_action(id, &prop.action);
        }
        prop.status = status;
        prop.outcome = outcome.clone();
        PROPOSALS.save(&id, &prop)?;
        OPEN_COUNT.save(&OPEN_COUNT.load()?.saturating_sub(1))?;
        Event::new("proposal_ended")
            .attr("id", id.to_string())
            .attr("status", format!("{status:?}"))
            .attr("outcome", outcome)
            .emit();
    }
    Ok(())
}

fn decide(p: &Params, now: u64, prop: &Proposal, t: &Tally) -> (Status, String) {
    let voted = t.yes + t.no + t.abstain + t.veto;
    if voted * 100 < u128::from(p.quorum_pct) * t.total {
        return (Status::Rejected, format!("quorum not reached: {voted} of {} voted", t.total));
    }
    if t.veto * 100 > u128::from(p.veto_pct) * voted {
        return (Status::Vetoed, format!("vetoed by {} of {voted}", t.veto));
    }
    let deciding = t.yes + t.no + t.veto;
    if t.yes * 100 <= u128::from(p.threshold_pct) * deciding {
        return (Status::Rejected, format!("threshold not reached: {} yes of {deciding}", t.yes));
    }
    // Still applicable? (A switch height may have come while the vote ran long.)
    if let Err(e) = check_action(p, now, now, &prop.action) {
        return (Status::Rejected, format!("passed but no longer applicable: {e}"));
    }
    (Status::Passed, format!("{} yes of {deciding}", t.yes))
}

fn emit_action(id: u64, action: &Action) {
    let e = Event::new("gov_action").attr("id", id.to_string());
    let e = match action {
        Action::SetParam { key, value } => {
            e.attr("kind", "set_param").attr("key", key.clone()).attr("value", hex(value))
        }
        Action::SetUploadPermission(perm) => {
            e.attr("kind", "set_upload_permission").attr("permission", format!("{perm:?}"))
        }
        Action::SwitchSybil { module, height } => {
            e.attr("kind", "switch_sybil").attr("module", hex(module)).attr("height", height.to_string())
        }
        Action::SwitchEngine { engine, height, params } => e
            .attr("kind", "switch_engine")
            .attr("engine", engine.clone())
            .attr("height", height.to_string())
            .attr("params", hex(params)),
    };
    e.emit();
}

pub fn query(_env: &Env, msg: QueryMsg) -> Result<Raw, Error> {
    match msg {
        QueryMsg::Params => Raw::encode(&CONFIG.load()?),
        QueryMsg::Proposal { id } => Raw::encode(&PROPOSALS.may_load(&id)?),
        QueryMsg::Open => {
            let ids: Vec<(u64, u64)> = ENDS.iter().map(|e| e.map(|(k, ())| k)).collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for (_, id) in ids {
                out.push(PROPOSALS.load(&id)?);
            }
            Raw::encode(&out)
        }
        QueryMsg::PendingActions => Raw::encode(&ACTIONS.iter().collect::<Result<Vec<_>, _>>()?),
        QueryMsg::Balance { who } => Raw::encode(&BALANCES.may_load(&who)?.unwrap_or(0)),
        QueryMsg::Validators => Raw::encode(&VALIDATORS.iter().collect::<Result<Vec<_>, _>>()?),
    }
}

pub fn migrate(_env: &Env, _msg: MigrateMsg) -> Result<(), Error> {
    let from = VERSION.may_load()?.unwrap_or(0);
    ensure!(from <= STORAGE_VERSION, "cannot migrate gov storage from v{from} back to v{STORAGE_VERSION}");
    ensure!(CONFIG.exists(), "nothing to migrate: this gov module was never instantiated");
    VERSION.save(&STORAGE_VERSION)
}
