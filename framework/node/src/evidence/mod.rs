//! Evidence and last-commit signatures in blocks (CometBFT's `Evidence` and `LastCommit`): what a block may carry,
//! how every validator checks it before voting, the pool of evidence waiting for a block, and what the
//! application is told.
//!
//! - `last_commit`: the parent's finalization certificate, keyed by public key, so the block alone says who signed.
//! - `check`: the rules a proposal's evidence and last commit must pass (pure functions, unit-tested here).
//! - `pool`: evidence this node saw, bounded, until a block commits it.
//! - `to_app`: the `misbehavior` and `decided_last_commit` of `FinalizeBlock`, read from the block alone.

mod check;
mod last_commit;
mod pool;
mod to_app;

pub use check::{check_evidence, check_last_commit, evidence_id};
pub use last_commit::LastCommit;
pub use pool::EvidencePool;
pub use to_app::{decided_last_commit, misbehavior};

/// Most evidence items in one block.
pub const MAX_EVIDENCE_PER_BLOCK: usize = 16;
/// Largest encoded evidence item (two signed votes take ~300 bytes).
pub const MAX_EVIDENCE_ITEM_BYTES: usize = 1024;
/// Most evidence bytes in one block.
pub const MAX_EVIDENCE_BYTES: usize = MAX_EVIDENCE_PER_BLOCK * MAX_EVIDENCE_ITEM_BYTES;
/// Evidence of an offence more than this many heights below the block carrying it is refused: the node only
/// keeps validator sets (and committed evidence ids) this far back. Like CometBFT's `max_age_num_blocks`; a
/// slashing module may apply a shorter age of its own (pos: `max_evidence_age`).
pub const MAX_EVIDENCE_AGE: u64 = 100;
/// Largest encoded last commit: a key and a signature per validator, for up to `MAX_CERTIFICATE_SIGNERS`.
pub const MAX_LAST_COMMIT_BYTES: usize = 64 + cairn_consensus::MAX_CERTIFICATE_SIGNERS * 96;
