//! Bond, delegate, unbond, redelegate, and the maturing of unbonding and redelegation entries.

use alloc::string::ToString;

use cairn_sdk::{Env, Error, Event, bail, ensure, hex};

use crate::msg::{Address, Params};
use crate::state::*;

/// Move `amount` of `delegator`'s free balance into `validator` (created when the operator self-bonds).
pub fn delegate(
    env: &Env,
    p: &Params,
    delegator: &Address,
    validator: &Address,
    amount: u128,
) -> Result<(), Error> {
    ensure!(amount > 0, "the amount must be positive");
    let free = balance(delegator)?;
    ensure!(free >= amount, "insufficient free balance: {} has {free}, needs {amount}", hex(delegator));
    let v = match VALIDATORS.may_load(validator)? {
        Some(v) => v,
        None if delegator == validator => {
            ensure!(
                amount >= p.min_self_bond,
                "a new validator bonds at least min_self_bond = {}, not {amount}",
                p.min_self_bond
            );
            Validator { window_start: env.height, ..Validator::default() }
        }
        None => bail!("{} is not a validator", hex(validator)),
    };
    ensure!(!v.tombstoned, "{} is tombstoned (it double-signed): it takes no delegations", hex(validator));
    add_shares(p, delegator, validator, v, amount)?;
    set_balance(delegator, free - amount)?;
    Event::new("delegate")
        .attr("delegator", hex(delegator))
        .attr("validator", hex(validator))
        .attr("amount", amount.to_string())
        .emit();
    Ok(())
}

/// Add `amount` tokens to `v` as shares of `delegator`.
fn add_shares(
    p: &Params,
    delegator: &Address,
    validator: &Address,
    mut v: Validator,
    amount: u128,
) -> Result<u128, Error> {
    let shares = shares_for(&v, amount)?;
    ensure!(shares > 0, "{amount} tokens buy no share of {}", hex(validator));
    let key = (*delegator, *validator);
    let held = DELEGATIONS.may_load(&key)?;
    if held.is_none() {
        let n = DELEGATION_COUNT.may_load(delegator)?.unwrap_or(0);
        ensure!(n < p.max_delegations, "{} already delegates to {n} validators, the maximum", hex(delegator));
        DELEGATION_COUNT.save(delegator, &(n + 1))?;
    }
    let (Some(tokens), Some(total)) = (v.tokens.checked_add(amount), v.shares.checked_add(shares)) else {
        bail!("stake overflow");
    };
    v.tokens = tokens;
    v.shares = total;
    DELEGATIONS.save(&key, &(held.unwrap_or(0) + shares))?;
    save_validator(p, validator, v)?;
    Ok(shares)
}

/// Take `amount` tokens' worth of `delegator`'s shares out of `validator`; returns the tokens removed.
fn remove_stake(p: &Params, delegator: &Address, validator: &Address, amount: u128) -> Result<u128, Error> {
    ensure!(amount > 0, "the amount must be positive");
    let mut v = load_validator(validator)?;
    let key = (*delegator, *validator);
    let Some(held) = DELEGATIONS.may_load(&key)? else {
        bail!("{} has nothing bonded to {}", hex(delegator), hex(validator));
    };
    let worth = tokens_for(&v, held)?;
    ensure!(amount <= worth, "{} has {worth} bonded to {}, not {amount}", hex(delegator), hex(validator));
    // Round the shares up, so rounding never pays out more than was bonded.
    let mut shares = shares_for(&v, amount)?;
    if tokens_for(&v, shares)? < amount {
        shares += 1;
    }
    let shares = shares.min(held);
    let tokens = tokens_for(&v, shares)?.min(v.tokens);
    v.shares -= shares;
    v.tokens -= tokens;
    if shares == held {
        DELEGATIONS.remove(&key);
        let n = DELEGATION_COUNT.may_load(delegator)?.unwrap_or(1);
        if n <= 1 {
            DELEGATION_COUNT.remove(delegator);
        } else {
            DELEGATION_COUNT.save(delegator, &(n - 1))?;
        }
    } else {
        DELEGATIONS.save(&key, &(held - shares))?;
    }
    save_validator(p, validator, v)?;
    Ok(tokens)
}

fn take_entry_slot(p: &Params, delegator: &Address, validator: &Address) -> Result<(), Error> {
    let key = (*delegator, *validator);
    let n = count(&ENTRY_COUNT, &key)?;
    ensure!(
        n < p.max_entries,
        "{} already has {n} unbonding or redelegation entries with {}, the maximum: wait for one to complete",
        hex(delegator),
        hex(validator)
    );
    set_count(&ENTRY_COUNT, &key, n + 1)
}

pub fn unbond(
    env: &Env,
    p: &Params,
    delegator: &Address,
    validator: &Address,
    amount: u128,
) -> Result<(), Error> {
    let completes = env.height.saturating_add(p.unbonding_period);
    let key = (completes, (*delegator, *validator));
    let existing = UNBONDING.may_load(&key)?;
    if existing.is_none() {
        take_entry_slot(p, delegator, validator)?;
    }
    let tokens = remove_stake(p, delegator, validator, amount)?;
    let mut e = existing.unwrap_or(Entry { creation: env.height, ..Entry::default() });
    e.initial += tokens;
    e.balance += tokens;
    UNBONDING.save(&key, &e)?;
    UNBONDING_BY_VAL.save(&(*validator, (completes, *delegator)), &())?;
    Event::new("unbond")
        .attr("delegator", hex(delegator))
        .attr("validator", hex(validator))
        .attr("amount", tokens.to_string())
        .attr("completes_at", completes.to_string())
        .emit();
    Ok(())
}

pub fn redelegate(
    env: &Env,
    p: &Params,
    delegator: &Address,
    src: &Address,
    dst: &Address,
    amount: u128,
) -> Result<(), Error> {
    ensure!(src != dst, "redelegating to the same validator");
    if let Some(until) = INCOMING.may_load(&(*delegator, *src))?
        && env.height < until
    {
        bail!(
            "{} redelegated into {} until height {until}: no onward redelegation before then",
            hex(delegator),
            hex(src)
        );
    }
    let dst_v = load_validator(dst)?;
    ensure!(!dst_v.tombstoned, "{} is tombstoned (it double-signed): it takes no delegations", hex(dst));
    let completes = env.height.saturating_add(p.unbonding_period);
    let key = (*src, (completes, (*delegator, *dst)));
    let existing = REDELEGATIONS.may_load(&key)?;
    if existing.is_none() {
        take_entry_slot(p, delegator, src)?;
    }
    let tokens = remove_stake(p, delegator, src, amount)?;
    let shares = add_shares(p, delegator, dst, load_validator(dst)?, tokens)?;
    let mut e = existing.unwrap_or(Entry { creation: env.height, ..Entry::default() });
    e.initial += tokens;
    e.balance += tokens;
    e.dst_shares += shares;
    REDELEGATIONS.save(&key, &e)?;
    REDELEGATION_EXPIRY.save(&(completes, (*src, (*delegator, *dst))), &())?;
    INCOMING.save(&(*delegator, *dst), &completes)?;
    Event::new("redelegate")
        .attr("delegator", hex(delegator))
        .attr("src", hex(src))
        .attr("dst", hex(dst))
        .attr("amount", tokens.to_string())
        .attr("completes_at", completes.to_string())
        .emit();
    Ok(())
}

/// Free matured unbonding entries and retire matured redelegation entries, within `max_work_per_block`.
pub fn mature(p: &Params, height: u64) -> Result<(), Error> {
    let mut budget = p.max_work_per_block;
    let until = height.checked_add(1).map(|h| (h, ([0u8; 32], [0u8; 32])));
    while budget > 0 {
        let Some(entry) = UNBONDING.range(None, until.as_ref()).next() else { break };
        let ((completes, (delegator, validator)), e) = entry?;
        UNBONDING.remove(&(completes, (delegator, validator)));
        UNBONDING_BY_VAL.remove(&(validator, (completes, delegator)));
        let key = (delegator, validator);
        set_count(&ENTRY_COUNT, &key, count(&ENTRY_COUNT, &key)?.saturating_sub(1))?;
        credit(&delegator, e.balance)?;
        Event::new("unbonded")
            .attr("delegator", hex(&delegator))
            .attr("validator", hex(&validator))
            .attr("amount", e.balance.to_string())
            .emit();
        budget -= 1;
    }
    let until = height.checked_add(1).map(|h| (h, ([0u8; 32], ([0u8; 32], [0u8; 32]))));
    while budget > 0 {
        let Some(entry) = REDELEGATION_EXPIRY.range(None, until.as_ref()).next() else { break };
        let ((completes, (src, (delegator, dst))), ()) = entry?;
        REDELEGATION_EXPIRY.remove(&(completes, (src, (delegator, dst))));
        REDELEGATIONS.remove(&(src, (completes, (delegator, dst))));
        let key = (delegator, src);
        set_count(&ENTRY_COUNT, &key, count(&ENTRY_COUNT, &key)?.saturating_sub(1))?;
        if INCOMING.may_load(&(delegator, dst))? == Some(completes) {
            INCOMING.remove(&(delegator, dst));
        }
        budget -= 1;
    }
    Ok(())
}
