//! What `FinalizeBlock` tells the application about a block's last commit and evidence — read from the block
//! alone, so a replay after a crash and every other node say exactly the same.

use cairn_abci::{CommitInfo, Misbehavior, MisbehaviorKind};
use cairn_consensus::Evidence;
use cairn_primitives::Block;

use super::{LastCommit, MAX_EVIDENCE_ITEM_BYTES, MAX_LAST_COMMIT_BYTES};

/// One `Misbehavior` per evidence item (both kinds of conflicting votes are `Equivocation`), at the offence's
/// height. Items were checked before the block got its votes; one that does not decode (possible only in a
/// block a Byzantine quorum finalized) is skipped rather than stopping the node.
pub fn misbehavior(block: &Block) -> Vec<Misbehavior> {
    block
        .evidence
        .iter()
        .filter_map(|bytes| cairn_primitives::decode::<Evidence>(bytes, MAX_EVIDENCE_ITEM_BYTES).ok())
        .map(|e| Misbehavior {
            kind: MisbehaviorKind::Equivocation,
            validator: e.offender(),
            height: e.first.vote.height,
        })
        .collect()
}

/// The signers of the parent's certificate, or `None` when the block carries none (first block, a parent
/// decided by sampling).
pub fn decided_last_commit(block: &Block) -> Option<CommitInfo> {
    if block.last_commit.is_empty() {
        return None;
    }
    let commit: LastCommit = cairn_primitives::decode(&block.last_commit, MAX_LAST_COMMIT_BYTES).ok()?;
    Some(CommitInfo { height: commit.vote.height, signers: commit.signers().copied().collect() })
}
