//! The versioned store: redb tables, staging, atomic commit and pruning.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_primitives::{Hash, Height};
use redb::{
    Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};

use crate::StateError;
use crate::proof::{Proof, ProofLeaf};
use crate::tree::{
    self, Change, Child, NodeSource, Page, Updater, ValueEvent, key_hash, leaf_hash, value_hash,
};

/// Longest key accepted: module keys are at most 256 bytes, plus room for the host's prefixes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value accepted: 64 KiB for modules, plus slack for the host's own records.
pub const MAX_VALUE_BYTES: usize = 64 * 1024 + 1024;
/// Most changes in one staged batch; with `MAX_BATCH_BYTES`, bounds the memory a batch holds until commit.
pub const MAX_BATCH_CHANGES: usize = 1 << 22;
/// Most key and value bytes in one staged batch.
pub const MAX_BATCH_BYTES: usize = 256 * 1024 * 1024;
/// Page cache redb may use by default (`State::open`). It grows with use and counts in the node's memory; the
/// 1 GB target box also runs consensus and wasmtime. Beyond it, reads fall back to the OS page cache.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Bumped when the on-disk layout changes, so an old binary refuses a new store rather than misreading it
/// (1: binary nodes, never released; 2: 16-slot pages).
const FORMAT: u64 = 2;

/// `"format"`, `"version"` (last committed), `"oldest"` (oldest retained).
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// version → encoded root `Child`.
const ROOTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("roots");
/// `tree::node_key` → encoded `Page`.
const NODES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("nodes");
/// version (BE) ‖ key hash → value written at that version. Appended in order at each commit; a leaf records
/// the version of its value, so historic reads walk the tree and then look up here.
const VALUES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("values");
/// key → value at the latest version: `get` and `next_entry` without touching the tree.
const LATEST: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("latest");
/// version → list of node and value keys that stopped being current at that version.
const STALE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("stale");

const STALE_NODE: u8 = 0;
const STALE_VALUE: u8 = 1;

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// How the store behaves; fixed for the life of a `State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateConfig {
    /// Keep this many versions before the latest readable (`get_at`, `root_at`, `prove`); 0 keeps all.
    pub prune_window: u64,
    /// fsync every commit. Off, a crash (or power loss) may lose the last commits, reverting to an earlier
    /// committed version — still consistent, never a mix; a clean drop makes them durable.
    pub fsync: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { prune_window: 100, fsync: true }
    }
}

/// A batch computed by `stage`, waiting for `commit`.
struct Staged {
    version: u64,
    root: Child,
    entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    key_hashes: Vec<Hash>,
    nodes: Vec<(Vec<u8>, Page)>,
    stale_nodes: Vec<Vec<u8>>,
    events: Vec<ValueEvent>,
}

/// Authenticated, versioned key-value state.
///
/// `State` is `Send + Sync`: reads take `&self` and use their own redb read transaction, so share it behind an
/// `Arc<RwLock<_>>` (queries take the read lock, `stage`/`commit` the write lock). Reads always see committed
/// state, never a staged batch.
pub struct State {
    db: Database,
    config: StateConfig,
    version: u64,
    oldest: u64,
    root: Child,
    staged: Option<Staged>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("version", &self.version)
            .field("oldest", &self.oldest)
            .field("root", &self.root.hash())
            .field("staged", &self.staged.as_ref().map(|s| s.version))
            .finish()
    }
}

struct TableSource<'t>(&'t ReadOnlyTable<&'static [u8], &'static [u8]>);

impl NodeSource for TableSource<'_> {
    fn load(&self, key: &[u8]) -> Result<Page, StateError> {
        let guard = self
            .0
            .get(key)
            .map_err(StateError::db)?
            .ok_or_else(|| StateError::Corrupt(format!("missing tree page {}", hex(key))))?;
        Page::decode(guard.value())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn value_key(key_hash: &Hash, version: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&version.to_be_bytes());
    k[8..].copy_from_slice(&key_hash.0);
    k
}

fn check_key(key: &[u8]) -> Result<(), StateError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StateError::KeyTooLarge { len: key.len(), max: MAX_KEY_BYTES });
    }
    Ok(())
}

impl State {
    /// Opens the store at `path`, creating an empty one (version 0, empty root) if the file does not exist.
    pub fn open(path: &Path, config: StateConfig) -> Result<State, StateError> {
        State::open_with_cache(path, config, CACHE_BYTES)
    }

    /// `open` with redb's page cache limited to `cache_bytes`.
    pub fn open_with_cache(
        path: &Path,
        config: StateConfig,
        cache_bytes: usize,
    ) -> Result<State, StateError> {
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(StateError::db)?;
        let txn = db.begin_write().map_err(StateError::db)?;
        let (version, oldest, root) = {
            let mut meta = txn.open_table(META).map_err(StateError::db)?;
            let mut roots = txn.open_table(ROOTS).map_err(StateError::db)?;
            txn.open_table(NODES).map_err(StateError::db)?;
            txn.open_table(VALUES).map_err(StateError::db)?;
            txn.open_table(LATEST).map_err(StateError::db)?;
            txn.open_table(STALE).map_err(StateError::db)?;
            let format = meta.get("format").map_err(StateError::db)?.map(|g| g.value());
            match format {
                None => {
                    meta.insert("format", FORMAT).map_err(StateError::db)?;
                    meta.insert("version", 0).map_err(StateError::db)?;
                    meta.insert("oldest", 0).map_err(StateError::db)?;
                    roots.insert(0, Child::Empty.encode().as_slice()).map_err(StateError::db)?;
                    (0, 0, Child::Empty)
                }
                Some(FORMAT) => {
                    let get = |name: &str| -> Result<u64, StateError> {
                        meta.get(name)
                            .map_err(StateError::db)?
                            .map(|g| g.value())
                            .ok_or_else(|| StateError::Corrupt(format!("meta.{name} missing")))
                    };
                    let version = get("version")?;
                    let oldest = get("oldest")?;
                    let root = roots
                        .get(version)
                        .map_err(StateError::db)?
                        .ok_or_else(|| StateError::Corrupt(format!("root of version {version} missing")))
                        .and_then(|g| Child::decode(g.value()))?;
                    (version, oldest, root)
                }
                Some(other) => {
                    return Err(StateError::Corrupt(format!(
                        "store format {other}, this build reads format {FORMAT}"
                    )));
                }
            }
        };
        txn.commit().map_err(StateError::db)?;
        Ok(State { db, config, version, oldest, root, staged: None })
    }

    pub fn config(&self) -> StateConfig {
        self.config
    }

    /// Last committed height (0: nothing committed yet).
    pub fn version(&self) -> Height {
        Height(self.version)
    }

    /// Oldest version still readable.
    pub fn oldest_version(&self) -> Height {
        Height(self.oldest)
    }

    /// Root at `version()`.
    pub fn root(&self) -> Hash {
        self.root.hash()
    }

    fn check_retained(&self, h: Height) -> Result<(), StateError> {
        if h.0 > self.version {
            return Err(StateError::FutureVersion { requested: h, latest: Height(self.version) });
        }
        if h.0 < self.oldest {
            return Err(StateError::Pruned { requested: h, oldest: Height(self.oldest) });
        }
        Ok(())
    }

    fn read(&self) -> Result<ReadTransaction, StateError> {
        self.db.begin_read().map_err(StateError::db)
    }

    fn root_child_at(&self, txn: &ReadTransaction, h: Height) -> Result<Child, StateError> {
        if h.0 == self.version {
            return Ok(self.root);
        }
        let roots = txn.open_table(ROOTS).map_err(StateError::db)?;
        let guard = roots
            .get(h.0)
            .map_err(StateError::db)?
            .ok_or_else(|| StateError::Corrupt(format!("root of version {h} missing")))?;
        Child::decode(guard.value())
    }

    /// Root at a retained version.
    pub fn root_at(&self, h: Height) -> Result<Hash, StateError> {
        self.check_retained(h)?;
        if h.0 == self.version {
            return Ok(self.root.hash());
        }
        let txn = self.read()?;
        Ok(self.root_child_at(&txn, h)?.hash())
    }

    /// Value of `key` at the latest committed version.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        let txn = self.read()?;
        let latest = txn.open_table(LATEST).map_err(StateError::db)?;
        Ok(latest.get(key).map_err(StateError::db)?.map(|g| g.value().to_vec()))
    }

    /// Value of `key` at a retained version.
    pub fn get_at(&self, key: &[u8], h: Height) -> Result<Option<Vec<u8>>, StateError> {
        check_key(key)?;
        self.check_retained(h)?;
        if h.0 == self.version {
            return self.get(key);
        }
        let txn = self.read()?;
        let root = self.root_child_at(&txn, h)?;
        let nodes = txn.open_table(NODES).map_err(StateError::db)?;
        let kh = key_hash(key);
        let (_, end) = tree::walk(&TableSource(&nodes), root, &kh)?;
        match end {
            Child::Leaf { key_hash, hash, version } if key_hash == kh => {
                read_value(&txn, &kh, &hash, version).map(|(v, _)| Some(v))
            }
            _ => Ok(None),
        }
    }

    /// First committed entry with `start <= key < end` (`end` `None`: unbounded), in key order.
    pub fn next_entry(&self, start: &[u8], end: Option<&[u8]>) -> Result<Option<Entry>, StateError> {
        let txn = self.read()?;
        let latest = txn.open_table(LATEST).map_err(StateError::db)?;
        let mut range = match end {
            Some(end) if end <= start => return Ok(None),
            Some(end) => latest.range::<&[u8]>(start..end),
            None => latest.range::<&[u8]>(start..),
        }
        .map_err(StateError::db)?;
        match range.next() {
            None => Ok(None),
            Some(entry) => {
                let (k, v) = entry.map_err(StateError::db)?;
                Ok(Some((k.value().to_vec(), v.value().to_vec())))
            }
        }
    }

    /// Computes the root that `changes` (`None` deletes) applied on top of `version()` give at height `h`, which
    /// must be `version() + 1`, and keeps the batch staged for `commit`. Staging again replaces the batch.
    pub fn stage(
        &mut self,
        h: Height,
        changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<Hash, StateError> {
        self.staged = None;
        let expected = Height(self.version.saturating_add(1));
        if h != expected {
            return Err(StateError::WrongHeight { requested: h, expected });
        }
        if changes.len() > MAX_BATCH_CHANGES {
            return Err(StateError::TooManyChanges { len: changes.len(), max: MAX_BATCH_CHANGES });
        }
        let mut bytes = 0usize;
        for (k, v) in &changes {
            check_key(k)?;
            let vlen = v.as_ref().map_or(0, Vec::len);
            if vlen > MAX_VALUE_BYTES {
                return Err(StateError::ValueTooLarge { len: vlen, max: MAX_VALUE_BYTES });
            }
            bytes = bytes.saturating_add(k.len() + vlen);
        }
        if bytes > MAX_BATCH_BYTES {
            return Err(StateError::BatchTooLarge { len: bytes, max: MAX_BATCH_BYTES });
        }
        let entries: Vec<(Vec<u8>, Option<Vec<u8>>)> = changes.into_iter().collect();
        let key_hashes: Vec<Hash> = entries.iter().map(|(k, _)| key_hash(k)).collect();
        let mut tree_changes: Vec<Change> = entries
            .iter()
            .zip(&key_hashes)
            .enumerate()
            .map(|(index, ((_, v), kh))| Change {
                key_hash: *kh,
                leaf_hash: v.as_deref().map(|v| leaf_hash(kh, &value_hash(v))),
                index,
            })
            .collect();
        tree_changes.sort_unstable_by_key(|c| c.key_hash);
        if let Some(w) = tree_changes.windows(2).find(|w| w[0].key_hash == w[1].key_hash) {
            return Err(StateError::HashCollision(w[0].key_hash));
        }

        let txn = self.read()?;
        let nodes = txn.open_table(NODES).map_err(StateError::db)?;
        let src = TableSource(&nodes);
        let mut up = Updater::new(&src, h.0);
        let root = up.update(self.root, 0, &tree_changes)?;
        let hash = root.hash();
        self.staged = Some(Staged {
            version: h.0,
            root,
            entries,
            key_hashes,
            nodes: up.nodes,
            stale_nodes: up.stale_nodes,
            events: up.events,
        });
        Ok(hash)
    }

    /// Drops the staged batch, if any.
    pub fn discard_staged(&mut self) {
        self.staged = None;
    }

    /// Root of the staged batch, if one is staged.
    pub fn staged_root(&self) -> Option<Hash> {
        self.staged.as_ref().map(|s| s.root.hash())
    }

    /// Persists the staged batch in one redb write transaction — after a crash the store is at the old version
    /// or the new one, never a mix — and prunes versions that fell out of the window. On error the batch stays
    /// staged and the store is unchanged.
    pub fn commit(&mut self) -> Result<Hash, StateError> {
        let staged = self.staged.as_ref().ok_or(StateError::NothingStaged)?;
        let mut txn = self.db.begin_write().map_err(StateError::db)?;
        let durability = if self.config.fsync { Durability::Immediate } else { Durability::None };
        txn.set_durability(durability).map_err(StateError::db)?;
        let oldest = write_batch(&txn, staged, self.oldest, self.config.prune_window)?;
        txn.commit().map_err(StateError::db)?;
        self.version = staged.version;
        self.root = staged.root;
        self.oldest = oldest;
        self.staged = None;
        Ok(self.root.hash())
    }

    /// Value of `key` at a retained version with a proof against `root_at(h)`.
    pub fn prove(&self, key: &[u8], h: Height) -> Result<(Option<Vec<u8>>, Proof), StateError> {
        check_key(key)?;
        self.check_retained(h)?;
        let txn = self.read()?;
        let root = self.root_child_at(&txn, h)?;
        let nodes = txn.open_table(NODES).map_err(StateError::db)?;
        let kh = key_hash(key);
        let (siblings, end) = tree::walk(&TableSource(&nodes), root, &kh)?;
        match end {
            Child::Leaf { key_hash, hash, version } => {
                // Also for another key's leaf: the verifier needs its value hash.
                let (value, value_hash) = read_value(&txn, &key_hash, &hash, version)?;
                let leaf = Some(ProofLeaf { key_hash, value_hash });
                Ok((if key_hash == kh { Some(value) } else { None }, Proof { siblings, leaf }))
            }
            _ => Ok((None, Proof { siblings, leaf: None })),
        }
    }
}

/// The value a leaf points at and its hash, checked against the leaf.
fn read_value(
    txn: &ReadTransaction,
    kh: &Hash,
    leaf: &Hash,
    version: u64,
) -> Result<(Vec<u8>, Hash), StateError> {
    let values = txn.open_table(VALUES).map_err(StateError::db)?;
    let guard = values
        .get(value_key(kh, version).as_slice())
        .map_err(StateError::db)?
        .ok_or_else(|| StateError::Corrupt(format!("value written at version {version} missing")))?;
    let value = guard.value().to_vec();
    let vh = value_hash(&value);
    if leaf_hash(kh, &vh) != *leaf {
        return Err(StateError::Corrupt(format!(
            "value written at version {version} does not match its leaf"
        )));
    }
    Ok((value, vh))
}

/// Writes one staged version and prunes; returns the new oldest retained version.
fn write_batch(txn: &WriteTransaction, staged: &Staged, oldest: u64, window: u64) -> Result<u64, StateError> {
    let h = staged.version;
    // Sorted within each table, so pruning later deletes in key order.
    let mut stale: Vec<u8> = Vec::new();
    let mut stale_values: Vec<[u8; 40]> = Vec::new();
    let push_stale = |stale: &mut Vec<u8>, tag: u8, key: &[u8]| {
        stale.push(tag);
        stale.push(key.len() as u8);
        stale.extend_from_slice(key);
    };
    {
        let mut nodes = txn.open_table(NODES).map_err(StateError::db)?;
        // Sorted, so this version's nodes go in as one append run.
        let mut new_nodes: Vec<&(Vec<u8>, Page)> = staged.nodes.iter().collect();
        new_nodes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, n) in new_nodes {
            nodes.insert(k.as_slice(), n.encode().as_slice()).map_err(StateError::db)?;
        }
        let mut stale_nodes: Vec<&Vec<u8>> = staged.stale_nodes.iter().collect();
        stale_nodes.sort_unstable();
        for k in stale_nodes {
            push_stale(&mut stale, STALE_NODE, k);
        }
    }
    {
        let mut values = txn.open_table(VALUES).map_err(StateError::db)?;
        let mut latest = txn.open_table(LATEST).map_err(StateError::db)?;
        // Values of this version go in by key hash: one append run after the previous version's.
        let mut written: Vec<(usize, Hash, &[u8], &[u8])> = Vec::new();
        for ev in &staged.events {
            match *ev {
                ValueEvent::Written { index } => {
                    let (Some((k, Some(v))), Some(kh)) =
                        (staged.entries.get(index), staged.key_hashes.get(index))
                    else {
                        return Err(StateError::Corrupt("staged write has no value".into()));
                    };
                    written.push((index, *kh, k, v));
                }
                ValueEvent::Deleted { index } => {
                    let Some((k, _)) = staged.entries.get(index) else {
                        return Err(StateError::Corrupt("staged delete out of range".into()));
                    };
                    latest.remove(k.as_slice()).map_err(StateError::db)?;
                }
                ValueEvent::Superseded { key_hash, version } => {
                    stale_values.push(value_key(&key_hash, version));
                }
            }
        }
        // Batch order is key order: the latest table is updated in one sweep.
        written.sort_unstable_by_key(|w| w.0);
        for (_, _, k, v) in &written {
            latest.insert(*k, *v).map_err(StateError::db)?;
        }
        written.sort_unstable_by_key(|w| w.1);
        for (_, kh, _, v) in &written {
            values.insert(value_key(kh, h).as_slice(), *v).map_err(StateError::db)?;
        }
        stale_values.sort_unstable();
        for vk in &stale_values {
            push_stale(&mut stale, STALE_VALUE, vk);
        }
    }
    {
        let mut roots = txn.open_table(ROOTS).map_err(StateError::db)?;
        roots.insert(h, staged.root.encode().as_slice()).map_err(StateError::db)?;
        if !stale.is_empty() {
            let mut stale_table = txn.open_table(STALE).map_err(StateError::db)?;
            stale_table.insert(h, stale.as_slice()).map_err(StateError::db)?;
        }
    }
    let new_oldest = if window == 0 { oldest } else { oldest.max(h.saturating_sub(window)) };
    if new_oldest > oldest {
        prune(txn, new_oldest)?;
    }
    let mut meta = txn.open_table(META).map_err(StateError::db)?;
    meta.insert("version", h).map_err(StateError::db)?;
    meta.insert("oldest", new_oldest).map_err(StateError::db)?;
    Ok(new_oldest)
}

/// Deletes everything only versions `< new_oldest` used. An entry that stopped being current at version `s` is
/// used by versions `< s` only, so it goes once `s <= new_oldest`.
fn prune(txn: &WriteTransaction, new_oldest: u64) -> Result<(), StateError> {
    let mut stale_table = txn.open_table(STALE).map_err(StateError::db)?;
    let mut nodes = txn.open_table(NODES).map_err(StateError::db)?;
    let mut values = txn.open_table(VALUES).map_err(StateError::db)?;
    let due: Vec<u64> = stale_table
        .range(..=new_oldest)
        .map_err(StateError::db)?
        .map(|e| e.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()
        .map_err(StateError::db)?;
    for s in due {
        let Some(blob) = stale_table.remove(s).map_err(StateError::db)? else { continue };
        let mut rest = blob.value();
        while let Some((&tag, after)) = rest.split_first() {
            let Some((&len, after)) = after.split_first() else {
                return Err(StateError::Corrupt(format!("stale list of version {s} truncated")));
            };
            let Some((key, after)) = after.split_at_checked(len as usize) else {
                return Err(StateError::Corrupt(format!("stale list of version {s} truncated")));
            };
            match tag {
                STALE_NODE => {
                    nodes.remove(key).map_err(StateError::db)?;
                }
                STALE_VALUE => {
                    values.remove(key).map_err(StateError::db)?;
                }
                t => return Err(StateError::Corrupt(format!("stale entry tag {t}"))),
            }
            rest = after;
        }
    }
    let mut roots = txn.open_table(ROOTS).map_err(StateError::db)?;
    let old_roots: Vec<u64> = roots
        .range(..new_oldest)
        .map_err(StateError::db)?
        .map(|e| e.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()
        .map_err(StateError::db)?;
    for v in old_roots {
        roots.remove(v).map_err(StateError::db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &tempfile::TempDir) -> State {
        let mut s =
            State::open(&dir.path().join("s.redb"), StateConfig { prune_window: 0, fsync: false }).unwrap();
        let batch: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            (0u32..100).map(|i| (i.to_le_bytes().to_vec(), Some(vec![i as u8; 3]))).collect();
        s.stage(Height(1), batch).unwrap();
        s.commit().unwrap();
        s
    }

    fn rewrite_all(s: &State, table: TableDefinition<'_, &[u8], &[u8]>, bytes: Option<&[u8]>) {
        let txn = s.db.begin_write().unwrap();
        {
            let mut t = txn.open_table(table).unwrap();
            let keys: Vec<Vec<u8>> = t.iter().unwrap().map(|e| e.unwrap().0.value().to_vec()).collect();
            for k in keys {
                match bytes {
                    Some(b) => t.insert(k.as_slice(), b).unwrap(),
                    None => t.remove(k.as_slice()).unwrap(),
                };
            }
        }
        txn.commit().unwrap();
    }

    fn is_corrupt<T: std::fmt::Debug>(r: Result<T, StateError>) -> bool {
        matches!(r, Err(StateError::Corrupt(_)))
    }

    #[test]
    fn garbage_pages_are_corruption_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        rewrite_all(&s, NODES, Some(&[0xff, 0xff, 9, 1, 2]));
        assert!(is_corrupt(s.prove(b"k", Height(1))));
        assert!(is_corrupt(s.stage(Height(2), [(b"k".to_vec(), Some(b"v".to_vec()))].into_iter().collect())));
        // The latest table does not need the tree.
        assert_eq!(s.get(&5u32.to_le_bytes()).unwrap(), Some(vec![5; 3]));
    }

    #[test]
    fn missing_pages_and_values_are_corruption_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let batch = [(b"x".to_vec(), Some(b"y".to_vec()))].into_iter().collect();
        s.stage(Height(2), batch).unwrap();
        s.commit().unwrap();
        rewrite_all(&s, VALUES, Some(b"not the value"));
        assert!(is_corrupt(s.get_at(&5u32.to_le_bytes(), Height(1))));
        assert!(is_corrupt(s.prove(&5u32.to_le_bytes(), Height(2))));
        rewrite_all(&s, NODES, None);
        assert!(is_corrupt(s.get_at(&5u32.to_le_bytes(), Height(1))));
        assert!(is_corrupt(s.prove(b"k", Height(2))));
    }

    fn collect_pages(
        nodes: &ReadOnlyTable<&'static [u8], &'static [u8]>,
        child: Child,
        depth: usize,
        path: Hash,
        out: &mut std::collections::BTreeSet<Vec<u8>>,
    ) {
        let Child::Internal { version, .. } = child else { return };
        let key = tree::node_key(version, depth, &path);
        let page = TableSource(nodes).load(&key).unwrap();
        out.insert(key);
        for (n, slot) in page.slots.iter().enumerate() {
            let mut p = path;
            let byte = &mut p.0[depth / 8];
            *byte |= if depth.is_multiple_of(8) { (n as u8) << 4 } else { n as u8 };
            collect_pages(nodes, *slot, depth + 4, p, out);
        }
    }

    fn count(s: &State, table: TableDefinition<'_, &[u8], &[u8]>) -> usize {
        let txn = s.db.begin_read().unwrap();
        let t = txn.open_table(table).unwrap();
        t.iter().unwrap().count()
    }

    #[test]
    fn pruning_deletes_what_only_old_versions_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut s =
            State::open(&dir.path().join("p.redb"), StateConfig { prune_window: 2, fsync: false }).unwrap();
        // Two fixed keys keep a page alive; "hot" is rewritten every version.
        let fixed: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            [(b"a".to_vec(), Some(b"1".to_vec())), (b"b".to_vec(), Some(b"2".to_vec()))]
                .into_iter()
                .collect();
        s.stage(Height(1), fixed).unwrap();
        s.commit().unwrap();
        for h in 2u64..=20 {
            s.stage(Height(h), [(b"hot".to_vec(), Some(h.to_le_bytes().to_vec()))].into_iter().collect())
                .unwrap();
            s.commit().unwrap();
        }
        assert_eq!(s.oldest_version(), Height(18));
        // Values: a, b, and hot as of versions 18, 19, 20.
        assert_eq!(count(&s, VALUES), 5);
        let txn = s.db.begin_read().unwrap();
        let roots: Vec<u64> =
            txn.open_table(ROOTS).unwrap().iter().unwrap().map(|e| e.unwrap().0.value()).collect();
        assert_eq!(roots, vec![18, 19, 20]);
        let stale: Vec<u64> =
            txn.open_table(STALE).unwrap().iter().unwrap().map(|e| e.unwrap().0.value()).collect();
        assert!(stale.iter().all(|v| *v > 18), "{stale:?}");
        // Pages: exactly those reachable from the retained roots, no garbage left.
        let nodes = txn.open_table(NODES).unwrap();
        let mut reachable = std::collections::BTreeSet::new();
        for v in &roots {
            let root =
                Child::decode(txn.open_table(ROOTS).unwrap().get(*v).unwrap().unwrap().value()).unwrap();
            collect_pages(&nodes, root, 0, Hash::ZERO, &mut reachable);
        }
        assert!(!reachable.is_empty());
        assert_eq!(count(&s, NODES), reachable.len());
        drop(nodes);
        drop(txn);
        for h in 18u64..=20 {
            assert_eq!(s.get_at(b"hot", Height(h)).unwrap(), Some(h.to_le_bytes().to_vec()));
            assert_eq!(s.get_at(b"a", Height(h)).unwrap(), Some(b"1".to_vec()));
        }
    }

    #[test]
    fn unknown_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir);
        let txn = s.db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert("format", 99).unwrap();
        txn.commit().unwrap();
        drop(s);
        let err = State::open(&dir.path().join("s.redb"), StateConfig::default()).unwrap_err();
        assert!(err.to_string().contains("format 99"), "{err}");
    }

    #[test]
    fn too_many_bytes_in_a_batch_is_refused_before_work() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(&dir);
        let v = vec![0u8; MAX_VALUE_BYTES];
        let n = MAX_BATCH_BYTES / MAX_VALUE_BYTES + 1;
        let batch: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            (0..n as u32).map(|i| (i.to_le_bytes().to_vec(), Some(v.clone()))).collect();
        assert!(matches!(s.stage(Height(2), batch), Err(StateError::BatchTooLarge { .. })));
        assert_eq!(s.staged_root(), None);
    }
}
