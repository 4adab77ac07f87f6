#![doc = include_str!("../README.md")]

mod blocks;
mod wal;

pub use blocks::{BlockStore, TxLocation};
pub use wal::{MAX_WAL_RECORD_BYTES, Wal};

/// Errors of the node's storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error in {path}: {source}")]
    Db {
        path: String,
        #[source]
        source: redb::Error,
    },
    #[error("corrupt {what} at height {height}: {reason}")]
    Corrupt { what: &'static str, height: u64, reason: String },
    #[error("block at height {got} does not follow the last stored height {last}")]
    OutOfOrder { got: u64, last: u64 },
    #[error("{what} of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { what: &'static str, len: usize, max: usize },
}

/// Attaches the file path to any redb error, so a failure says which file.
pub(crate) trait WithPath<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> WithPath<T> for Result<T, E> {
    fn at(self, path: &std::path::Path) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Db { path: path.display().to_string(), source: e.into() })
    }
}

pub(crate) fn durability(fsync: bool) -> redb::Durability {
    if fsync { redb::Durability::Immediate } else { redb::Durability::None }
}
