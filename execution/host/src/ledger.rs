//! The host's one door into the fee token: balances of the chain's bank module (`modules/bank`), read and written
//! directly in the bank's storage.
//!
//! Fees and storage deposits move tokens before, between and after a tx's messages, where no module call can run
//! (a module call may fail, burn fuel or be re-entered). So the host debits and credits the bank's `bal` map
//! itself, keeping the bank's invariant (the sum of balances is the supply): a transfer moves value between two
//! balances, a burn also lowers `supply`. Everything here is integer arithmetic on borsh `u128`s in `BTreeMap`
//! overlays, so every node computes the same bytes. The layout is the bank's (`modules/bank/src/contract.rs`:
//! `Map::new(b"bal")`, `Item::new(b"supply")`, see the SDK's storage layout); `tests/it/fees.rs` checks it against
//! the bank's own `Balance` query, so a bank that changes its layout fails that test instead of losing money.

use cairn_primitives::{Address, Hash};

use crate::backend::{Backend, Overlay};
use crate::registry::{decode, get};
use crate::{HostError, HostResult, keys};

/// The bank's map namespace for balances: `u16 BE len("bal") ‖ "bal"`.
const BAL_NAMESPACE: &[u8] = &[0, 3, b'b', b'a', b'l'];
const SUPPLY: &[u8] = b"supply";

/// The account that holds every locked storage deposit (no key can sign for it: it is a hash, not a public key).
pub fn deposit_escrow() -> Address {
    Address(Hash::digest_parts(&[b"cairn/v1", b"deposit-escrow"]).0)
}

/// The account that holds a tx's `fuel_limit × price` while its messages run (so they cannot spend it); empty
/// again once the tx is settled.
pub fn fee_hold() -> Address {
    Address(Hash::digest_parts(&[b"cairn/v1", b"fee-hold"]).0)
}

/// The account fees go to under `FeeDestination::CommunityPool` (spent only by what governance wires to it).
pub fn community_pool() -> Address {
    Address(Hash::digest_parts(&[b"cairn/v1", b"community-pool"]).0)
}

/// The state key of `account`'s balance in `bank`.
pub fn balance_key(bank: &Address, account: &Address) -> Vec<u8> {
    let mut k = Vec::with_capacity(BAL_NAMESPACE.len() + 32);
    k.extend_from_slice(BAL_NAMESPACE);
    k.extend_from_slice(&account.0);
    keys::module_key(bank, &k)
}

/// A debit the account cannot cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub have: u128,
    pub need: u128,
}

/// The bank module's balances, seen through an overlay.
#[derive(Clone, Copy)]
pub struct Ledger<'a> {
    pub bank: &'a Address,
    pub base: &'a dyn Backend,
}

impl Ledger<'_> {
    pub fn balance(&self, overlay: &Overlay, account: &Address) -> HostResult<u128> {
        match get(overlay, self.base, &balance_key(self.bank, account))? {
            Some(b) => decode::<u128>(&b, "bank balance"),
            None => Ok(0),
        }
    }

    /// Sets a balance; zero deletes the entry, as the bank does.
    fn set(&self, overlay: &mut Overlay, account: &Address, amount: u128) {
        let value = (amount > 0).then(|| amount.to_le_bytes().to_vec());
        overlay.set(balance_key(self.bank, account), value);
    }

    /// Moves `amount` from `from` to `to`; `Ok(Err(_))` if `from` holds less (nothing is written then).
    pub fn transfer(
        &self,
        overlay: &mut Overlay,
        from: &Address,
        to: &Address,
        amount: u128,
    ) -> HostResult<Result<(), Shortfall>> {
        if amount == 0 || from == to {
            return Ok(Ok(()));
        }
        let have = self.balance(overlay, from)?;
        let Some(left) = have.checked_sub(amount) else { return Ok(Err(Shortfall { have, need: amount })) };
        self.set(overlay, from, left);
        // Cannot overflow while the supply invariant holds (every balance ≤ supply ≤ u128::MAX).
        let received = self
            .balance(overlay, to)?
            .checked_add(amount)
            .ok_or_else(|| HostError::Corrupt(format!("bank balance of {} overflows", to.to_hex())))?;
        self.set(overlay, to, received);
        Ok(Ok(()))
    }

    /// Destroys `amount` held by `from`, lowering the supply.
    pub fn burn(
        &self,
        overlay: &mut Overlay,
        from: &Address,
        amount: u128,
    ) -> HostResult<Result<(), Shortfall>> {
        if amount == 0 {
            return Ok(Ok(()));
        }
        let have = self.balance(overlay, from)?;
        let Some(left) = have.checked_sub(amount) else { return Ok(Err(Shortfall { have, need: amount })) };
        let supply_key = keys::module_key(self.bank, SUPPLY);
        let supply = match get(overlay, self.base, &supply_key)? {
            Some(b) => decode::<u128>(&b, "bank supply")?,
            None => 0,
        };
        let supply = supply
            .checked_sub(amount)
            .ok_or_else(|| HostError::Corrupt(format!("burning {amount} from a bank supply of {supply}")))?;
        self.set(overlay, from, left);
        overlay.set(supply_key, Some(borsh::to_vec(&supply).unwrap_or_default()));
        Ok(Ok(()))
    }
}
