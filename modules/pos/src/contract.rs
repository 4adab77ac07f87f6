//! Entry points: genesis, messages, queries, evidence and liveness in `begin_block`, maturing in `end_block`, the
//! top-N validator set.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use cairn_sdk::{Env, Error, Raw, bail, ensure, hex};

use crate::msg::{
    Address, BeginBlockInfo, ExecuteMsg, InitMsg, MigrateMsg, Params, QueryMsg, UnbondingInfo, ValidatorInfo,
};
use crate::state::*;
use crate::{slashing, staking};

const STORAGE_VERSION: u32 = 1;

fn check_params(p: &Params) -> Result<(), Error> {
    ensure!(p.max_validators >= 1, "max_validators must be at least 1");
    ensure!(p.power_reduction >= 1, "power_reduction must be at least 1");
    ensure!(
        u128::from(p.slash_double_sign_ppm) <= crate::msg::PPM
            && u128::from(p.slash_downtime_ppm) <= crate::msg::PPM,
        "slash fractions are at most 1,000,000 ppm"
    );
    ensure!(p.signed_blocks_window >= 1, "signed_blocks_window must be at least 1");
    ensure!(p.min_signed_pct <= 100, "min_signed_pct must be at most 100");
    ensure!(
        p.max_entries >= 1 && p.max_delegations >= 1,
        "max_entries and max_delegations must be at least 1"
    );
    ensure!(p.max_work_per_block >= 1, "max_work_per_block must be at least 1");
    Ok(())
}

pub fn instantiate(env: &Env, msg: InitMsg) -> Result<(), Error> {
    let p = msg.params;
    check_params(&p)?;
    CONFIG.save(&p)?;
    VERSION.save(&STORAGE_VERSION)?;
    BURNED.save(&0)?;
    for (who, amount) in &msg.balances {
        ensure!(!BALANCES.has(who), "duplicate genesis balance {}", hex(who));
        set_balance(who, *amount)?;
    }
    if p.hybrid.is_some() {
        for who in &msg.members {
            MEMBERS.save(who, &())?;
        }
    } else {
        ensure!(msg.members.is_empty(), "genesis members are for the hybrid mode only");
    }
    for (who, amount) in &msg.validators {
        ensure!(!VALIDATORS.has(who), "duplicate genesis validator {}", hex(who));
        staking::delegate(env, &p, who, who, *amount)
            .map_err(|e| Error::new(alloc::format!("genesis validator {}: {e}", hex(who))))?;
    }
    DIRTY.save(&true)
}

pub fn execute(env: &Env, msg: ExecuteMsg) -> Result<(), Error> {
    let p = CONFIG.load()?;
    let who = env.caller;
    match msg {
        ExecuteMsg::Bond { amount } => staking::delegate(env, &p, &who, &who, amount),
        ExecuteMsg::Delegate { validator, amount } => staking::delegate(env, &p, &who, &validator, amount),
        ExecuteMsg::Unbond { validator, amount } => staking::unbond(env, &p, &who, &validator, amount),
        ExecuteMsg::Redelegate { src, dst, amount } => staking::redelegate(env, &p, &who, &src, &dst, amount),
        ExecuteMsg::Unjail => slashing::unjail(env, &p, &who),
        ExecuteMsg::BeginBlock(info) => slashing::begin_block(env, &p, info),
        ExecuteMsg::SetMembers { add, remove } => set_members(&p, &who, add, remove),
    }
}

fn set_members(p: &Params, who: &Address, add: Vec<Address>, remove: Vec<Address>) -> Result<(), Error> {
    let Some(h) = &p.hybrid else { bail!("this pos module is not in hybrid mode: it has no member list") };
    ensure!(
        *who == h.membership_source,
        "{} may not change the member list: only {} does",
        hex(who),
        hex(&h.membership_source)
    );
    for a in &add {
        MEMBERS.save(a, &())?;
    }
    for r in &remove {
        MEMBERS.remove(r);
    }
    // A member's validator gains or loses its power now.
    for a in add.iter().chain(remove.iter()) {
        if let Some(v) = VALIDATORS.may_load(a)? {
            save_validator(p, a, v)?;
        }
    }
    Ok(())
}

/// The host's `begin_block` entry point: the previous block's signers and this block's verified evidence. Only
/// the host calls entry points (a module's `call` reaches `execute`), so no caller check is needed here.
pub fn begin_block(env: &Env, info: BeginBlockInfo) -> Result<(), Error> {
    slashing::apply_begin_block(env, &CONFIG.load()?, info)
}

pub fn end_block(_env: &Env, height: u64) -> Result<(), Error> {
    staking::mature(&CONFIG.load()?, height)
}

/// The top `max_validators` by power (ties by address), compared with the set last reported: entries that
/// joined or changed power, and leavers with power 0. Recomputed only after a power changed.
pub fn validator_set_updates(env: &Env) -> Result<Vec<(Address, u64)>, Error> {
    if !DIRTY.may_load()?.unwrap_or(false) {
        return Ok(Vec::new());
    }
    DIRTY.save(&false)?;
    let p = CONFIG.load()?;
    let mut next: BTreeMap<Address, u64> = BTreeMap::new();
    for e in POWER_INDEX.iter().take(p.max_validators as usize) {
        let ((inverted, who), ()) = e?;
        next.insert(who, u64::MAX - inverted);
    }
    let previous: BTreeMap<Address, (u64, u64)> = ACTIVE.iter().collect::<Result<_, _>>()?;
    let mut updates = Vec::new();
    for (who, (power, _)) in &previous {
        if !next.contains_key(who) {
            ACTIVE.remove(who);
            updates.push((*who, 0));
        } else if next.get(who) != Some(power) {
            updates.push((*who, next[who]));
        }
    }
    for (who, power) in &next {
        match previous.get(who) {
            Some((_, since)) => ACTIVE.save(who, &(*power, *since))?,
            None => {
                ACTIVE.save(who, &(*power, env.height))?;
                updates.push((*who, *power));
            }
        }
    }
    updates.sort();
    Ok(updates)
}

pub fn query(_env: &Env, msg: QueryMsg) -> Result<Raw, Error> {
    let p = CONFIG.load()?;
    match msg {
        QueryMsg::Params => Raw::encode(&p),
        QueryMsg::Balance { who } => Raw::encode(&balance(&who)?),
        QueryMsg::Validator { who } => Raw::encode(&VALIDATORS.may_load(&who)?.map(|v| ValidatorInfo {
            tokens: v.tokens,
            power: power_of(&p, &who, &v),
            jailed_until: v.jailed_until,
            tombstoned: v.tombstoned,
            missed_in_window: v.missed,
        })),
        QueryMsg::ActiveSet => Raw::encode(
            &ACTIVE.iter().map(|e| e.map(|(a, (power, _))| (a, power))).collect::<Result<Vec<_>, _>>()?,
        ),
        QueryMsg::Delegation { delegator, validator } => {
            let shares = DELEGATIONS.may_load(&(delegator, validator))?.unwrap_or(0);
            let tokens = match VALIDATORS.may_load(&validator)? {
                Some(v) => tokens_for(&v, shares)?,
                None => 0,
            };
            Raw::encode(&tokens)
        }
        QueryMsg::Unbonding { delegator } => {
            let mut out = Vec::new();
            for e in UNBONDING.iter() {
                let ((completes_at, (d, validator)), entry) = e?;
                if d == delegator {
                    out.push(UnbondingInfo { validator, completes_at, balance: entry.balance });
                }
                if out.len() >= 100 {
                    break;
                }
            }
            Raw::encode(&out)
        }
        QueryMsg::TotalTokens => {
            let mut total: u128 = 0;
            for e in BALANCES.iter() {
                total += e?.1;
            }
            for e in VALIDATORS.iter() {
                total += e?.1.tokens;
            }
            for e in UNBONDING.iter() {
                total += e?.1.balance;
            }
            Raw::encode(&total)
        }
    }
}

pub fn migrate(_env: &Env, _msg: MigrateMsg) -> Result<(), Error> {
    let from = VERSION.may_load()?.unwrap_or(0);
    ensure!(from <= STORAGE_VERSION, "cannot migrate pos storage from v{from} back to v{STORAGE_VERSION}");
    ensure!(CONFIG.exists(), "nothing to migrate: this pos module was never instantiated");
    VERSION.save(&STORAGE_VERSION)
}
