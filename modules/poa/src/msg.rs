//! Proof of authority's messages, borsh-encoded. Compiles natively too, for genesis builders, the CLI and tests.

use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

/// A 32-byte ed25519 public key: an authority's validator key, which is also its account address.
pub type Address = [u8; 32];

/// `instantiate` input.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InitMsg {
    /// The genesis authorities and their weights (validator power), each key once, weights non-zero.
    pub authorities: Vec<(Address, u64)>,
    /// The largest authority set an `Admit` may create (≥ the genesis set's size).
    pub max_authorities: u32,
    /// How many blocks a proposal stays open: one made at height `h` can be voted on below `h + proposal_ttl`.
    pub proposal_ttl: u64,
}

/// A change to the authority set.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Action {
    /// Make `key` an authority with weight `power` (> 0).
    Admit { key: Address, power: u64 },
    /// Take `key` out of the set (its validator power becomes 0).
    Remove { key: Address },
    /// Change an authority's weight to `power` (> 0).
    SetPower { key: Address, power: u64 },
}

/// `execute` input; the acting authority is the caller (the tx signer). Output: [`ProposalStatus`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ExecuteMsg {
    /// Open a proposal; the proposer's vote counts as yes.
    Propose { action: Action },
    /// Vote on an open proposal.
    Vote { id: u64, approve: bool },
}

/// `query` input. Each variant's answer is named on it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum QueryMsg {
    /// → `Vec<(Address, u64)>`: the authorities and weights, in key order.
    Authorities,
    /// → `Vec<Proposal>`: open proposals, oldest first.
    Proposals,
    /// → `Option<Proposal>`.
    Proposal { id: u64 },
    /// → [`Config`].
    Config,
    /// → `Vec<(Address, u64)>`: the validator updates the next `validator_set_updates` will return.
    PendingUpdates,
}

/// An open proposal.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub id: u64,
    pub proposer: Address,
    pub action: Action,
    /// The height it was made at.
    pub created_at: u64,
    /// Votes are accepted while the height is below this.
    pub expires_at: u64,
    /// Authorities that voted yes / no, in voting order. Only current authorities' weight counts.
    pub yes: Vec<Address>,
    pub no: Vec<Address>,
}

/// Where a proposal stands after a `Propose` or `Vote`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Status {
    /// Still collecting votes.
    Open,
    /// More than 2/3 of the authority weight voted yes: the change is applied.
    Passed,
    /// It can no longer pass (enough weight voted no), or it no longer applies to the set; it is closed.
    Rejected,
}

/// `execute` output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalStatus {
    pub id: u64,
    pub status: Status,
}

/// The answer to [`QueryMsg::Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Config {
    pub max_authorities: u32,
    pub proposal_ttl: u64,
}

/// `migrate` input: nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MigrateMsg {}

/// Whether `yes` out of `total` weight is more than two thirds: `3·yes > 2·total`, in integers (u128, so no
/// overflow for any u64 weights).
pub fn passes(yes: u128, total: u128) -> bool {
    3 * yes > 2 * total
}
