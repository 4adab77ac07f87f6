use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{ChainId, Hash, Height, PublicKey, hash_of};

/// A block header. Its hash (`Header::id`) is the block id that consensus votes on.
///
/// `app_hash` is the application's state root *after* the parent block (`FinalizeBlock(h-1)` returns it), so the
/// app never has to execute a block before the block can be proposed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Header {
    pub chain_id: ChainId,
    pub height: Height,
    /// Id of the parent block (`Hash::ZERO` for height 1).
    pub parent: Hash,
    /// Proposer's clock in milliseconds since the Unix epoch. Modules read it, so validators check it: strictly
    /// above the parent's, and a proposal at most `MAX_FUTURE_SKEW_MS` (5 s) ahead of the voter's clock.
    pub time_ms: u64,
    pub proposer: PublicKey,
    /// Merkle root of the block's transactions (`Block::txs_root`).
    pub txs_root: Hash,
    /// Application state root after the parent block.
    pub app_hash: Hash,
    /// Hash of the validator set that finalizes this block.
    pub validators_hash: Hash,
    /// `Block::last_commit_hash` of `Block::last_commit`: the id covers who signed the parent's certificate.
    pub last_commit_hash: Hash,
    /// `Block::evidence_root` of `Block::evidence`: the id covers the misbehaviour the block reports.
    pub evidence_root: Hash,
}

impl Header {
    pub fn id(&self) -> Hash {
        hash_of(self)
    }
}

/// A header, its transactions, the parent's commit signatures and evidence of misbehaviour — all opaque bytes at
/// this layer: the application gives txs their meaning, the node (which knows consensus types) the other two.
///
/// Like CometBFT's `LastCommit` and `Evidence`, the last two are *in* the block, so every node hands the
/// application the same signers and misbehaviour whatever votes it happened to receive itself.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    pub header: Header,
    pub txs: Vec<Vec<u8>>,
    /// Who signed the certificate that finalized the parent, with their signatures (empty for the first block
    /// and after a block finalized without a quorum certificate).
    pub last_commit: Vec<u8>,
    /// Encoded evidence items not yet committed on the chain.
    pub evidence: Vec<Vec<u8>>,
}

impl Block {
    pub fn id(&self) -> Hash {
        self.header.id()
    }

    /// Merkle root over the blake3 hashes of `txs` (see [`merkle_root`]).
    pub fn txs_root(txs: &[Vec<u8>]) -> Hash {
        let leaves: Vec<Hash> = txs.iter().map(|t| Hash::digest(t)).collect();
        merkle_root(&leaves)
    }

    /// Whether the header's `txs_root` matches the transactions carried.
    pub fn txs_match_header(&self) -> bool {
        Block::txs_root(&self.txs) == self.header.txs_root
    }

    /// `Hash::ZERO` for no commit, else the blake3 hash of its bytes.
    pub fn last_commit_hash(last_commit: &[u8]) -> Hash {
        if last_commit.is_empty() { Hash::ZERO } else { Hash::digest(last_commit) }
    }

    /// Merkle root over the blake3 hashes of the evidence items (see [`merkle_root`]).
    pub fn evidence_root(evidence: &[Vec<u8>]) -> Hash {
        let leaves: Vec<Hash> = evidence.iter().map(|e| Hash::digest(e)).collect();
        merkle_root(&leaves)
    }

    /// Whether the header commits to everything the block carries: txs, last commit and evidence.
    pub fn body_matches_header(&self) -> bool {
        self.txs_match_header()
            && Block::last_commit_hash(&self.last_commit) == self.header.last_commit_hash
            && Block::evidence_root(&self.evidence) == self.header.evidence_root
    }
}

/// Binary Merkle root with RFC 6962 domain separation (leaf `0x00`, node `0x01`); an odd node is promoted.
/// The empty list has root `Hash::ZERO`.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves.iter().map(|l| Hash::digest_parts(&[&[0u8], l.as_bytes()])).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => Hash::digest_parts(&[&[1u8], a.as_bytes(), b.as_bytes()]),
                [a] => *a,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}
