use cairn_primitives::{Hash, Height};

/// Everything that can go wrong reading or writing the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("storage error: {0}")]
    Storage(#[from] redb::Error),
    #[error("key is {len} bytes, the limit is {max}")]
    KeyTooLarge { len: usize, max: usize },
    #[error("value is {len} bytes, the limit is {max}")]
    ValueTooLarge { len: usize, max: usize },
    #[error("batch has {len} changes, the limit is {max}")]
    TooManyChanges { len: usize, max: usize },
    #[error("batch holds {len} bytes of keys and values, the limit is {max}")]
    BatchTooLarge { len: usize, max: usize },
    #[error("cannot stage height {requested}: the next height is {expected}")]
    WrongHeight { requested: Height, expected: Height },
    #[error("nothing is staged: call stage() before commit()")]
    NothingStaged,
    #[error("version {requested} has been pruned; the oldest retained version is {oldest}")]
    Pruned { requested: Height, oldest: Height },
    #[error("version {requested} is not committed yet; the latest is {latest}")]
    FutureVersion { requested: Height, latest: Height },
    #[error("two keys in one batch have the same hash {0:?}")]
    HashCollision(Hash),
    #[error("state store is corrupt: {0}")]
    Corrupt(String),
}

impl StateError {
    /// Wraps any of redb's error types.
    pub(crate) fn db(e: impl Into<redb::Error>) -> StateError {
        StateError::Storage(e.into())
    }
}

/// Why a proof did not verify. Light clients match on this, so each reason is its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("proof has {depth} siblings, the limit is {max}")]
    TooDeep { depth: usize, max: usize },
    #[error("proof bytes are {len} long, the limit is {max}")]
    TooLarge { len: usize, max: usize },
    #[error("proof does not decode: {0}")]
    Decode(String),
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch { expected: Hash, computed: Hash },
    #[error("proof's terminal leaf does not lie on the key's path")]
    LeafOffPath,
    #[error("proof shows the key absent, but a value was claimed")]
    KeyAbsent,
    #[error("proof shows the key present, but absence was claimed")]
    KeyPresent,
    #[error("proof shows a different value for the key")]
    ValueMismatch,
}
