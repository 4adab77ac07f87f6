//! Backend traits (CosmWasm-vm style): the host reads and writes state only through [`Backend`], so the same host
//! runs on the authenticated store (`cairn-state`, see [`crate::state_backend`]) and on [`MemBackend`] in tests.
//!
//! On top of the backend, an [`Overlay`] holds the writes of the running block in layers: the block, the tx, and
//! one layer per nested module call, so a failed call or tx drops exactly its own writes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use cairn_primitives::{Hash, Height};

pub use crate::error::BackendError;

/// Largest key the backend accepts (module keys are ≤ 256 bytes plus the host's prefix).
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value the backend accepts.
pub const MAX_VALUE_BYTES: usize = 64 * 1024 + 1024;

/// A change set: `None` deletes.
pub type Batch = BTreeMap<Vec<u8>, Option<Vec<u8>>>;
/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);
type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Versioned, authenticated key-value state. Reads see committed state only, never a staged batch.
pub trait Backend: Send + Sync + 'static {
    /// Last committed height.
    fn version(&self) -> Height;
    /// Root at `version()`.
    fn root(&self) -> Hash;
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;
    fn get_at(&self, key: &[u8], h: Height) -> Result<Option<Vec<u8>>, BackendError>;
    /// First entry with `start <= key < end` (`None`: unbounded).
    fn next_entry(&self, start: &[u8], end: Option<&[u8]>) -> Result<Option<Entry>, BackendError>;
    /// Root of `batch` applied on top of `version()` at `h = version() + 1`; keeps it staged.
    fn stage(&self, h: Height, batch: Batch) -> Result<Hash, BackendError>;
    /// Persists the staged batch.
    fn commit(&self) -> Result<Hash, BackendError>;
    fn discard_staged(&self);
    /// Value at `h` with an encoded proof against the root at `h`.
    fn prove(&self, key: &[u8], h: Height) -> Result<(Option<Vec<u8>>, Vec<u8>), BackendError>;
}

#[derive(Default)]
struct MemInner {
    versions: Vec<(Map, Hash)>,
    staged: Option<(Height, Map, Hash)>,
}

/// In-memory backend for unit tests and benchmarks of the host alone. Its root is a plain hash over all entries
/// (no proofs); `prove` returns an empty proof.
#[derive(Default)]
pub struct MemBackend {
    inner: Mutex<MemInner>,
}

impl MemBackend {
    pub fn new() -> MemBackend {
        MemBackend::default()
    }

    fn root_of(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        let mut h = blake3::Hasher::new();
        for (k, v) in map {
            h.update(&(k.len() as u64).to_le_bytes());
            h.update(k);
            h.update(&(v.len() as u64).to_le_bytes());
            h.update(v);
        }
        Hash(*h.finalize().as_bytes())
    }

    fn with<R>(&self, f: impl FnOnce(&mut MemInner) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

impl Backend for MemBackend {
    fn version(&self) -> Height {
        self.with(|m| Height(m.versions.len() as u64))
    }

    fn root(&self) -> Hash {
        self.with(|m| m.versions.last().map(|v| v.1).unwrap_or(Hash::ZERO))
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.with(|m| m.versions.last().and_then(|v| v.0.get(key).cloned())))
    }

    fn get_at(&self, key: &[u8], h: Height) -> Result<Option<Vec<u8>>, BackendError> {
        self.with(|m| {
            if h.0 == 0 {
                return Ok(None);
            }
            let idx = usize::try_from(h.0 - 1).map_err(|e| BackendError::Storage(e.to_string()))?;
            match m.versions.get(idx) {
                Some(v) => Ok(v.0.get(key).cloned()),
                None => Err(BackendError::Storage(format!("height {h} is not committed"))),
            }
        })
    }

    fn next_entry(&self, start: &[u8], end: Option<&[u8]>) -> Result<Option<Entry>, BackendError> {
        Ok(self.with(|m| {
            let map = m.versions.last().map(|v| &v.0)?;
            let upper = match end {
                Some(e) if e <= start => return None,
                Some(e) => Bound::Excluded(e),
                None => Bound::Unbounded,
            };
            map.range::<[u8], _>((Bound::Included(start), upper)).next().map(|(k, v)| (k.clone(), v.clone()))
        }))
    }

    fn stage(&self, h: Height, batch: Batch) -> Result<Hash, BackendError> {
        self.with(|m| {
            let expected = m.versions.len() as u64 + 1;
            if h.0 != expected {
                return Err(BackendError::Storage(format!("stage at height {h}, expected {expected}")));
            }
            let mut map = m.versions.last().map(|v| v.0.clone()).unwrap_or_default();
            for (k, v) in batch {
                if k.len() > MAX_KEY_BYTES {
                    return Err(BackendError::Refused(format!(
                        "key of {} bytes over {MAX_KEY_BYTES}",
                        k.len()
                    )));
                }
                match v {
                    Some(v) if v.len() > MAX_VALUE_BYTES => {
                        return Err(BackendError::Refused(format!(
                            "value of {} bytes over {MAX_VALUE_BYTES}",
                            v.len()
                        )));
                    }
                    Some(v) => {
                        map.insert(k, v);
                    }
                    None => {
                        map.remove(&k);
                    }
                }
            }
            let root = MemBackend::root_of(&map);
            m.staged = Some((h, map, root));
            Ok(root)
        })
    }

    fn commit(&self) -> Result<Hash, BackendError> {
        self.with(|m| match m.staged.take() {
            Some((_, map, root)) => {
                m.versions.push((map, root));
                Ok(root)
            }
            None => Err(BackendError::Storage("nothing staged".into())),
        })
    }

    fn discard_staged(&self) {
        self.with(|m| m.staged = None);
    }

    fn prove(&self, key: &[u8], h: Height) -> Result<(Option<Vec<u8>>, Vec<u8>), BackendError> {
        Ok((self.get_at(key, h)?, Vec::new()))
    }
}

/// The size of a set of writes, counted the way the store's batch limits count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteSize {
    pub entries: u64,
    pub bytes: u64,
}

impl WriteSize {
    /// Whether `self` fits in `budget`.
    pub fn fits(&self, budget: &WriteSize) -> bool {
        self.entries <= budget.entries && self.bytes <= budget.bytes
    }

    pub fn saturating_sub(&self, used: &WriteSize) -> WriteSize {
        WriteSize {
            entries: self.entries.saturating_sub(used.entries),
            bytes: self.bytes.saturating_sub(used.bytes),
        }
    }
}

/// What a bounded seek found: the entry (if any) and the deletion markers skipped on the way, or that it stopped
/// at the bound.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Found(Option<Entry>, u64),
    TooManySkips,
}

/// Layered uncommitted writes over a [`Backend`]. Layer 0 is the block; the host pushes a layer per tx and per
/// nested call, merges it down on success and drops it on failure.
#[derive(Default, Debug)]
pub struct Overlay {
    /// Read-only writes below every layer (genesis, before the first block commits); shared, not copied.
    shared: Option<Arc<Batch>>,
    layers: Vec<Batch>,
}

impl Overlay {
    pub fn new(block: Batch) -> Overlay {
        Overlay { shared: None, layers: vec![block] }
    }

    /// An overlay whose bottom is `shared` (not copied until `into_batch`).
    pub fn with_shared(shared: Arc<Batch>) -> Overlay {
        Overlay { shared: Some(shared), layers: vec![Batch::new()] }
    }

    pub fn push(&mut self) {
        self.layers.push(Batch::new());
    }

    /// Merges the top layer into the one below (success).
    pub fn merge_top(&mut self) {
        if self.layers.len() < 2 {
            return;
        }
        if let Some(top) = self.layers.pop()
            && let Some(below) = self.layers.last_mut()
        {
            if below.is_empty() {
                *below = top;
            } else {
                below.extend(top);
            }
        }
    }

    /// Drops the top layer (failure). Never drops the block layer.
    pub fn drop_top(&mut self) {
        if self.layers.len() > 1 {
            self.layers.pop();
        }
    }

    /// Entries and bytes (keys + values) in the top layer: what the running unit has written so far.
    pub fn top_size(&self) -> WriteSize {
        let Some(top) = self.layers.last() else { return WriteSize::default() };
        let bytes = top.iter().map(|(k, v)| (k.len() + v.as_ref().map_or(0, Vec::len)) as u64).sum();
        WriteSize { entries: top.len() as u64, bytes }
    }

    /// The top layer's writes (the running unit's), in key order.
    pub fn top_layer(&self) -> Option<&Batch> {
        self.layers.last()
    }

    /// A key's value as it was before the top layer's writes.
    pub fn get_below_top(&self, base: &dyn Backend, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        for layer in self.layers.iter().rev().skip(1).chain(self.shared.as_deref()) {
            if let Some(v) = layer.get(key) {
                return Ok(v.clone());
            }
        }
        base.get(key)
    }

    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Everything written, flattened (the block's batch).
    pub fn into_batch(mut self) -> Batch {
        while self.layers.len() > 1 {
            self.merge_top();
        }
        let top = self.layers.pop().unwrap_or_default();
        match self.shared {
            Some(shared) => {
                let mut all = Arc::unwrap_or_clone(shared);
                all.extend(top);
                all
            }
            None => top,
        }
    }

    pub fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if self.layers.is_empty() {
            self.layers.push(Batch::new());
        }
        if let Some(top) = self.layers.last_mut() {
            top.insert(key, value);
        }
    }

    pub fn get(&self, base: &dyn Backend, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        for layer in self.layers.iter().rev().chain(self.shared.as_deref()) {
            if let Some(v) = layer.get(key) {
                return Ok(v.clone());
            }
        }
        base.get(key)
    }

    /// First live entry with `start <= key < end`, merging the layers with the backend.
    pub fn next_entry(
        &self,
        base: &dyn Backend,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<Option<Entry>, BackendError> {
        match self.next_entry_bounded(base, start, end, u64::MAX)? {
            Next::Found(e, _) => Ok(e),
            Next::TooManySkips => Ok(None),
        }
    }

    /// Like [`Overlay::next_entry`], but gives up after skipping `max_skips` deletion markers, and says how many
    /// it skipped: a module pays per marker, so a scan over a deleted range cannot be free work for the node.
    pub fn next_entry_bounded(
        &self,
        base: &dyn Backend,
        start: &[u8],
        end: Option<&[u8]>,
        max_skips: u64,
    ) -> Result<Next, BackendError> {
        let mut skipped = 0u64;
        let mut cursor = start.to_vec();
        loop {
            if let Some(e) = end
                && e <= cursor.as_slice()
            {
                return Ok(Next::Found(None, skipped));
            }
            let upper = match end {
                Some(e) => Bound::Excluded(e),
                None => Bound::Unbounded,
            };
            // Smallest candidate key across the backend and all layers (tombstones included).
            let mut best: Option<Vec<u8>> = base.next_entry(&cursor, end)?.map(|(k, _)| k);
            for layer in self.layers.iter().chain(self.shared.as_deref()) {
                if let Some((k, _)) =
                    layer.range::<[u8], _>((Bound::Included(cursor.as_slice()), upper)).next()
                    && best.as_ref().is_none_or(|b| k < b)
                {
                    best = Some(k.clone());
                }
            }
            let Some(key) = best else { return Ok(Next::Found(None, skipped)) };
            match self.get(base, &key)? {
                Some(v) => return Ok(Next::Found(Some((key, v)), skipped)),
                None => {
                    if skipped >= max_skips {
                        return Ok(Next::TooManySkips);
                    }
                    skipped += 1;
                    cursor = key;
                    cursor.push(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_iteration_merges_layers_and_skips_deletions() {
        let base = MemBackend::new();
        let mut b = Batch::new();
        b.insert(b"a1".to_vec(), Some(b"x".to_vec()));
        b.insert(b"a3".to_vec(), Some(b"y".to_vec()));
        b.insert(b"b".to_vec(), Some(b"z".to_vec()));
        base.stage(Height(1), b).ok();
        base.commit().ok();
        let mut o = Overlay::new(Batch::new());
        o.push();
        o.set(b"a1".to_vec(), None);
        o.set(b"a2".to_vec(), Some(b"new".to_vec()));
        let mut seen = Vec::new();
        let mut start = b"a".to_vec();
        while let Ok(Some((k, _))) = o.next_entry(&base, &start, Some(b"b")) {
            start = k.clone();
            start.push(0);
            seen.push(k);
        }
        assert_eq!(seen, vec![b"a2".to_vec(), b"a3".to_vec()]);
        o.drop_top();
        assert_eq!(o.get(&base, b"a1").ok().flatten(), Some(b"x".to_vec()));
    }
}
