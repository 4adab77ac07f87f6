//! Proof of stake's messages and parameters, borsh-encoded. Compiles natively too, for genesis builders, the
//! CLI, the host wiring and tests.

use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

/// A 32-byte ed25519 public key: an account, and for a validator also its consensus key.
pub type Address = [u8; 32];

/// Parts per million: fractions without floats.
pub const PPM: u128 = 1_000_000;

/// Every rule of the module, fixed at genesis. Durations are in blocks; defaults assume one block per second
/// (shared notes, "Numbers to design with": Cosmos values rescaled).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Params {
    /// Blocks from `Unbond` (or `Redelegate`) until the tokens are free; they stay slashable until then.
    pub unbonding_period: u64,
    /// The validator set is the top `max_validators` by power.
    pub max_validators: u32,
    /// Tokens per unit of validator power (power = tokens / this, truncated).
    pub power_reduction: u128,
    /// Share of stake burned for a double signature, in ppm (Cosmos: 5 %).
    pub slash_double_sign_ppm: u32,
    /// Share of stake burned for downtime, in ppm (Cosmos: 1 %).
    pub slash_downtime_ppm: u32,
    /// Blocks per liveness window.
    pub signed_blocks_window: u64,
    /// A validator that signed fewer than this per cent of a window's blocks is jailed.
    pub min_signed_pct: u32,
    /// Blocks a validator jailed for downtime waits before `Unjail`.
    pub downtime_jail_blocks: u64,
    /// Evidence older than this many blocks is ignored.
    pub max_evidence_age: u64,
    /// Unbonding (and redelegation) entries at most per (delegator, validator): bounds slashing work.
    pub max_entries: u32,
    /// Validators one delegator may delegate to at most.
    pub max_delegations: u32,
    /// Smallest self-bond that creates a validator.
    pub min_self_bond: u128,
    /// Units of `end_block` work (matured entries) per block; the rest waits.
    pub max_work_per_block: u32,
    /// Who may send `BeginBlock`: the host calls hooks as the all-zero address.
    pub system: Address,
    /// Hybrid weighting (stake counted only for web-of-trust members, capped per member), if set.
    pub hybrid: Option<Hybrid>,
}

/// Hybrid weighting: a community that opens up to stake without letting one person buy the chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Hybrid {
    /// Who may send `SetMembers` (the web-of-trust module through `call`, or governance).
    pub membership_source: Address,
    /// Power of one validator at most.
    pub max_power_per_member: u64,
}

impl Default for Params {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Params {
            unbonding_period: 21 * DAY,
            max_validators: 100,
            power_reduction: 1_000_000,
            slash_double_sign_ppm: 50_000,
            slash_downtime_ppm: 10_000,
            signed_blocks_window: 600,
            min_signed_pct: 50,
            downtime_jail_blocks: 600,
            max_evidence_age: 2 * DAY,
            max_entries: 7,
            max_delegations: 16,
            min_self_bond: 1_000_000,
            max_work_per_block: 256,
            system: [0; 32],
            hybrid: None,
        }
    }
}

/// `instantiate` input.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InitMsg {
    pub params: Params,
    /// Free (unbonded) balances held by the module at genesis: see the README on custody.
    pub balances: Vec<(Address, u128)>,
    /// Genesis validators: (operator = consensus key, self-bond taken from its balance).
    pub validators: Vec<(Address, u128)>,
    /// Hybrid mode: the web-of-trust members at genesis.
    pub members: Vec<Address>,
}

/// What the host tells the module at the start of each block (the ABCI `decided_last_commit` and
/// `misbehavior`), through the `begin_block` entry point (the host's `BeginBlockInfo`, docs/HOST_API.md); also
/// accepted as `ExecuteMsg::BeginBlock` from `params.system`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BeginBlockInfo {
    /// Validators whose signature is in the certificate of the previous block, as the block carries it. `None`
    /// when there is none to report (the first block, or a parent decided by a sampling engine, which has no
    /// quorum certificate): liveness is not counted for that block, rather than counting everyone as absent.
    pub signers: Option<Vec<Address>>,
    /// Verified misbehaviour reported in this block.
    pub misbehaviour: Vec<Misbehaviour>,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Misbehaviour {
    pub offender: Address,
    /// The height of the offence.
    pub height: u64,
    pub kind: MisbehaviourKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum MisbehaviourKind {
    /// Two conflicting votes at one height and round.
    DuplicateVote,
}

/// `execute` input; the acting account is the caller (the tx signer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ExecuteMsg {
    /// Bond `amount` of the caller's free balance to itself as a validator (creating it if needed).
    Bond { amount: u128 },
    /// Bond `amount` to an existing validator.
    Delegate { validator: Address, amount: u128 },
    /// Start unbonding `amount` tokens from `validator`: free after `unbonding_period`, slashable until then.
    Unbond { validator: Address, amount: u128 },
    /// Move `amount` tokens from `src` to `dst` now; they stay slashable for offences of `src` for the
    /// unbonding period.
    Redelegate { src: Address, dst: Address, amount: u128 },
    /// A jailed validator whose jail time is over returns to the candidates.
    Unjail,
    /// Signers of the previous block and misbehaviour (from `params.system` only).
    BeginBlock(BeginBlockInfo),
    /// Hybrid mode: update the mirrored membership (from `hybrid.membership_source` only).
    SetMembers { add: Vec<Address>, remove: Vec<Address> },
}

/// `query` input. Each variant's answer is named on it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum QueryMsg {
    /// → [`Params`].
    Params,
    /// → `u128`: free balance.
    Balance { who: Address },
    /// → `Option<ValidatorInfo>`.
    Validator { who: Address },
    /// → `Vec<(Address, u64)>`: the current validator set (as last reported) and powers.
    ActiveSet,
    /// → `u128`: the tokens `delegator` has bonded to `validator` now.
    Delegation { delegator: Address, validator: Address },
    /// → `Vec<UnbondingInfo>` of `delegator`, ≤ 100.
    Unbonding { delegator: Address },
    /// → `u128`: free + bonded + unbonding tokens (burned ones are gone).
    TotalTokens,
}

/// The answer to [`QueryMsg::Validator`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ValidatorInfo {
    pub tokens: u128,
    pub power: u64,
    pub jailed_until: Option<u64>,
    pub tombstoned: bool,
    pub missed_in_window: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct UnbondingInfo {
    pub validator: Address,
    pub completes_at: u64,
    pub balance: u128,
}

/// `migrate` input: nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MigrateMsg {}
