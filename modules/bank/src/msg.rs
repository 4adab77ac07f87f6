//! The bank's messages, borsh-encoded. This module compiles natively too: the node and the CLI use it to build
//! genesis init messages, transfer txs and queries.

use alloc::string::String;
use alloc::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

/// A 32-byte account address: an account's ed25519 public key, or a module's address.
pub type Address = [u8; 32];

/// `instantiate` input: the token and its genesis balances.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InitMsg {
    /// The token's name, e.g. `"cairn"` (1–32 ASCII letters, digits or `-_./`).
    pub denom: String,
    /// Who may mint and hand over the admin role; `None` fixes the supply at genesis.
    pub admin: Option<Address>,
    /// Genesis balances (each account once, amounts non-zero).
    pub balances: Vec<(Address, u128)>,
}

/// `execute` input. The acting account is always the caller (the tx signer, or a module that `call`s the bank).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ExecuteMsg {
    /// Move `amount` from the caller to `to`.
    Transfer { to: Address, amount: u128 },
    /// Create `amount` new tokens for `to` (admin only).
    Mint { to: Address, amount: u128 },
    /// Destroy `amount` of the caller's tokens.
    Burn { amount: u128 },
    /// Hand the admin role to `admin`, or renounce it with `None` (admin only).
    SetAdmin { admin: Option<Address> },
}

/// `query` input. Each variant's answer is a borsh value, named on the variant.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum QueryMsg {
    /// → `u128`: the balance of `account` (0 for an account that holds nothing).
    Balance { account: Address },
    /// → `u128`: all tokens in existence.
    TotalSupply,
    /// → [`TokenInfo`].
    Info,
    /// → `Vec<(Address, u128)>`: accounts with a balance, in address order, after `start_after`, at most
    /// `limit` (capped at [`MAX_PAGE`]).
    Accounts { start_after: Option<Address>, limit: u32 },
}

/// `migrate` input: nothing (the new code decides what to convert).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MigrateMsg {}

/// The answer to [`QueryMsg::Info`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TokenInfo {
    pub denom: String,
    pub admin: Option<Address>,
    pub total_supply: u128,
}

/// The largest page [`QueryMsg::Accounts`] returns.
pub const MAX_PAGE: u32 = 100;
