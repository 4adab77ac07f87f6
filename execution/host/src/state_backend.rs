//! [`Backend`] on cairn-state's authenticated store. Reads take the read lock, `stage`/`commit` the write lock.

use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use cairn_primitives::{Hash, Height};
use cairn_state::{State, StateConfig};

use crate::backend::{Backend, Batch, Entry};

pub struct StateBackend {
    state: RwLock<State>,
}

impl StateBackend {
    pub fn open(path: &Path, config: StateConfig) -> Result<StateBackend, String> {
        let state = State::open(path, config).map_err(|e| e.to_string())?;
        Ok(StateBackend { state: RwLock::new(state) })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for StateBackend {
    fn version(&self) -> Height {
        self.read().version()
    }

    fn root(&self) -> Hash {
        self.read().root()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.read().get(key).map_err(|e| e.to_string())
    }

    fn get_at(&self, key: &[u8], h: Height) -> Result<Option<Vec<u8>>, String> {
        self.read().get_at(key, h).map_err(|e| e.to_string())
    }

    fn next_entry(&self, start: &[u8], end: Option<&[u8]>) -> Result<Option<Entry>, String> {
        self.read().next_entry(start, end).map_err(|e| e.to_string())
    }

    fn stage(&self, h: Height, batch: Batch) -> Result<Hash, String> {
        self.write().stage(h, batch).map_err(|e| e.to_string())
    }

    fn commit(&self) -> Result<Hash, String> {
        self.write().commit().map_err(|e| e.to_string())
    }

    fn discard_staged(&self) {
        self.write().discard_staged();
    }

    fn prove(&self, key: &[u8], h: Height) -> Result<(Option<Vec<u8>>, Vec<u8>), String> {
        let (value, proof) = self.read().prove(key, h).map_err(|e| e.to_string())?;
        Ok((value, proof.to_bytes()))
    }
}
