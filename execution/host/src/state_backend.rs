//! [`Backend`] on cairn-state's authenticated store. Reads take the read lock, `stage`/`commit` the write lock.

use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use cairn_primitives::{Hash, Height};
use cairn_state::{State, StateConfig, StateError};

use crate::backend::{Backend, BackendError, Batch, Entry};

pub struct StateBackend {
    state: RwLock<State>,
}

impl StateBackend {
    pub fn open(path: &Path, config: StateConfig) -> Result<StateBackend, BackendError> {
        let state = State::open(path, config).map_err(classify)?;
        Ok(StateBackend { state: RwLock::new(state) })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// A store that refuses a batch by its size is the content's fault (see [`BackendError::Refused`]); everything
/// else (redb, the disk, corruption, heights out of order) is this machine's.
fn classify(e: StateError) -> BackendError {
    match e {
        StateError::KeyTooLarge { .. }
        | StateError::ValueTooLarge { .. }
        | StateError::TooManyChanges { .. }
        | StateError::BatchTooLarge { .. } => BackendError::Refused(e.to_string()),
        other => BackendError::Storage(other.to_string()),
    }
}

impl Backend for StateBackend {
    fn version(&self) -> Height {
        self.read().version()
    }

    fn root(&self) -> Hash {
        self.read().root()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        self.read().get(key).map_err(classify)
    }

    fn get_at(&self, key: &[u8], h: Height) -> Result<Option<Vec<u8>>, BackendError> {
        self.read().get_at(key, h).map_err(classify)
    }

    fn next_entry(&self, start: &[u8], end: Option<&[u8]>) -> Result<Option<Entry>, BackendError> {
        self.read().next_entry(start, end).map_err(classify)
    }

    fn stage(&self, h: Height, batch: Batch) -> Result<Hash, BackendError> {
        self.write().stage(h, batch).map_err(classify)
    }

    fn commit(&self) -> Result<Hash, BackendError> {
        self.write().commit().map_err(classify)
    }

    fn discard_staged(&self) {
        self.write().discard_staged();
    }

    fn prove(&self, key: &[u8], h: Height) -> Result<(Option<Vec<u8>>, Vec<u8>), BackendError> {
        let (value, proof) = self.read().prove(key, h).map_err(classify)?;
        Ok((value, proof.to_bytes()))
    }
}
