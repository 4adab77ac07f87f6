//! Fee, storage-deposit and quota parameters (chain parameters, set in genesis) and the rules that read them.
//!
//! Every tx states a fuel limit and a price per unit of fuel. A tx with a price pays `fuel used × price` (the
//! whole `fuel_limit × price` is held before its messages run, the unused part is refunded after) and locks a
//! deposit for every byte of state it adds. A tx with price 0 is a *quota* tx: on a chain with quotas it spends
//! its sender's free fuel-and-bytes allowance for the current window instead; on a chain without quotas and
//! without a minimum price it is free, as every tx was before fees existed.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Overlay};
use crate::ledger::{Ledger, Shortfall};
use crate::registry::{get_typed, put};
use crate::{HostResult, keys};

/// Where the fees of a block's txs go.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FeeDestination {
    /// Destroyed (the supply shrinks).
    #[default]
    Burn,
    /// To the block's proposer.
    Proposer,
    /// To the community pool account ([`crate::ledger::community_pool`]).
    CommunityPool,
}

/// A free allowance per window of blocks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Quota {
    pub fuel: u64,
    pub bytes: u64,
}

/// Fee, deposit and quota chain parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FeeParams {
    /// The bank instance whose denom pays fees and deposits; `None`: the chain has no fee token, so every tx
    /// must carry price 0 and no deposit is taken.
    pub bank: Option<Address>,
    /// Lowest price a paying tx may carry.
    pub min_price: u128,
    pub destination: FeeDestination,
    /// Deposit locked per byte (key + value) a paying tx adds to state; refunded when the bytes are removed.
    pub deposit_per_byte: u128,
    /// Blocks per quota window; 0 turns quotas off.
    pub quota_window: u64,
}

/// What a tx's sender must be able to pay before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payment {
    /// Nothing: a fee-less chain without quotas.
    Free,
    /// From the sender's quota for the current window.
    Quota(Quota),
    /// `max_fee = fuel_limit × price`, held up front.
    Fee { max_fee: u128 },
}

/// Why a tx cannot be paid for: the CheckTx/tx-result log names the numbers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    #[error("price {price} is below the minimum of {min}")]
    PriceTooLow { price: u128, min: u128 },
    #[error("this chain has no fee token: send price 0")]
    NoFeeToken,
    #[error("fee overflows: fuel limit {fuel_limit} × price {price}")]
    Overflow { fuel_limit: u64, price: u128 },
    #[error("insufficient funds for the fee: {account} has {have}, needs {need} (fuel limit × price)")]
    Insufficient { account: String, have: u128, need: u128 },
    #[error(
        "price 0 needs a quota: {account} has {fuel_left} fuel / {bytes_left} bytes left this window, the tx \
         asks for {fuel} fuel (send a price to pay instead)"
    )]
    Quota { account: String, fuel_left: u64, bytes_left: u64, fuel: u64 },
}

/// A sender's quota use in one window (state: `u ‖ account`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct QuotaUse {
    pub window: u64,
    pub fuel: u64,
    pub bytes: u64,
}

impl FeeParams {
    /// The window a height belongs to (quotas on).
    pub fn window_of(&self, height: u64) -> u64 {
        height.checked_div(self.quota_window).unwrap_or(0)
    }

    /// Whether a tx at `price` draws on a quota (so its sender's grant must be looked up).
    pub fn uses_quota(&self, price: u128) -> bool {
        price == 0 && self.quota_window > 0
    }

    /// How a tx with `fuel_limit` and `price` from `sender` is paid at `height`, or why it cannot be.
    /// `node_min` is the node's own minimum price (CheckTx only; FinalizeBlock passes 0); `granted` is the
    /// sender's quota per window (see [`FeeParams::uses_quota`]).
    #[allow(clippy::too_many_arguments)]
    pub fn payment(
        &self,
        overlay: &Overlay,
        base: &dyn Backend,
        sender: &Address,
        fuel_limit: u64,
        price: u128,
        node_min: u128,
        granted: Quota,
        height: u64,
    ) -> HostResult<Result<Payment, FeeError>> {
        if price == 0 {
            if self.quota_window == 0 {
                return Ok(if self.min_price == 0 && node_min == 0 {
                    Ok(Payment::Free)
                } else {
                    Err(FeeError::PriceTooLow { price, min: self.min_price.max(node_min) })
                });
            }
            let left = quota_left(self, overlay, base, sender, granted, height)?;
            return Ok(if fuel_limit <= left.fuel && (left.fuel > 0 || left.bytes > 0) {
                Ok(Payment::Quota(left))
            } else {
                Err(FeeError::Quota {
                    account: sender.to_hex(),
                    fuel_left: left.fuel,
                    bytes_left: left.bytes,
                    fuel: fuel_limit,
                })
            });
        }
        let Some(bank) = &self.bank else { return Ok(Err(FeeError::NoFeeToken)) };
        let min = self.min_price.max(node_min);
        if price < min {
            return Ok(Err(FeeError::PriceTooLow { price, min }));
        }
        let Some(max_fee) = u128::from(fuel_limit).checked_mul(price) else {
            return Ok(Err(FeeError::Overflow { fuel_limit, price }));
        };
        let have = Ledger { bank, base }.balance(overlay, sender)?;
        Ok(if have < max_fee {
            Err(FeeError::Insufficient { account: sender.to_hex(), have, need: max_fee })
        } else {
            Ok(Payment::Fee { max_fee })
        })
    }
}

/// The quota the genesis list grants `account` (state `q ‖ account`).
pub fn genesis_quota(overlay: &Overlay, base: &dyn Backend, account: &Address) -> HostResult<Quota> {
    Ok(get_typed(overlay, base, &keys::quota(account), "quota")?.unwrap_or_default())
}

/// What `account` has used in the window of `height` (nothing if its record is from an earlier window).
pub fn quota_used(
    params: &FeeParams,
    overlay: &Overlay,
    base: &dyn Backend,
    account: &Address,
    height: u64,
) -> HostResult<QuotaUse> {
    let window = params.window_of(height);
    let used: QuotaUse =
        get_typed(overlay, base, &keys::quota_use(account), "quota use")?.unwrap_or_default();
    Ok(if used.window == window { used } else { QuotaUse { window, fuel: 0, bytes: 0 } })
}

/// What is left of `granted` to `account` in the window of `height`.
pub fn quota_left(
    params: &FeeParams,
    overlay: &Overlay,
    base: &dyn Backend,
    account: &Address,
    granted: Quota,
    height: u64,
) -> HostResult<Quota> {
    let used = quota_used(params, overlay, base, account, height)?;
    Ok(Quota {
        fuel: granted.fuel.saturating_sub(used.fuel),
        bytes: granted.bytes.saturating_sub(used.bytes),
    })
}

/// Records `fuel` and `bytes` spent from `account`'s quota in the window of `height`.
pub fn spend_quota(
    params: &FeeParams,
    overlay: &mut Overlay,
    base: &dyn Backend,
    account: &Address,
    height: u64,
    fuel: u64,
    bytes: u64,
) -> HostResult<()> {
    let mut used = quota_used(params, overlay, base, account, height)?;
    used.fuel = used.fuel.saturating_add(fuel);
    used.bytes = used.bytes.saturating_add(bytes);
    put(overlay, keys::quota_use(account), &used);
    Ok(())
}

/// Pays `fee` held by `from` to the chain's fee destination.
pub fn pay_out(
    params: &FeeParams,
    overlay: &mut Overlay,
    base: &dyn Backend,
    from: &Address,
    fee: u128,
    proposer: &Address,
) -> HostResult<Result<(), Shortfall>> {
    let Some(bank) = &params.bank else { return Ok(Ok(())) };
    let ledger = Ledger { bank, base };
    match params.destination {
        FeeDestination::Burn => ledger.burn(overlay, from, fee),
        FeeDestination::Proposer => ledger.transfer(overlay, from, proposer, fee),
        FeeDestination::CommunityPool => {
            ledger.transfer(overlay, from, &crate::ledger::community_pool(), fee)
        }
    }
}

/// Kind of the event a paying tx emits: `fee {payer, amount, fuel_used, price}`.
pub const FEE_EVENT: &str = "fee";

/// Most writes settling one tx's fee or quota makes outside the tx's own layer (the fee hold, the sender's
/// refund, the destination's balance, the bank's supply, the quota record), reserved from the block's budget with
/// the nonce so settling never overruns it. A bank balance entry is 70 key + 16 value bytes.
pub const SETTLE_WRITES: crate::backend::WriteSize = crate::backend::WriteSize { entries: 5, bytes: 5 * 96 };

/// Moves `max_fee` from `sender` to the fee hold before the tx's messages run.
pub fn hold(
    params: &FeeParams,
    overlay: &mut Overlay,
    base: &dyn Backend,
    sender: &Address,
    max_fee: u128,
) -> HostResult<Result<(), Shortfall>> {
    let Some(bank) = &params.bank else { return Ok(Ok(())) };
    Ledger { bank, base }.transfer(overlay, sender, &crate::ledger::fee_hold(), max_fee)
}

/// After the tx ran: a paying tx pays `used × price` from the hold to the destination and gets the rest back
/// (returns the fee); a quota tx records the fuel and bytes it used.
#[allow(clippy::too_many_arguments)]
pub fn settle(
    params: &FeeParams,
    overlay: &mut Overlay,
    base: &dyn Backend,
    sender: &Address,
    payment: &Payment,
    price: u128,
    used: u64,
    bytes: u64,
    height: u64,
    proposer: &Address,
) -> HostResult<Option<u128>> {
    match *payment {
        Payment::Free => Ok(None),
        Payment::Quota(_) => {
            spend_quota(params, overlay, base, sender, height, used, bytes)?;
            Ok(None)
        }
        Payment::Fee { max_fee } => {
            let Some(bank) = &params.bank else { return Ok(None) };
            // used ≤ fuel_limit, so fee ≤ max_fee; min() keeps a host bug from paying out more than was held.
            let fee = u128::from(used).saturating_mul(price).min(max_fee);
            let hold = crate::ledger::fee_hold();
            let ledger = Ledger { bank, base };
            let corrupt = |what: &str| crate::HostError::Corrupt(format!("the fee hold cannot {what}"));
            ledger.transfer(overlay, &hold, sender, max_fee - fee)?.map_err(|_| corrupt("refund"))?;
            pay_out(params, overlay, base, &hold, fee, proposer)?.map_err(|_| corrupt("pay the fee"))?;
            Ok(Some(fee))
        }
    }
}

/// The event recording a paid fee.
pub fn fee_event(payer: &Address, amount: u128, fuel_used: u64, price: u128) -> cairn_abci::Event {
    cairn_abci::Event::new(FEE_EVENT)
        .attr("payer", payer.to_hex())
        .attr("amount", amount.to_string())
        .attr("fuel_used", fuel_used.to_string())
        .attr("price", price.to_string())
}

/// The chain parameters a client needs to build and price txs, as the JSON the `params` query answers.
pub fn params_json(p: &crate::registry::Params) -> serde_json::Value {
    serde_json::json!({
        "chain_id": p.chain_id,
        "max_tx_fuel": p.max_tx_fuel,
        "max_block_fuel": p.max_block_fuel,
        "fees": {
            "bank": p.fees.bank.map(|b| b.to_hex()),
            "min_price": p.fees.min_price.to_string(),
            "destination": p.fees.destination,
            "deposit_per_byte": p.fees.deposit_per_byte.to_string(),
            "quota_window": p.fees.quota_window,
        },
    })
}
