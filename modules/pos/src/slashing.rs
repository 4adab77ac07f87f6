//! Evidence and liveness: slashing, jailing, unjailing.
//!
//! A slash for an offence at height h burns a fraction of the validator's current tokens, and the same
//! fraction of the *initial* value of every unbonding and redelegation entry created at or after h (that stake
//! was bonded to the offender when it offended), capped at what is left (Cosmos `x/staking/keeper/slash.go`).

use alloc::collections::BTreeSet;
use alloc::string::ToString;
use alloc::vec::Vec;

use cairn_sdk::{Env, Error, Event, ensure, hex};

use crate::msg::{Address, BeginBlockInfo, MisbehaviourKind, PPM, Params};
use crate::state::*;

fn burn(amount: u128) -> Result<(), Error> {
    BURNED.save(&BURNED.may_load()?.unwrap_or(0).saturating_add(amount))
}

/// Slash `who` for an offence at `infraction` by `ppm`; returns the tokens burned.
pub fn slash(p: &Params, who: &Address, infraction: u64, ppm: u32) -> Result<u128, Error> {
    let f = u128::from(ppm);
    let mut v = load_validator(who)?;
    let mut burned = mul_div(v.tokens, f, PPM)?;
    v.tokens -= burned;
    save_validator(p, who, v)?;

    // Unbonding entries of stake that was bonded to `who` at the offence.
    let keys: Vec<(u64, Address)> = {
        let mut out = Vec::new();
        for e in UNBONDING_BY_VAL.range(Some(&(*who, (0, [0u8; 32]))), None) {
            let ((val, k), ()) = e?;
            if val != *who {
                break;
            }
            out.push(k);
        }
        out
    };
    for (completes, delegator) in keys {
        let key = (completes, (delegator, *who));
        let Some(mut e) = UNBONDING.may_load(&key)? else { continue };
        if e.creation < infraction {
            continue;
        }
        let cut = mul_div(e.initial, f, PPM)?.min(e.balance);
        e.balance -= cut;
        burned += cut;
        UNBONDING.save(&key, &e)?;
    }

    // Redelegations out of `who`: burn the matching shares at the destination.
    let redelegations: Vec<((u64, Pair), Entry)> = {
        let mut out = Vec::new();
        for e in REDELEGATIONS.range(Some(&(*who, (0, ([0u8; 32], [0u8; 32])))), None) {
            let ((src, k), entry) = e?;
            if src != *who {
                break;
            }
            out.push((k, entry));
        }
        out
    };
    for ((completes, (delegator, dst)), mut e) in redelegations {
        if e.creation < infraction {
            continue;
        }
        let cut = mul_div(e.initial, f, PPM)?.min(e.balance);
        let mut d = load_validator(&dst)?;
        let held = DELEGATIONS.may_load(&(delegator, dst))?.unwrap_or(0);
        let shares =
            if d.tokens == 0 { 0 } else { mul_div(cut, d.shares, d.tokens)?.min(held).min(e.dst_shares) };
        let tokens = tokens_for(&d, shares)?.min(d.tokens);
        d.shares -= shares;
        d.tokens -= tokens;
        if held == shares {
            DELEGATIONS.remove(&(delegator, dst));
        } else {
            DELEGATIONS.save(&(delegator, dst), &(held - shares))?;
        }
        save_validator(p, &dst, d)?;
        e.balance -= cut;
        e.dst_shares -= shares;
        burned += tokens;
        REDELEGATIONS.save(&(*who, (completes, (delegator, dst))), &e)?;
    }
    burn(burned)?;
    Ok(burned)
}

fn jail(p: &Params, who: &Address, until: u64, tombstone: bool) -> Result<(), Error> {
    let mut v = load_validator(who)?;
    v.jailed_until = Some(until);
    v.tombstoned |= tombstone;
    v.missed = 0;
    save_validator(p, who, v)
}

/// `ExecuteMsg::BeginBlock`: only `params.system` may send it (the `begin_block` entry point is the host's own
/// way in, see `contract::begin_block`).
pub fn begin_block(env: &Env, p: &Params, info: BeginBlockInfo) -> Result<(), Error> {
    ensure!(
        env.caller == p.system,
        "{} may not send BeginBlock: only the host (as {}) does",
        hex(&env.caller),
        hex(&p.system)
    );
    apply_begin_block(env, p, info)
}

/// Apply the previous block's signatures and this block's evidence.
pub fn apply_begin_block(env: &Env, p: &Params, info: BeginBlockInfo) -> Result<(), Error> {
    let h = env.height;
    for m in info.misbehaviour {
        let age = h.saturating_sub(m.height);
        let reason = match VALIDATORS.may_load(&m.offender)? {
            None => Some("not a validator"),
            Some(v) if v.tombstoned => Some("already tombstoned"),
            Some(_) if age > p.max_evidence_age => Some("evidence too old"),
            Some(_) if m.height > h => Some("offence in the future"),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            Event::new("evidence_ignored").attr("offender", hex(&m.offender)).attr("reason", reason).emit();
            continue;
        }
        let MisbehaviourKind::DuplicateVote = m.kind;
        let burned = slash(p, &m.offender, m.height, p.slash_double_sign_ppm)?;
        jail(p, &m.offender, u64::MAX, true)?;
        Event::new("slash")
            .attr("validator", hex(&m.offender))
            .attr("reason", "double_sign")
            .attr("infraction_height", m.height.to_string())
            .attr("burned", burned.to_string())
            .emit();
    }

    // Liveness of the validators in the reported set. One reported at height r signs from r + 2 on (updates
    // take effect two blocks later), so the certificate in block r + 3 is the first it owes.
    let Some(signers) = info.signers else { return Ok(()) };
    let signers: BTreeSet<Address> = signers.into_iter().collect();
    let max_missed = p.signed_blocks_window - p.signed_blocks_window * u64::from(p.min_signed_pct) / 100;
    let active: Vec<(Address, (u64, u64))> = ACTIVE.iter().collect::<Result<_, _>>()?;
    for (who, (_, since)) in active {
        if h < since.saturating_add(3) {
            continue;
        }
        let Some(mut v) = VALIDATORS.may_load(&who)? else { continue };
        if v.jailed_until.is_some() {
            continue;
        }
        let mut changed = false;
        if h >= v.window_start.saturating_add(p.signed_blocks_window) {
            v.window_start = h;
            v.missed = 0;
            changed = true;
        }
        if !signers.contains(&who) {
            v.missed += 1;
            changed = true;
        }
        if v.missed > max_missed {
            save_validator(p, &who, v)?;
            let burned = slash(p, &who, h.saturating_sub(2), p.slash_downtime_ppm)?;
            jail(p, &who, h.saturating_add(p.downtime_jail_blocks), false)?;
            Event::new("slash")
                .attr("validator", hex(&who))
                .attr("reason", "downtime")
                .attr("burned", burned.to_string())
                .attr("jailed_until", h.saturating_add(p.downtime_jail_blocks).to_string())
                .emit();
        } else if changed {
            VALIDATORS.save(&who, &v)?;
        }
    }
    Ok(())
}

pub fn unjail(env: &Env, p: &Params, who: &Address) -> Result<(), Error> {
    let mut v = load_validator(who)?;
    ensure!(!v.tombstoned, "{} double-signed: it is jailed for good", hex(who));
    let Some(until) = v.jailed_until else { cairn_sdk::bail!("{} is not jailed", hex(who)) };
    ensure!(env.height >= until, "{} is jailed until height {until} (now {})", hex(who), env.height);
    v.jailed_until = None;
    v.window_start = env.height;
    v.missed = 0;
    save_validator(p, who, v)?;
    Event::new("unjail").attr("validator", hex(who)).emit();
    Ok(())
}
