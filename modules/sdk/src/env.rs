use alloc::string::String;
use borsh::{BorshDeserialize, BorshSerialize};

use crate::host;

/// A 32-byte account or module address. An account's address is its ed25519 public key.
pub type Address = [u8; 32];

/// What the host tells a module about the call it is running in (docs/HOST_API.md, `env`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Env {
    /// The chain this call runs on.
    pub chain_id: String,
    /// The height of the block being executed.
    pub height: u64,
    /// The block time in milliseconds since the Unix epoch (from the block header, so deterministic).
    pub time_ms: u64,
    /// This module instance's address.
    pub contract: Address,
    /// The immediate caller: the tx sender, or the calling module in a cross-module call.
    pub caller: Address,
    /// The account that signed the tx.
    pub origin: Address,
}

/// Ask the host for the [`Env`] of the running call. Entry points receive it already; this is for helpers deep in
/// a call that did not get it passed down.
pub fn env() -> Env {
    host::env()
}

/// Lower-case hex of `bytes`: how addresses appear in events and error messages.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
