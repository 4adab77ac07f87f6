use std::path::{Path, PathBuf};

use cairn_primitives::Height;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::{StoreError, WithPath};

/// Records: sequence number → (height ‖ record bytes). The height lets finalized heights be pruned.
const RECORDS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("wal");

/// Largest WAL record accepted (a vote or a proposal header, with a wide margin).
pub const MAX_WAL_RECORD_BYTES: usize = 1024 * 1024;

/// The consensus write-ahead log. Always fsync'd: it is the promise that a vote is never signed twice.
pub struct Wal {
    db: Database,
    path: PathBuf,
    next_seq: u64,
}

impl Wal {
    pub fn open(path: &Path) -> Result<Wal, StoreError> {
        let db = Database::create(path).at(path)?;
        let txn = db.begin_write().at(path)?;
        txn.open_table(RECORDS).at(path)?;
        txn.commit().at(path)?;
        let next_seq = {
            let txn = db.begin_read().at(path)?;
            let table = txn.open_table(RECORDS).at(path)?;
            table.last().at(path)?.map(|(k, _)| k.value() + 1).unwrap_or(0)
        };
        Ok(Wal { db, path: path.to_path_buf(), next_seq })
    }

    /// The file the log lives in (for error messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a record for `height`; returns once it is on disk.
    pub fn append(&mut self, height: Height, record: &[u8]) -> Result<(), StoreError> {
        self.append_batch(height, std::slice::from_ref(&record))
    }

    /// Appends several records with a single fsync.
    pub fn append_batch(&mut self, height: Height, records: &[&[u8]]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().at(&self.path)?;
        {
            let mut table = txn.open_table(RECORDS).at(&self.path)?;
            for record in records {
                if record.len() > MAX_WAL_RECORD_BYTES {
                    return Err(StoreError::TooLarge {
                        what: "WAL record",
                        len: record.len(),
                        max: MAX_WAL_RECORD_BYTES,
                    });
                }
                let mut value = Vec::with_capacity(8 + record.len());
                value.extend_from_slice(&height.0.to_le_bytes());
                value.extend_from_slice(record);
                table.insert(self.next_seq, value.as_slice()).at(&self.path)?;
                self.next_seq += 1;
            }
        }
        txn.commit().at(&self.path)?;
        Ok(())
    }

    /// Every record still in the log, oldest first, with its height.
    pub fn records(&self) -> Result<Vec<(Height, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let table = txn.open_table(RECORDS).at(&self.path)?;
        let mut out = Vec::new();
        for entry in table.iter().at(&self.path)? {
            let (seq, value) = entry.at(&self.path)?;
            let value = value.value();
            let Some((h, rec)) = value.split_first_chunk::<8>() else {
                return Err(StoreError::Corrupt {
                    what: "WAL record",
                    height: 0,
                    reason: format!(
                        "record {} is {} bytes, shorter than its height prefix",
                        seq.value(),
                        value.len()
                    ),
                });
            };
            out.push((Height(u64::from_le_bytes(*h)), rec.to_vec()));
        }
        Ok(out)
    }

    /// Drops records of heights below `height` (they are finalized and can never be voted on again).
    pub fn prune_below(&mut self, height: Height) -> Result<usize, StoreError> {
        let txn = self.db.begin_write().at(&self.path)?;
        let mut removed = 0;
        {
            let mut table = txn.open_table(RECORDS).at(&self.path)?;
            table
                .retain(|_, value| {
                    let keep =
                        value.first_chunk::<8>().map(|h| u64::from_le_bytes(*h) >= height.0).unwrap_or(false);
                    if !keep {
                        removed += 1;
                    }
                    keep
                })
                .at(&self.path)?;
        }
        txn.commit().at(&self.path)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_prune_by_height() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.redb");
        {
            let mut wal = Wal::open(&path).unwrap();
            wal.append(Height(1), b"vote-1").unwrap();
            wal.append_batch(Height(2), &[b"vote-2a", b"vote-2b"]).unwrap();
            wal.append(Height(3), b"vote-3").unwrap();
        }
        let mut wal = Wal::open(&path).unwrap();
        let recs = wal.records().unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[1], (Height(2), b"vote-2a".to_vec()));
        assert_eq!(wal.prune_below(Height(3)).unwrap(), 3);
        assert_eq!(wal.records().unwrap(), vec![(Height(3), b"vote-3".to_vec())]);
        // Sequence numbers keep growing after a reopen: new records go after old ones.
        wal.append(Height(4), b"vote-4").unwrap();
        assert_eq!(wal.records().unwrap().last().unwrap().1, b"vote-4");
    }

    #[test]
    fn oversized_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(&dir.path().join("wal.redb")).unwrap();
        let big = vec![0u8; MAX_WAL_RECORD_BYTES + 1];
        assert!(matches!(wal.append(Height(1), &big), Err(StoreError::TooLarge { .. })));
        assert!(wal.records().unwrap().is_empty());
    }
}
