//! Proof of authority: authorities admit, remove and re-weight each other by more than 2/3 of their weight.
//!
//! Every applied change is also queued as a validator update (`key → power`, 0 = removed), keyed by public key
//! so several changes to one key in a block collapse into the last. The host drains the queue through
//! `validator_set_updates` at the end of each block and the chain applies it at H+2. The genesis set is queued
//! too, so the first drain announces the module's set even if the chain started from a different one.

use alloc::collections::BTreeMap;
use alloc::string::ToString;
use alloc::vec::Vec;

use cairn_sdk::{Env, Error, Event, Item, Map, Raw, bail, ensure, hex};

use crate::msg::{
    Action, Address, Config, ExecuteMsg, InitMsg, MigrateMsg, Proposal, ProposalStatus, QueryMsg, Status,
    passes,
};

/// The storage layout version this code writes.
const VERSION: u32 = 1;

const CONFIG: Item<Config> = Item::new(b"config");
const NEXT_ID: Item<u64> = Item::new(b"next_id");
const STORAGE_VERSION: Item<u32> = Item::new(b"version");
const AUTHORITIES: Map<Address, u64> = Map::new(b"auth");
const PROPOSALS: Map<u64, Proposal> = Map::new(b"prop");
const PENDING: Map<Address, u64> = Map::new(b"pending");
/// Open proposals by `(expires_at, id)`, so `end_block` touches only the ones that expire, not every open one.
const EXPIRY: Map<(u64, u64), ()> = Map::new(b"expiry");

fn authorities() -> Result<BTreeMap<Address, u64>, Error> {
    AUTHORITIES.iter().collect()
}

/// Total weight; kept within u64 (checked whenever it grows) because consensus engines sum powers in u64.
fn total_weight(set: &BTreeMap<Address, u64>) -> u128 {
    set.values().map(|&p| u128::from(p)).sum()
}

/// Set up the genesis authorities.
pub fn instantiate(_env: &Env, msg: InitMsg) -> Result<(), Error> {
    ensure!(!msg.authorities.is_empty(), "the genesis authority set is empty");
    ensure!(msg.proposal_ttl > 0, "proposal_ttl must be at least 1 block");
    ensure!(
        msg.authorities.len() <= msg.max_authorities as usize,
        "{} genesis authorities exceed max_authorities = {}",
        msg.authorities.len(),
        msg.max_authorities
    );
    let mut total: u128 = 0;
    for (key, power) in &msg.authorities {
        ensure!(*power > 0, "genesis authority {} has power 0", hex(key));
        ensure!(!AUTHORITIES.has(key), "duplicate genesis authority {}", hex(key));
        total += u128::from(*power);
        AUTHORITIES.save(key, power)?;
        PENDING.save(key, power)?;
    }
    ensure!(
        total <= u128::from(u64::MAX),
        "the genesis authorities' total power {total} exceeds {}",
        u64::MAX
    );
    CONFIG.save(&Config { max_authorities: msg.max_authorities, proposal_ttl: msg.proposal_ttl })?;
    NEXT_ID.save(&0)?;
    STORAGE_VERSION.save(&VERSION)?;
    Ok(())
}

/// Propose or vote, as `env.caller`.
pub fn execute(env: &Env, msg: ExecuteMsg) -> Result<ProposalStatus, Error> {
    let set = authorities()?;
    ensure!(set.contains_key(&env.caller), "{} is not an authority", hex(&env.caller));
    match msg {
        ExecuteMsg::Propose { action } => propose(env, &set, action),
        ExecuteMsg::Vote { id, approve } => vote(env, &set, id, approve),
    }
}

/// Why `action` cannot be applied to `set` now, if it cannot.
fn check_action(set: &BTreeMap<Address, u64>, action: &Action, max: u32) -> Result<(), Error> {
    match action {
        Action::Admit { key, power } => {
            ensure!(!set.contains_key(key), "{} is already an authority", hex(key));
            ensure!(*power > 0, "an authority's power must be positive (to remove one, propose Remove)");
            ensure!(set.len() < max as usize, "the authority set is full ({max} authorities, the maximum)");
            let total = total_weight(set) + u128::from(*power);
            ensure!(total <= u128::from(u64::MAX), "total authority power would exceed {}", u64::MAX);
        }
        Action::Remove { key } => {
            ensure!(set.contains_key(key), "{} is not an authority", hex(key));
            ensure!(set.len() > 1, "cannot remove the last authority");
        }
        Action::SetPower { key, power } => {
            let Some(current) = set.get(key) else {
                bail!("{} is not an authority", hex(key));
            };
            ensure!(*power > 0, "an authority's power must be positive (to remove one, propose Remove)");
            ensure!(power != current, "{} already has power {power}", hex(key));
            let total = total_weight(set) - u128::from(*current) + u128::from(*power);
            ensure!(total <= u128::from(u64::MAX), "total authority power would exceed {}", u64::MAX);
        }
    }
    Ok(())
}

fn describe(action: &Action) -> (&'static str, Address, u64) {
    match action {
        Action::Admit { key, power } => ("admit", *key, *power),
        Action::Remove { key } => ("remove", *key, 0),
        Action::SetPower { key, power } => ("set_power", *key, *power),
    }
}

fn propose(env: &Env, set: &BTreeMap<Address, u64>, action: Action) -> Result<ProposalStatus, Error> {
    let config = CONFIG.load()?;
    check_action(set, &action, config.max_authorities)?;
    let id = NEXT_ID.load()?;
    NEXT_ID.save(&(id + 1))?;
    let Some(expires_at) = env.height.checked_add(config.proposal_ttl) else {
        bail!("proposal expiry overflows the block height");
    };
    let (kind, key, power) = describe(&action);
    Event::new("proposal")
        .attr("id", id.to_string())
        .attr("proposer", hex(&env.caller))
        .attr("action", kind)
        .attr("key", hex(&key))
        .attr("power", power.to_string())
        .attr("expires_at", expires_at.to_string())
        .emit();
    let proposal = Proposal {
        id,
        proposer: env.caller,
        action,
        created_at: env.height,
        expires_at,
        yes: alloc::vec![env.caller],
        no: Vec::new(),
    };
    settle(set, proposal, config.max_authorities)
}

fn vote(env: &Env, set: &BTreeMap<Address, u64>, id: u64, approve: bool) -> Result<ProposalStatus, Error> {
    let Some(mut proposal) = PROPOSALS.may_load(&id)? else {
        bail!("no open proposal {id} (it never existed, or it already passed, failed or expired)");
    };
    ensure!(
        env.height < proposal.expires_at,
        "proposal {id} expired at height {} (now {})",
        proposal.expires_at,
        env.height
    );
    let voter = env.caller;
    ensure!(
        !proposal.yes.contains(&voter) && !proposal.no.contains(&voter),
        "{} already voted on proposal {id}",
        hex(&voter)
    );
    if approve {
        proposal.yes.push(voter);
    } else {
        proposal.no.push(voter);
    }
    Event::new("vote")
        .attr("id", id.to_string())
        .attr("voter", hex(&voter))
        .attr("approve", if approve { "yes" } else { "no" })
        .emit();
    settle(set, proposal, CONFIG.load()?.max_authorities)
}

/// Count the votes of current authorities; apply and close, close as rejected, or keep open.
fn settle(set: &BTreeMap<Address, u64>, proposal: Proposal, max: u32) -> Result<ProposalStatus, Error> {
    let weight = |voters: &[Address]| -> u128 {
        voters.iter().filter_map(|v| set.get(v)).map(|&p| u128::from(p)).sum()
    };
    let total = total_weight(set);
    let yes = weight(&proposal.yes);
    let no = weight(&proposal.no);
    let id = proposal.id;
    let status = if passes(yes, total) {
        match check_action(set, &proposal.action, max) {
            Ok(()) => {
                apply(&proposal.action)?;
                Status::Passed
            }
            Err(reason) => {
                Event::new("proposal_rejected")
                    .attr("id", id.to_string())
                    .attr("reason", reason.message())
                    .emit();
                Status::Rejected
            }
        }
    } else if !passes(total - no, total) {
        // Even if every remaining authority voted yes it could not pass.
        Event::new("proposal_rejected")
            .attr("id", id.to_string())
            .attr("reason", "too much weight voted no")
            .emit();
        Status::Rejected
    } else {
        Status::Open
    };
    if status == Status::Open {
        PROPOSALS.save(&id, &proposal)?;
        EXPIRY.save(&(proposal.expires_at, id), &())?;
    } else {
        PROPOSALS.remove(&id);
        EXPIRY.remove(&(proposal.expires_at, id));
    }
    Ok(ProposalStatus { id, status })
}

fn apply(action: &Action) -> Result<(), Error> {
    let (kind, key, power) = describe(action);
    if power == 0 {
        AUTHORITIES.remove(&key);
    } else {
        AUTHORITIES.save(&key, &power)?;
    }
    PENDING.save(&key, &power)?;
    Event::new("authority_changed")
        .attr("action", kind)
        .attr("key", hex(&key))
        .attr("power", power.to_string())
        .emit();
    Ok(())
}

/// Close proposals whose voting window has ended: after block `height`, votes come at `height + 1` or later.
pub fn end_block(_env: &Env, height: u64) -> Result<(), Error> {
    let next = height.saturating_add(1);
    // Every entry with expires_at ≤ next, i.e. below (next + 1, 0).
    let end = next.checked_add(1).map(|n| (n, 0));
    let expired: Vec<(u64, u64)> =
        EXPIRY.range(None, end.as_ref()).map(|e| e.map(|(k, ())| k)).collect::<Result<_, _>>()?;
    for (expires_at, id) in expired {
        EXPIRY.remove(&(expires_at, id));
        PROPOSALS.remove(&id);
        Event::new("proposal_expired").attr("id", id.to_string()).emit();
    }
    Ok(())
}

/// The validator updates since the last call, in key order; clears them.
pub fn validator_set_updates(_env: &Env) -> Result<Vec<(Address, u64)>, Error> {
    let updates: Vec<(Address, u64)> = PENDING.iter().collect::<Result<_, _>>()?;
    PENDING.clear()?;
    Ok(updates)
}

/// Answer a query ([`Raw`]: the variants' answer types differ).
pub fn query(_env: &Env, msg: QueryMsg) -> Result<Raw, Error> {
    match msg {
        QueryMsg::Authorities => Raw::encode(&AUTHORITIES.iter().collect::<Result<Vec<_>, _>>()?),
        QueryMsg::Proposals => {
            Raw::encode(&PROPOSALS.iter().map(|e| e.map(|(_, p)| p)).collect::<Result<Vec<_>, _>>()?)
        }
        QueryMsg::Proposal { id } => Raw::encode(&PROPOSALS.may_load(&id)?),
        QueryMsg::Config => Raw::encode(&CONFIG.load()?),
        QueryMsg::PendingUpdates => Raw::encode(&PENDING.iter().collect::<Result<Vec<_>, _>>()?),
    }
}

/// Upgrade the storage layout to this code's version (v1 is the first: nothing to convert yet).
pub fn migrate(_env: &Env, _msg: MigrateMsg) -> Result<(), Error> {
    let from = STORAGE_VERSION.may_load()?.unwrap_or(0);
    ensure!(from <= VERSION, "cannot migrate poa storage from v{from} back to v{VERSION}");
    ensure!(CONFIG.exists(), "nothing to migrate: this poa module was never instantiated");
    STORAGE_VERSION.save(&VERSION)?;
    Ok(())
}
