//! Governance's messages, parameters and actions, borsh-encoded. Compiles natively too, for the host wiring, the
//! CLI and tests.

use alloc::string::String;
use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

/// A 32-byte ed25519 public key (an account, a validator) or a module address.
pub type Address = [u8; 32];

/// Chain parameters a proposal may change, and the borsh type of their value: the fuel limits and every host-call
/// price (the host's `Prices`, by its genesis names; a host test checks the two lists agree).
pub const SETTABLE_PARAMS: &[(&str, &str)] = &[
    ("max_tx_fuel", "u64"),
    ("max_block_fuel", "u64"),
    ("prices.call_base", "u64"),
    ("prices.per_byte", "u64"),
    ("prices.storage_read", "u64"),
    ("prices.storage_write", "u64"),
    ("prices.storage_write_per_byte", "u64"),
    ("prices.storage_next", "u64"),
    ("prices.storage_next_skip", "u64"),
    ("prices.event", "u64"),
    ("prices.ed25519", "u64"),
    ("prices.blake3", "u64"),
    ("prices.module_call", "u64"),
    ("prices.entry", "u64"),
    ("prices.upload_per_byte", "u64"),
];

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Params {
    /// Smallest deposit a proposal needs.
    pub min_deposit: u128,
    /// Blocks a proposal is open for votes.
    pub voting_period: u64,
    /// Per cent of the total validator weight that must vote (abstain and veto count).
    pub quorum_pct: u32,
    /// Per cent of the yes + no + veto weight that must be yes.
    pub threshold_pct: u32,
    /// Per cent of the voting weight that, voting veto, rejects and burns the deposit.
    pub veto_pct: u32,
    /// A switch scheduled at height H must leave at least this many blocks between the vote's end and H.
    pub min_enactment_delay: u64,
    /// Open proposals at most (bounds `end_block` and storage).
    pub max_open_proposals: u32,
    /// Who may send `SetValidators` and `AckAction`: the host calls as the all-zero address.
    pub system: Address,
    /// Instantiated modules that export `validator_set_updates` (the host re-checks when it applies a switch).
    pub sybil_modules: Vec<Address>,
    /// Consensus engines the node can run.
    pub engines: Vec<String>,
}

impl Default for Params {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Params {
            min_deposit: 10_000_000,
            voting_period: 2 * DAY,
            quorum_pct: 33,
            threshold_pct: 50,
            veto_pct: 33,
            min_enactment_delay: 10,
            max_open_proposals: 16,
            system: [0; 32],
            sybil_modules: Vec::new(),
            engines: alloc::vec![String::from("bft")],
        }
    }
}

/// Who may upload code (mirrors the host's `UploadPermission`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum UploadPermission {
    Anyone,
    AllowList(Vec<Address>),
    Governance,
}

/// What a passed proposal asks the host to do. The host applies it (see the README, "Host wiring").
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Action {
    /// Set chain parameter `key` (one of [`SETTABLE_PARAMS`]) to the borsh `value`.
    SetParam {
        key: String,
        value: Vec<u8>,
    },
    SetUploadPermission(UploadPermission),
    /// From `height`, `module`'s validator set governs (the old set's members not in it get power 0, effective
    /// `height + 2`).
    SwitchSybil {
        module: Address,
        height: u64,
    },
    /// From `height`, run `engine` with `params` (engine-specific, opaque here): a consensus-param update
    /// returned from FinalizeBlock.
    SwitchEngine {
        engine: String,
        height: u64,
        params: Vec<u8>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub enum VoteOption {
    Yes,
    No,
    Abstain,
    Veto,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InitMsg {
    pub params: Params,
    /// The validator set at genesis (the host keeps it current with `SetValidators`).
    pub validators: Vec<(Address, u64)>,
    /// Deposit balances held by the module at genesis: see the README on custody.
    pub balances: Vec<(Address, u128)>,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ExecuteMsg {
    /// A validator proposes `action`, locking `deposit` of its balance.
    Propose { action: Action, deposit: u128 },
    /// A validator votes (again: its vote is replaced) on an open proposal.
    Vote { id: u64, option: VoteOption },
    /// The host reports validator power changes (the same list it returned from FinalizeBlock).
    SetValidators { updates: Vec<(Address, u64)> },
    /// The host has applied (or refused) passed action `id`: it leaves the queue.
    AckAction { id: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum QueryMsg {
    /// → [`Params`].
    Params,
    /// → `Option<Proposal>`.
    Proposal { id: u64 },
    /// → `Vec<Proposal>`: open proposals.
    Open,
    /// → `Vec<(u64, Action)>`: passed actions the host has not acknowledged, by id.
    PendingActions,
    /// → `u128`.
    Balance { who: Address },
    /// → `Vec<(Address, u64)>`.
    Validators,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Status {
    Open,
    Passed,
    /// Too few votes, too few yes, or no longer applicable; the deposit is refunded.
    Rejected,
    /// Vetoed: the deposit is burned.
    Vetoed,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub id: u64,
    pub proposer: Address,
    pub action: Action,
    pub deposit: u128,
    pub submitted_at: u64,
    pub voting_ends_at: u64,
    pub status: Status,
    /// Why it ended as it did (empty while open).
    pub outcome: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MigrateMsg {}
