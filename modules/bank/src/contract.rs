//! The bank's logic: plain functions over typed storage, run by the Wasm exports and by the mock host in tests.
//!
//! Invariant: the sum of all balances equals the total supply. Every balance is therefore ≤ the supply, so only
//! the supply can overflow, and it is checked before any balance changes. Accounts whose balance reaches zero are
//! deleted, so state holds only accounts that own something.

use alloc::string::ToString;
use alloc::vec::Vec;

use cairn_sdk::{Env, Error, Event, Item, Map, Raw, bail, ensure, hex};

use crate::msg::{Address, ExecuteMsg, InitMsg, MAX_PAGE, MigrateMsg, QueryMsg, TokenInfo};

/// The storage layout version this code writes; `migrate` refuses to go backwards.
const VERSION: u32 = 1;

const DENOM: Item<alloc::string::String> = Item::new(b"denom");
const ADMIN: Item<Option<Address>> = Item::new(b"admin");
const SUPPLY: Item<u128> = Item::new(b"supply");
const STORAGE_VERSION: Item<u32> = Item::new(b"version");
const BALANCES: Map<Address, u128> = Map::new(b"bal");

fn balance(account: &Address) -> Result<u128, Error> {
    Ok(BALANCES.may_load(account)?.unwrap_or(0))
}

fn set_balance(account: &Address, amount: u128) -> Result<(), Error> {
    if amount == 0 {
        BALANCES.remove(account);
        Ok(())
    } else {
        BALANCES.save(account, &amount)
    }
}

fn valid_denom(denom: &str) -> bool {
    (1..=32).contains(&denom.len())
        && denom.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// Set up the token from its genesis balances.
pub fn instantiate(_env: &Env, msg: InitMsg) -> Result<(), Error> {
    ensure!(valid_denom(&msg.denom), "invalid denom {:?}: use 1-32 ASCII letters, digits or -_./", msg.denom);
    let mut supply: u128 = 0;
    for (account, amount) in &msg.balances {
        ensure!(*amount > 0, "genesis balance of {} is zero", hex(account));
        ensure!(!BALANCES.has(account), "duplicate genesis account {}", hex(account));
        let Some(total) = supply.checked_add(*amount) else {
            bail!("overflow: genesis balances add up to more than {}", u128::MAX);
        };
        supply = total;
        BALANCES.save(account, amount)?;
    }
    DENOM.save(&msg.denom)?;
    ADMIN.save(&msg.admin)?;
    SUPPLY.save(&supply)?;
    STORAGE_VERSION.save(&VERSION)?;
    Ok(())
}

/// Run one bank message on behalf of `env.caller`.
pub fn execute(env: &Env, msg: ExecuteMsg) -> Result<(), Error> {
    match msg {
        ExecuteMsg::Transfer { to, amount } => transfer(&env.caller, &to, amount),
        ExecuteMsg::Mint { to, amount } => mint(&env.caller, &to, amount),
        ExecuteMsg::Burn { amount } => burn(&env.caller, amount),
        ExecuteMsg::SetAdmin { admin } => set_admin(&env.caller, admin),
    }
}

/// The sender's balance after spending `amount`, or why it cannot.
fn debit(from: &Address, amount: u128) -> Result<u128, Error> {
    let have = balance(from)?;
    if have == 0 {
        bail!("unknown account {}: it holds no tokens", hex(from));
    }
    match have.checked_sub(amount) {
        Some(left) => Ok(left),
        None => bail!("insufficient funds: {} has {have}, needs {amount}", hex(from)),
    }
}

fn transfer(from: &Address, to: &Address, amount: u128) -> Result<(), Error> {
    ensure!(amount > 0, "transfer amount must be positive");
    let left = debit(from, amount)?;
    set_balance(from, left)?;
    // Cannot overflow while the supply invariant holds; checked anyway so a broken invariant fails loudly.
    let Some(received) = balance(to)?.checked_add(amount) else {
        bail!("overflow: balance of {} would exceed {}", hex(to), u128::MAX);
    };
    set_balance(to, received)?;
    Event::new("transfer")
        .attr("from", hex(from))
        .attr("to", hex(to))
        .attr("amount", amount.to_string())
        .emit();
    Ok(())
}

fn require_admin(sender: &Address, action: &str) -> Result<(), Error> {
    match ADMIN.load()? {
        Some(admin) if admin == *sender => Ok(()),
        Some(_) => bail!("{} is not the bank's admin: only the admin may {action}", hex(sender)),
        None => bail!("this bank has no admin: nobody may {action}"),
    }
}

fn mint(sender: &Address, to: &Address, amount: u128) -> Result<(), Error> {
    require_admin(sender, "mint")?;
    ensure!(amount > 0, "mint amount must be positive");
    let supply = SUPPLY.load()?;
    let Some(new_supply) = supply.checked_add(amount) else {
        bail!("overflow: minting {amount} on a supply of {supply} exceeds {}", u128::MAX);
    };
    let Some(received) = balance(to)?.checked_add(amount) else {
        bail!("overflow: balance of {} would exceed {}", hex(to), u128::MAX);
    };
    SUPPLY.save(&new_supply)?;
    set_balance(to, received)?;
    Event::new("mint").attr("to", hex(to)).attr("amount", amount.to_string()).emit();
    Ok(())
}

fn burn(from: &Address, amount: u128) -> Result<(), Error> {
    ensure!(amount > 0, "burn amount must be positive");
    let left = debit(from, amount)?;
    let supply = SUPPLY.load()?;
    let Some(new_supply) = supply.checked_sub(amount) else {
        bail!("corrupt bank state: burning {amount} from a supply of {supply}");
    };
    set_balance(from, left)?;
    SUPPLY.save(&new_supply)?;
    Event::new("burn").attr("from", hex(from)).attr("amount", amount.to_string()).emit();
    Ok(())
}

fn set_admin(sender: &Address, admin: Option<Address>) -> Result<(), Error> {
    require_admin(sender, "change the admin")?;
    ADMIN.save(&admin)?;
    Event::new("set_admin").attr("admin", admin.map_or_else(|| "none".to_string(), |a| hex(&a))).emit();
    Ok(())
}

/// Answer a query; each answer is a borsh value ([`Raw`] because the variants' answer types differ).
pub fn query(_env: &Env, msg: QueryMsg) -> Result<Raw, Error> {
    match msg {
        QueryMsg::Balance { account } => Raw::encode(&balance(&account)?),
        QueryMsg::TotalSupply => Raw::encode(&SUPPLY.load()?),
        QueryMsg::Info => Raw::encode(&TokenInfo {
            denom: DENOM.load()?,
            admin: ADMIN.load()?,
            total_supply: SUPPLY.load()?,
        }),
        QueryMsg::Accounts { start_after, limit } => {
            let page = match start_after {
                // `start_after` was the largest address: nothing comes after it.
                Some(after) if next_address(after).is_none() => Vec::new(),
                after => {
                    let start = after.and_then(next_address);
                    BALANCES.range(start.as_ref(), None).take(limit.min(MAX_PAGE) as usize).collect::<Result<
                        Vec<_>,
                        _,
                    >>(
                    )?
                }
            };
            Raw::encode(&page)
        }
    }
}

/// The address right after `a` in byte order, if any.
fn next_address(mut a: Address) -> Option<Address> {
    for byte in a.iter_mut().rev() {
        if *byte == u8::MAX {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(a);
        }
    }
    None
}

/// Upgrade the storage layout to this code's version (v1 is the first: nothing to convert yet).
pub fn migrate(_env: &Env, _msg: MigrateMsg) -> Result<(), Error> {
    let from = STORAGE_VERSION.may_load()?.unwrap_or(0);
    ensure!(from <= VERSION, "cannot migrate bank storage from v{from} back to v{VERSION}");
    ensure!(SUPPLY.exists(), "nothing to migrate: this bank was never instantiated");
    STORAGE_VERSION.save(&VERSION)?;
    Ok(())
}
