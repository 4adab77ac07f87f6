//! Storage deposits: what a tx adds to state is measured on its own overlay layer (every key it set or removed,
//! in any module or in the host's registry), compared with the state below, and paid for per byte.
//!
//! A key's size is `len(key) + len(value)` (0 when absent). For each key whose size changed:
//! - it grew: the deposit already locked for it (if any) goes back to whoever locked it, and the tx's sender locks
//!   `new size × deposit_per_byte` — the sender now holds the key's whole deposit (so a key written by many
//!   accounts has one holder, and a refund can never pay out more than was locked for that key);
//! - it shrank: its holder gets back the share of the locked amount for the bytes released (all of it when the
//!   key is removed), whoever sent the tx that removed it.
//!
//! The deposits live on the escrow account ([`crate::ledger::deposit_escrow`]) in the bank, and who holds each is
//! recorded at `d ‖ blake3(key)` ([`DepositRecord`]). Refunds settle before the charge; if the sender cannot pay
//! the charge, the tx fails and all its writes are dropped (its fee is already paid). Keys are visited in byte
//! order and all sums are checked integer arithmetic: every node settles the same way.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::Address;

use crate::backend::{Backend, Overlay};
use crate::ledger::{Ledger, deposit_escrow};
use crate::registry::{get_typed, put};
use crate::{ExecError, HostError, HostResult, keys};

/// Who holds the deposit of one key, and for how many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DepositRecord {
    pub holder: Address,
    pub bytes: u64,
    pub amount: u128,
}

/// One key's size before and after the running unit.
struct Change {
    key: Vec<u8>,
    before: u64,
    after: u64,
}

fn size(key: &[u8], value: Option<&Vec<u8>>) -> u64 {
    value.map_or(0, |v| (key.len() + v.len()) as u64)
}

/// The keys whose size the top layer changes, in key order.
fn changes(overlay: &Overlay, base: &dyn Backend) -> HostResult<Vec<Change>> {
    let Some(top) = overlay.top_layer() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (key, value) in top {
        let after = size(key, value.as_ref());
        let before = size(key, overlay.get_below_top(base, key).map_err(HostError::Backend)?.as_ref());
        if before != after {
            out.push(Change { key: key.clone(), before, after });
        }
    }
    Ok(out)
}

/// Bytes the top layer adds to state (growth only; shrinking keys do not offset it): what a quota is charged.
pub(crate) fn bytes_added(overlay: &Overlay, base: &dyn Backend) -> HostResult<u64> {
    Ok(changes(overlay, base)?
        .iter()
        .map(|c| c.after.saturating_sub(c.before))
        .fold(0u64, u64::saturating_add))
}

/// Settles the deposits of the top layer for `sender` at `per_byte` in `bank` (writes go into the top layer).
/// `Ok(Err(_))`: the sender cannot pay; the caller drops the layer.
pub(crate) fn settle(
    overlay: &mut Overlay,
    base: &dyn Backend,
    bank: &Address,
    sender: &Address,
    per_byte: u128,
) -> HostResult<Result<u64, ExecError>> {
    let changes = changes(overlay, base)?;
    let mut refunds: BTreeMap<Address, u128> = BTreeMap::new();
    let mut charge: u128 = 0;
    let mut added: u64 = 0;
    let mut records: Vec<(Vec<u8>, Option<DepositRecord>)> = Vec::new();
    let overflow = || HostError::Corrupt("storage deposit arithmetic overflows u128".into());
    for c in &changes {
        let rkey = keys::deposit(&c.key);
        let record: Option<DepositRecord> = get_typed(overlay, base, &rkey, "deposit record")?;
        if c.after > c.before {
            added = added.saturating_add(c.after - c.before);
            if per_byte == 0 && record.is_none() {
                continue;
            }
            if let Some(r) = record {
                let e = refunds.entry(r.holder).or_default();
                *e = e.checked_add(r.amount).ok_or_else(overflow)?;
            }
            let amount = u128::from(c.after).checked_mul(per_byte).ok_or_else(overflow)?;
            charge = charge.checked_add(amount).ok_or_else(overflow)?;
            records.push((rkey, Some(DepositRecord { holder: *sender, bytes: c.after, amount })));
        } else if let Some(r) = record {
            // Pro rata: keep amount × after / bytes locked for what stays (rounded down: the holder gets the
            // rounding back, never more than was locked).
            let keep = if c.after == 0 || r.bytes == 0 {
                0
            } else {
                r.amount.checked_mul(u128::from(c.after)).map_or(r.amount, |x| x / u128::from(r.bytes))
            };
            let keep = keep.min(r.amount);
            let e = refunds.entry(r.holder).or_default();
            *e = e.checked_add(r.amount - keep).ok_or_else(overflow)?;
            let next =
                (c.after > 0).then_some(DepositRecord { holder: r.holder, bytes: c.after, amount: keep });
            records.push((rkey, next));
        }
    }
    let ledger = Ledger { bank, base };
    let escrow = deposit_escrow();
    for (holder, amount) in &refunds {
        if ledger.transfer(overlay, &escrow, holder, *amount)?.is_err() {
            return Err(HostError::Corrupt(format!(
                "the deposit escrow holds less than the {amount} recorded for {}",
                holder.to_hex()
            )));
        }
    }
    if let Err(s) = ledger.transfer(overlay, sender, &escrow, charge)? {
        return Ok(Err(ExecError::Deposit {
            account: sender.to_hex(),
            bytes: added,
            per_byte,
            have: s.have,
            need: s.need,
        }));
    }
    for (rkey, record) in records {
        match record {
            Some(r) => put(overlay, rkey, &r),
            None => overlay.set(rkey, None),
        }
    }
    Ok(Ok(added))
}
