use std::path::{Path, PathBuf};

use cairn_abci::FinalizeBlockResponse;
use cairn_primitives::{Block, Hash, Height};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{StoreError, WithPath, durability};

const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const CERTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("certificates");
const RESULTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("results");
const TX_INDEX: TableDefinition<'_, &[u8], (u64, u32)> = TableDefinition::new("tx_index");
const BLOCK_IDS: TableDefinition<'_, &[u8], u64> = TableDefinition::new("block_ids");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// Largest encoded block accepted (matches the largest block consensus params allow, with headroom).
pub const MAX_BLOCK_BYTES: usize = 64 * 1024 * 1024;
/// Largest certificate accepted.
pub const MAX_CERT_BYTES: usize = 16 * 1024 * 1024;

/// Where a tx landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub height: Height,
    pub index: u32,
}

/// Finalized blocks, certificates, results and indexes.
pub struct BlockStore {
    db: Database,
    path: PathBuf,
    fsync: bool,
}

impl BlockStore {
    /// Opens (or creates) the store at `path`. With `fsync` off, commits are not flushed (benchmarks only).
    pub fn open(path: &Path, fsync: bool) -> Result<BlockStore, StoreError> {
        let db = Database::create(path).at(path)?;
        // Create the tables so read transactions never see "table does not exist".
        let txn = db.begin_write().at(path)?;
        {
            txn.open_table(BLOCKS).at(path)?;
            txn.open_table(CERTS).at(path)?;
            txn.open_table(RESULTS).at(path)?;
            txn.open_table(TX_INDEX).at(path)?;
            txn.open_table(BLOCK_IDS).at(path)?;
            txn.open_table(META).at(path)?;
        }
        txn.commit().at(path)?;
        Ok(BlockStore { db, path: path.to_path_buf(), fsync })
    }

    /// The last finalized height stored (0 if none).
    pub fn last_height(&self) -> Result<Height, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(BLOCKS).at(&self.path)?;
        let last = table.last().at(&self.path)?;
        Ok(Height(last.map(|(k, _)| k.value()).unwrap_or(0)))
    }

    /// Stores a finalized block with its certificate and index entries, atomically. Heights must be
    /// consecutive: a gap means a bug in the caller, and storing it would break block sync for every peer.
    pub fn put_finalized(&self, block: &Block, certificate: &[u8]) -> Result<(), StoreError> {
        let height = block.header.height.0;
        let last = self.last_height()?.0;
        if last != 0 && height != last + 1 {
            return Err(StoreError::OutOfOrder { got: height, last });
        }
        let bytes = cairn_primitives::encode(block);
        check_len("block", bytes.len(), MAX_BLOCK_BYTES)?;
        check_len("certificate", certificate.len(), MAX_CERT_BYTES)?;
        let mut txn = self.db.begin_write().at(&self.path)?;
        txn.set_durability(durability(self.fsync)).map_err(|e| StoreError::Corrupt {
            what: "durability setting",
            height,
            reason: e.to_string(),
        })?;
        {
            txn.open_table(BLOCKS).at(&self.path)?.insert(height, bytes.as_slice()).at(&self.path)?;
            txn.open_table(CERTS).at(&self.path)?.insert(height, certificate).at(&self.path)?;
            txn.open_table(BLOCK_IDS)
                .at(&self.path)?
                .insert(block.id().as_bytes().as_slice(), height)
                .at(&self.path)?;
            let mut index = txn.open_table(TX_INDEX).at(&self.path)?;
            for (i, tx) in block.txs.iter().enumerate() {
                let hash = Hash::digest(tx);
                index.insert(hash.as_bytes().as_slice(), (height, i as u32)).at(&self.path)?;
            }
        }
        txn.commit().at(&self.path)?;
        Ok(())
    }

    /// Stores the application's results for a finalized height.
    pub fn put_results(&self, height: Height, results: &FinalizeBlockResponse) -> Result<(), StoreError> {
        let bytes = cairn_primitives::encode(results);
        let mut txn = self.db.begin_write().at(&self.path)?;
        txn.set_durability(durability(self.fsync)).map_err(|e| StoreError::Corrupt {
            what: "durability setting",
            height: height.0,
            reason: e.to_string(),
        })?;
        txn.open_table(RESULTS).at(&self.path)?.insert(height.0, bytes.as_slice()).at(&self.path)?;
        txn.commit().at(&self.path)?;
        Ok(())
    }

    pub fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        self.get_decoded(BLOCKS, height, "block", MAX_BLOCK_BYTES)
    }

    pub fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(CERTS).at(&self.path)?;
        Ok(table.get(height.0).at(&self.path)?.map(|v| v.value().to_vec()))
    }

    pub fn results(&self, height: Height) -> Result<Option<FinalizeBlockResponse>, StoreError> {
        self.get_decoded(RESULTS, height, "results", MAX_BLOCK_BYTES)
    }

    /// Height of the block with this id, if stored.
    pub fn height_of(&self, id: &Hash) -> Result<Option<Height>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(BLOCK_IDS).at(&self.path)?;
        Ok(table.get(id.as_bytes().as_slice()).at(&self.path)?.map(|v| Height(v.value())))
    }

    /// Where a tx was finalized, by its hash (blake3 of its bytes).
    pub fn tx(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(TX_INDEX).at(&self.path)?;
        Ok(table.get(hash.as_bytes().as_slice()).at(&self.path)?.map(|v| {
            let (h, i) = v.value();
            TxLocation { height: Height(h), index: i }
        }))
    }

    /// Small node metadata (validator sets by height, params), durable at once.
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().at(&self.path)?;
        txn.set_durability(durability(self.fsync)).map_err(|e| StoreError::Corrupt {
            what: "durability setting",
            height: 0,
            reason: e.to_string(),
        })?;
        txn.open_table(META).at(&self.path)?.insert(key, value).at(&self.path)?;
        txn.commit().at(&self.path)?;
        Ok(())
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(META).at(&self.path)?;
        Ok(table.get(key).at(&self.path)?.map(|v| v.value().to_vec()))
    }

    fn get_decoded<T: borsh::BorshDeserialize>(
        &self,
        def: TableDefinition<'_, u64, &[u8]>,
        height: Height,
        what: &'static str,
        max: usize,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(def).at(&self.path)?;
        let Some(raw) = table.get(height.0).at(&self.path)? else { return Ok(None) };
        cairn_primitives::decode(raw.value(), max).map(Some).map_err(|e| StoreError::Corrupt {
            what,
            height: height.0,
            reason: e.to_string(),
        })
    }
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), StoreError> {
    if len > max { Err(StoreError::TooLarge { what, len, max }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_abci::TxResult;
    use cairn_primitives::{Header, Keypair};

    fn block(height: u64, parent: Hash, txs: Vec<Vec<u8>>) -> Block {
        Block {
            header: Header {
                chain_id: "store-test".parse().unwrap(),
                height: Height(height),
                parent,
                time_ms: 0,
                proposer: Keypair::derived("s", 0).public(),
                txs_root: Block::txs_root(&txs),
                app_hash: Hash::ZERO,
                validators_hash: Hash::ZERO,
                last_commit_hash: Hash::ZERO,
                evidence_root: Hash::ZERO,
            },
            txs,
            last_commit: Vec::new(),
            evidence: Vec::new(),
        }
    }

    #[test]
    fn blocks_certificates_results_and_index_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blocks.redb");
        let b1 = block(1, Hash::ZERO, vec![b"a=1".to_vec(), b"b=2".to_vec()]);
        let b2 = block(2, b1.id(), vec![b"c=3".to_vec()]);
        {
            let store = BlockStore::open(&path, true).unwrap();
            assert_eq!(store.last_height().unwrap(), Height(0));
            store.put_finalized(&b1, b"cert1").unwrap();
            store.put_finalized(&b2, b"cert2").unwrap();
            let results = FinalizeBlockResponse {
                tx_results: vec![TxResult { code: 0, log: "ok".into(), ..Default::default() }],
                app_hash: Hash::digest(b"app"),
                ..Default::default()
            };
            store.put_results(Height(2), &results).unwrap();
        }
        let store = BlockStore::open(&path, true).unwrap();
        assert_eq!(store.last_height().unwrap(), Height(2));
        assert_eq!(store.block(Height(2)).unwrap().unwrap(), b2);
        assert_eq!(store.certificate(Height(1)).unwrap().unwrap(), b"cert1");
        assert_eq!(store.results(Height(2)).unwrap().unwrap().app_hash, Hash::digest(b"app"));
        assert_eq!(
            store.tx(&Hash::digest(b"b=2")).unwrap(),
            Some(TxLocation { height: Height(1), index: 1 })
        );
        assert_eq!(store.height_of(&b2.id()).unwrap(), Some(Height(2)));
        assert!(store.tx(&Hash::digest(b"nope")).unwrap().is_none());
        assert!(store.block(Height(3)).unwrap().is_none());
    }

    #[test]
    fn a_gap_in_heights_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(&dir.path().join("b.redb"), false).unwrap();
        store.put_finalized(&block(1, Hash::ZERO, vec![]), b"c").unwrap();
        let err = store.put_finalized(&block(3, Hash::ZERO, vec![]), b"c").unwrap_err();
        assert!(matches!(err, StoreError::OutOfOrder { got: 3, last: 1 }), "{err}");
    }

    #[test]
    fn meta_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlockStore::open(&dir.path().join("b.redb"), false).unwrap();
        assert!(store.meta("vs/5").unwrap().is_none());
        store.put_meta("vs/5", b"set").unwrap();
        assert_eq!(store.meta("vs/5").unwrap().unwrap(), b"set");
    }
}
