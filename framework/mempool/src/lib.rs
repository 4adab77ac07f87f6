#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, VecDeque};

use cairn_abci::{AppError, Application, CheckTxKind, CheckTxRequest, CheckTxResponse};
use cairn_primitives::{Hash, Height};
use tokio::sync::Mutex;

/// Limits of the pool.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_tx_bytes: usize,
    pub max_per_sender: usize,
    /// A tx not included within this many blocks is dropped (0: never).
    pub ttl_blocks: u64,
    /// How many committed tx hashes to remember for dedup.
    pub committed_cache: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 50_000,
            max_bytes: 64 * 1024 * 1024,
            max_tx_bytes: cairn_primitives::MAX_TX_BYTES,
            max_per_sender: 1_000,
            ttl_blocks: 600,
            committed_cache: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    #[error("tx of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("tx {0} is already in the mempool or was committed")]
    Duplicate(Hash),
    #[error("mempool is full ({txs} txs, {bytes} bytes): try again later")]
    Full { txs: usize, bytes: usize },
    #[error("sender has {count} txs pending, the limit per sender is {max}: wait for some to be committed")]
    SenderLimit { count: usize, max: usize },
    #[error("tx rejected by CheckTx (code {code}): {log}")]
    Rejected { code: u32, log: String },
    #[error(transparent)]
    App(#[from] AppError),
}

struct Entry {
    tx: Vec<u8>,
    sender: Vec<u8>,
    priority: i64,
    height: Height,
    seq: u64,
}

/// The pool. Deterministic iteration (BTreeMap by arrival sequence), so every node reaps in the same order.
#[derive(Default)]
pub struct Mempool {
    config: MempoolConfig,
    by_hash: BTreeMap<Hash, Entry>,
    /// Arrival order: sequence → hash.
    order: BTreeMap<u64, Hash>,
    per_sender: BTreeMap<Vec<u8>, usize>,
    committed: VecDeque<Hash>,
    committed_set: BTreeMap<Hash, ()>,
    bytes: usize,
    next_seq: u64,
    height: Height,
}

impl Mempool {
    pub fn new(config: MempoolConfig) -> Mempool {
        Mempool { config, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Cheap checks before calling the app: size, dedup, capacity. Returns the tx hash.
    pub fn precheck(&self, tx: &[u8]) -> Result<Hash, MempoolError> {
        if tx.len() > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge { len: tx.len(), max: self.config.max_tx_bytes });
        }
        let hash = Hash::digest(tx);
        if self.by_hash.contains_key(&hash) || self.committed_set.contains_key(&hash) {
            return Err(MempoolError::Duplicate(hash));
        }
        if self.by_hash.len() >= self.config.max_txs || self.bytes + tx.len() > self.config.max_bytes {
            return Err(MempoolError::Full { txs: self.by_hash.len(), bytes: self.bytes });
        }
        Ok(hash)
    }

    /// Inserts a tx the app accepted. Repeats the bounds checks (another tx may have arrived meanwhile).
    pub fn insert(&mut self, tx: Vec<u8>, check: &CheckTxResponse) -> Result<Hash, MempoolError> {
        let hash = self.precheck(&tx)?;
        if !check.is_ok() {
            return Err(MempoolError::Rejected { code: check.code, log: check.log.clone() });
        }
        let count = self.per_sender.get(&check.sender).copied().unwrap_or(0);
        if !check.sender.is_empty() && count >= self.config.max_per_sender {
            return Err(MempoolError::SenderLimit { count, max: self.config.max_per_sender });
        }
        *self.per_sender.entry(check.sender.clone()).or_default() += 1;
        self.bytes += tx.len();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, hash);
        self.by_hash.insert(
            hash,
            Entry { tx, sender: check.sender.clone(), priority: check.priority, height: self.height, seq },
        );
        Ok(hash)
    }

    /// Txs for a proposal: highest priority first, then arrival order, within the byte and count limits.
    pub fn reap(&self, max_bytes: usize, max_txs: usize) -> Vec<Vec<u8>> {
        let mut candidates: Vec<&Entry> = self.order.values().filter_map(|h| self.by_hash.get(h)).collect();
        // Stable sort keeps arrival order among equal priorities.
        candidates.sort_by_key(|e| std::cmp::Reverse(e.priority));
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in candidates {
            if out.len() >= max_txs {
                break;
            }
            if bytes + e.tx.len() > max_bytes {
                continue;
            }
            bytes += e.tx.len();
            out.push(e.tx.clone());
        }
        out
    }

    /// Removes a tx (e.g. one that failed recheck).
    pub fn remove(&mut self, hash: &Hash) -> bool {
        let Some(e) = self.by_hash.remove(hash) else { return false };
        self.order.remove(&e.seq);
        self.bytes -= e.tx.len();
        if let Some(c) = self.per_sender.get_mut(&e.sender) {
            *c -= 1;
            if *c == 0 {
                self.per_sender.remove(&e.sender);
            }
        }
        true
    }

    /// After a block is committed at `height`: drop its txs (and remember them for dedup) and expired txs.
    /// Returns the remaining txs, which the caller rechecks.
    pub fn update(&mut self, height: Height, committed: &[Vec<u8>]) -> Vec<(Hash, Vec<u8>)> {
        self.height = height;
        for tx in committed {
            let hash = Hash::digest(tx);
            self.remove(&hash);
            if self.committed_set.insert(hash, ()).is_none() {
                self.committed.push_back(hash);
            }
        }
        while self.committed.len() > self.config.committed_cache {
            if let Some(old) = self.committed.pop_front() {
                self.committed_set.remove(&old);
            }
        }
        if self.config.ttl_blocks > 0 {
            let expired: Vec<Hash> = self
                .by_hash
                .iter()
                .filter(|(_, e)| height.0.saturating_sub(e.height.0) > self.config.ttl_blocks)
                .map(|(h, _)| *h)
                .collect();
            for h in expired {
                self.remove(&h);
            }
        }
        self.order.values().filter_map(|h| self.by_hash.get(h).map(|e| (*h, e.tx.clone()))).collect()
    }
}

/// Runs `CheckTx` and inserts the tx if accepted. The lock is not held while the app works.
pub async fn add_tx<A: Application + ?Sized>(
    pool: &Mutex<Mempool>,
    app: &A,
    tx: Vec<u8>,
) -> Result<(Hash, CheckTxResponse), MempoolError> {
    pool.lock().await.precheck(&tx)?;
    let check = app.check_tx(CheckTxRequest { tx: tx.clone(), kind: CheckTxKind::New }).await?;
    let hash = pool.lock().await.insert(tx, &check)?;
    Ok((hash, check))
}

/// Re-checks `txs` (from [`Mempool::update`]) and evicts those the app now rejects. Returns how many were evicted.
pub async fn recheck<A: Application + ?Sized>(
    pool: &Mutex<Mempool>,
    app: &A,
    txs: Vec<(Hash, Vec<u8>)>,
) -> Result<usize, MempoolError> {
    let mut evicted = 0;
    for (hash, tx) in txs {
        let check = app.check_tx(CheckTxRequest { tx, kind: CheckTxKind::Recheck }).await?;
        if !check.is_ok() && pool.lock().await.remove(&hash) {
            evicted += 1;
        }
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests;
