#![doc = include_str!("../README.md")]

mod error;
mod proof;
mod store;
mod tree;

pub use error::{ProofError, StateError};
pub use proof::{MAX_PROOF_BYTES, Proof, ProofLeaf, verify_proof};
pub use store::{
    CACHE_BYTES, Entry, MAX_BATCH_BYTES, MAX_BATCH_CHANGES, MAX_KEY_BYTES, MAX_VALUE_BYTES, State,
    StateConfig,
};
pub use tree::{MAX_DEPTH, compute_root, internal_hash, key_hash, leaf_hash, value_hash};
