//! What nodes say to each other beyond the engine's own bytes (borsh, size-checked before decoding).
//!
//! - Topic `Consensus` gossip and direct messages: a [`ConsensusEnvelope`] — the engine's bytes tagged with the
//!   engine *epoch* (the first height the engine instance decides), so messages of an engine that has been
//!   switched out never reach its successor.
//! - Topic `Blocks` gossip: a proposed [`Block`], so validators hold the payload whose id they vote on.
//! - Topic `Txs` gossip: raw tx bytes.
//! - Requests: [`SyncRequest`] → [`SyncResponse`] (status, a range of finalized blocks, one block body by id).

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{Block, Hash, Height};

use crate::error::SyncError;

/// Engine bytes with the epoch of the engine instance that produced them.
///
/// `seq` numbers the sender's broadcasts. Engines re-broadcast the very same vote on their timers (a vote lost to
/// a partition must get through once it heals); gossip deduplicates by content, so without `seq` those retries
/// would be dropped as already seen and a healed partition could stay stuck.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConsensusEnvelope {
    pub epoch: u64,
    pub seq: u64,
    pub bytes: Vec<u8>,
}

/// A finalized block with its finalization certificate (borsh of `cairn_consensus::Certificate`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertifiedBlock {
    pub block: Block,
    pub certificate: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// "How far are you?"
    Status,
    /// Finalized blocks from `from` on, at most `max` of them (the server caps it too).
    Blocks { from: Height, max: u32 },
    /// A block body by id: a proposal whose gossip we missed, or a finalized block.
    Body { id: Hash },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Status {
        height: Height,
        last_block_id: Hash,
    },
    Blocks(Vec<CertifiedBlock>),
    /// Boxed: a block is far larger than the other answers (borsh encodes a box as its content).
    Body(Option<Box<Block>>),
    /// The request was refused (malformed, too busy).
    Error(String),
}

pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    cairn_primitives::encode(value)
}

pub fn decode<T: BorshDeserialize>(bytes: &[u8], max: usize) -> Result<T, SyncError> {
    cairn_primitives::decode(bytes, max).map_err(|e| SyncError::Malformed(e.to_string()))
}

/// A message enum whose kinds may grow in later versions (borsh puts the variant tag in the first byte).
pub trait Kinds {
    /// How many kinds this version knows: tags `0..KNOWN`.
    const KNOWN: u8;
}

impl Kinds for SyncRequest {
    const KNOWN: u8 = 3;
}

impl Kinds for SyncResponse {
    const KNOWN: u8 = 4;
}

/// [`decode`] that tells a *newer* message apart from a bad one: undecodable bytes whose tag is past the kinds
/// this version knows are [`SyncError::NewerKind`] — a peer running a later cairn, to be answered or ignored,
/// never blamed.
pub fn decode_kind<T: BorshDeserialize + Kinds>(bytes: &[u8], max: usize) -> Result<T, SyncError> {
    decode(bytes, max).map_err(|e| match bytes.first() {
        Some(&tag) if tag >= T::KNOWN && bytes.len() <= max => SyncError::NewerKind(tag),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_kind_is_told_apart_from_garbage() {
        // KNOWN must follow the enums: the last kind's tag is KNOWN - 1 (adding a kind without bumping it fails).
        let last = encode(&SyncRequest::Body { id: Hash::ZERO });
        assert_eq!(last[0], SyncRequest::KNOWN - 1);
        let last = encode(&SyncResponse::Error(String::new()));
        assert_eq!(last[0], SyncResponse::KNOWN - 1);
        assert!(matches!(decode_kind::<SyncRequest>(&[3, 1, 2], 1024), Err(SyncError::NewerKind(3))));
        assert!(matches!(decode_kind::<SyncResponse>(&[200], 1024), Err(SyncError::NewerKind(200))));
        // A known kind with a bad body is malformed, as is anything over the size limit.
        assert!(matches!(decode_kind::<SyncRequest>(&[1, 9], 1024), Err(SyncError::Malformed(_))));
        assert!(matches!(decode_kind::<SyncRequest>(&[7; 64], 8), Err(SyncError::Malformed(_))));
        assert_eq!(decode_kind::<SyncRequest>(&[0], 1024).unwrap(), SyncRequest::Status);
    }

    #[test]
    fn garbage_and_oversized_are_errors() {
        assert!(decode::<SyncRequest>(&[9, 9, 9], 1024).is_err());
        let big = encode(&SyncResponse::Error("x".repeat(100)));
        assert!(decode::<SyncResponse>(&big, 10).is_err());
        let ok = encode(&SyncRequest::Blocks { from: Height(3), max: 5 });
        assert_eq!(
            decode::<SyncRequest>(&ok, 1024).unwrap(),
            SyncRequest::Blocks { from: Height(3), max: 5 }
        );
    }
}
