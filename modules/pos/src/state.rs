//! Storage layout, share arithmetic and the power index.
//!
//! A validator's stake is `tokens`, owned in `shares` by its delegators (the operator's self-bond is a
//! delegation too), so a slash lowers everyone's stake in proportion without touching each delegation.
//! `POWER_INDEX` keeps validators sorted by power, so the top N costs N reads, however many validators exist.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_sdk::{Error, Item, Map, bail};

use crate::msg::{Address, Params};

#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Validator {
    pub tokens: u128,
    pub shares: u128,
    /// Jailed validators have no power; `u64::MAX` with `tombstoned` is for good.
    pub jailed_until: Option<u64>,
    pub tombstoned: bool,
    /// The power it has in `POWER_INDEX` (0: absent).
    pub indexed_power: u64,
    /// Liveness: the current window's first height and the blocks missed in it.
    pub window_start: u64,
    pub missed: u64,
}

/// An unbonding or redelegation entry: what it was worth when created (slashes take a fraction of that) and
/// what is left.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Entry {
    pub creation: u64,
    pub initial: u128,
    pub balance: u128,
    /// Redelegations: the shares received at the destination (a slash of the source burns some of them).
    pub dst_shares: u128,
}

pub const CONFIG: Item<Params> = Item::new(b"config");
pub const VERSION: Item<u32> = Item::new(b"version");
/// Tokens burned by slashing, ever.
pub const BURNED: Item<u128> = Item::new(b"burned");
/// Set when a power may have changed; `validator_set_updates` recomputes the set only then.
pub const DIRTY: Item<bool> = Item::new(b"dirty");
pub const BALANCES: Map<Address, u128> = Map::new(b"b");
pub const VALIDATORS: Map<Address, Validator> = Map::new(b"v");
/// (u64::MAX − power, operator): ascending key order is descending power, ties by address.
pub const POWER_INDEX: Map<(u64, Address), ()> = Map::new(b"pi");
/// The set as last reported: operator → (power, height it was reported at).
pub const ACTIVE: Map<Address, (u64, u64)> = Map::new(b"a");
/// (delegator, validator) → shares.
pub const DELEGATIONS: Map<(Address, Address), u128> = Map::new(b"d");
pub const DELEGATION_COUNT: Map<Address, u32> = Map::new(b"dc");
/// (completes_at, (delegator, validator)) → entry.
pub const UNBONDING: Map<(u64, (Address, Address)), Entry> = Map::new(b"u");
/// (validator, (completes_at, delegator)): a validator's unbonding entries, for slashing.
pub const UNBONDING_BY_VAL: Map<(Address, (u64, Address)), ()> = Map::new(b"uv");
/// (src, (completes_at, (delegator, dst))) → entry.
/// (delegator, dst).
pub type Pair = (Address, Address);
/// (src, (completes_at, (delegator, dst))).
pub type RedelegationKey = (Address, (u64, Pair));
/// (completes_at, (src, (delegator, dst))).
pub type RedelegationExpiryKey = (u64, (Address, Pair));

pub const REDELEGATIONS: Map<RedelegationKey, Entry> = Map::new(b"rd");
/// (completes_at, (src, (delegator, dst))): redelegations by maturity.
pub const REDELEGATION_EXPIRY: Map<RedelegationExpiryKey, ()> = Map::new(b"rx");
/// (delegator, dst) → the latest completion of a redelegation into dst: no redelegating onward before it.
pub const INCOMING: Map<(Address, Address), u64> = Map::new(b"in");
/// Unbonding + redelegation entries per (delegator, validator).
pub const ENTRY_COUNT: Map<(Address, Address), u32> = Map::new(b"ec");
/// Hybrid mode: the mirrored web-of-trust membership.
pub const MEMBERS: Map<Address, ()> = Map::new(b"m");

pub fn balance(who: &Address) -> Result<u128, Error> {
    Ok(BALANCES.may_load(who)?.unwrap_or(0))
}

pub fn set_balance(who: &Address, amount: u128) -> Result<(), Error> {
    if amount == 0 {
        BALANCES.remove(who);
        Ok(())
    } else {
        BALANCES.save(who, &amount)
    }
}

pub fn credit(who: &Address, amount: u128) -> Result<(), Error> {
    let Some(total) = balance(who)?.checked_add(amount) else { bail!("balance overflow") };
    set_balance(who, total)
}

pub fn mul_div(a: u128, b: u128, c: u128) -> Result<u128, Error> {
    if c == 0 {
        return Ok(0);
    }
    match a.checked_mul(b) {
        Some(p) => Ok(p / c),
        None => bail!("arithmetic overflow: {a} × {b}"),
    }
}

/// Shares worth `amount` tokens of `v` (1:1 for an empty validator).
pub fn shares_for(v: &Validator, amount: u128) -> Result<u128, Error> {
    if v.shares == 0 {
        return Ok(amount);
    }
    if v.tokens == 0 {
        bail!("this validator's stake was slashed to nothing: its shares are worthless");
    }
    mul_div(amount, v.shares, v.tokens)
}

pub fn tokens_for(v: &Validator, shares: u128) -> Result<u128, Error> {
    mul_div(shares, v.tokens, v.shares)
}

pub fn count(map: &Map<(Address, Address), u32>, key: &(Address, Address)) -> Result<u32, Error> {
    Ok(map.may_load(key)?.unwrap_or(0))
}

pub fn set_count(map: &Map<(Address, Address), u32>, key: &(Address, Address), n: u32) -> Result<(), Error> {
    if n == 0 {
        map.remove(key);
        Ok(())
    } else {
        map.save(key, &n)
    }
}

/// The power `v` (operated by `who`) should have now.
/// Jailed (until `Unjail`) and tombstoned validators have none.
pub fn power_of(p: &Params, who: &Address, v: &Validator) -> u64 {
    if v.tombstoned || v.jailed_until.is_some() {
        return 0;
    }
    let raw = (v.tokens / p.power_reduction.max(1)).min(u128::from(u64::MAX)) as u64;
    match &p.hybrid {
        None => raw,
        Some(h) if MEMBERS.has(who) => raw.min(h.max_power_per_member),
        Some(_) => 0,
    }
}

/// Put `v` in the power index at the power it should have, and save it.
pub fn save_validator(p: &Params, who: &Address, mut v: Validator) -> Result<(), Error> {
    let power = power_of(p, who, &v);
    if power != v.indexed_power {
        if v.indexed_power > 0 {
            POWER_INDEX.remove(&(u64::MAX - v.indexed_power, *who));
        }
        if power > 0 {
            POWER_INDEX.save(&(u64::MAX - power, *who), &())?;
        }
        v.indexed_power = power;
        DIRTY.save(&true)?;
    }
    VALIDATORS.save(who, &v)
}

pub fn load_validator(who: &Address) -> Result<Validator, Error> {
    match VALIDATORS.may_load(who)? {
        Some(v) => Ok(v),
        None => bail!("{} is not a validator", cairn_sdk::hex(who)),
    }
}
