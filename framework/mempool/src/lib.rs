#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cairn_abci::{AppError, Application, CheckTxKind, CheckTxRequest, CheckTxResponse, QueryRequest};
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
    /// Future-nonce txs (after a gap in their sender's nonces) one sender may park in the side queue; always kept
    /// below `max_per_sender`, so a sender's ready txs still fit.
    pub max_future_per_sender: usize,
    /// A future-nonce tx whose gap is not filled within this many blocks is dropped.
    pub future_ttl_blocks: u64,
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
            max_future_per_sender: 64,
            future_ttl_blocks: 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MempoolError {
    #[error("tx of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("tx {0} is already in the mempool or was committed")]
    Duplicate(Hash),
    #[error(
        "mempool is full ({txs} txs, {bytes} bytes) and holds nothing cheaper than this tx: try again later or \
         pay a higher price"
    )]
    Full { txs: usize, bytes: usize },
    #[error(
        "a tx with nonce {nonce} from this sender is pending at priority {pending}: a replacement must pay more \
         (offered {offered})"
    )]
    Underpriced { nonce: u64, pending: i64, offered: i64 },
    #[error("sender has {count} txs pending, the limit per sender is {max}: wait for some to be committed")]
    SenderLimit { count: usize, max: usize },
    #[error(
        "sender has {count} txs waiting for an earlier nonce, the limit is {max}: send the missing nonce first"
    )]
    FutureLimit { count: usize, max: usize },
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
    /// The tx's nonce, if it is a cairn tx (other txs are always ready).
    nonce: Option<u64>,
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
    /// Each sender's pending nonces (cairn txs only): nonce → tx hash.
    nonces: BTreeMap<Vec<u8>, BTreeMap<u64, Hash>>,
    /// Each sender's next nonce on chain, as far as the pool knows (from the app, then from committed blocks).
    next_nonce: BTreeMap<Vec<u8>, u64>,
    /// The txs a full pool may evict — each sender's highest pending nonce and every tx without a nonce — cheapest
    /// first, latest arrival first among equals. Kept as an index because a full pool consults it for every
    /// arriving tx: a scan of the pool each time would make a flood cost O(pool) per tx.
    tails: BTreeSet<TailKey>,
    /// Each sender's entry in `tails` (txs with a nonce only).
    sender_tail: BTreeMap<Vec<u8>, TailKey>,
}

/// A tail's place in the eviction order: priority, then latest arrival first.
type TailKey = (i64, std::cmp::Reverse<u64>, Hash);

fn tail_key(hash: Hash, e: &Entry) -> TailKey {
    (e.priority, std::cmp::Reverse(e.seq), hash)
}

/// A cairn tx's nonce, or `None` for bytes that are not one.
fn nonce_of(tx: &[u8]) -> Option<u64> {
    cairn_primitives::Tx::from_bytes(tx).ok().map(|t| t.body.nonce)
}

/// The priority a cairn tx's price will get from CheckTx (ExecApp's: the price, capped at `i64::MAX`), before
/// asking the app; 0 for bytes that are not a cairn tx. Only used to refuse early what a full pool cannot take.
fn declared_priority(tx: &[u8]) -> i64 {
    cairn_primitives::Tx::from_bytes(tx).map_or(0, |t| i64::try_from(t.body.price).unwrap_or(i64::MAX))
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
        // A full pool still takes a tx that offers more than its cheapest (decided after CheckTx, in `insert`).
        if !self.fits(tx.len(), 0) && self.cheapest_tail().is_none_or(|(p, _)| p >= declared_priority(tx)) {
            return Err(MempoolError::Full { txs: self.by_hash.len(), bytes: self.bytes });
        }
        Ok(hash)
    }

    /// Whether a tx of `len` bytes fits the pool's count and byte bounds once `freed` bytes of one tx are freed
    /// (a replacement).
    fn fits(&self, len: usize, freed: usize) -> bool {
        let count = self.by_hash.len() - usize::from(freed > 0);
        count < self.config.max_txs && self.bytes - freed + len <= self.config.max_bytes
    }

    /// The cheapest tx that can be evicted without opening a nonce gap: a sender's highest pending nonce (or a tx
    /// without a nonce), lowest priority first, then the latest to arrive.
    fn cheapest_tail(&self) -> Option<(i64, Hash)> {
        self.tails.first().map(|(p, _, h)| (*p, *h))
    }

    /// Puts `sender`'s highest pending nonce (if its tx is in the pool) in `tails`, in place of the one before.
    fn sync_tail(&mut self, sender: &[u8]) {
        let want = self
            .nonces
            .get(sender)
            .and_then(|p| p.values().next_back())
            .and_then(|h| self.by_hash.get(h).map(|e| tail_key(*h, e)));
        let have = self.sender_tail.get(sender).copied();
        if want == have {
            return;
        }
        if let Some(k) = have {
            self.tails.remove(&k);
            self.sender_tail.remove(sender);
        }
        if let Some(k) = want {
            self.tails.insert(k);
            self.sender_tail.insert(sender.to_vec(), k);
        }
    }

    /// Whether the pool knows `sender`'s next nonce (else [`add_tx`] asks the app).
    pub fn knows_next_nonce(&self, sender: &[u8]) -> bool {
        self.next_nonce.contains_key(sender)
    }

    /// Records `sender`'s next nonce on chain (never moves it back).
    pub fn learn_next_nonce(&mut self, sender: &[u8], next: u64) {
        let n = self.next_nonce.entry(sender.to_vec()).or_insert(next);
        *n = (*n).max(next);
    }

    /// The side-queue cap, kept below the per-sender cap.
    fn max_future(&self) -> usize {
        self.config.max_future_per_sender.min(self.config.max_per_sender.saturating_sub(1))
    }

    /// The sender's ready nonces end here: the first nonce after the unbroken run from its next nonce.
    fn ready_end(&self, sender: &[u8]) -> Option<u64> {
        let pending = self.nonces.get(sender)?;
        let mut next = match self.next_nonce.get(sender) {
            Some(n) => *n,
            // Unknown (the app does not answer nonce queries): the lowest pending nonce starts the run.
            None => *pending.keys().next()?,
        };
        for &n in pending.range(next..).map(|(n, _)| n) {
            if n != next || n == u64::MAX {
                break;
            }
            next += 1;
        }
        Some(next)
    }

    /// [`Mempool::ready_end`] of every sender with pending txs: one pass over the pool, for the loops that ask
    /// about every entry (asking per entry would walk a sender's run once per tx: quadratic in a full pool).
    fn ready_ends(&self) -> BTreeMap<&[u8], u64> {
        self.nonces.keys().filter_map(|s| self.ready_end(s).map(|end| (s.as_slice(), end))).collect()
    }

    /// Whether the entry waits for an earlier nonce (a gap before it): reaping skips it. `ends` is
    /// [`Mempool::ready_ends`].
    fn is_future(e: &Entry, ends: &BTreeMap<&[u8], u64>) -> bool {
        match (e.nonce, ends.get(e.sender.as_slice())) {
            (Some(n), Some(end)) => n >= *end,
            _ => false,
        }
    }

    /// How many of the sender's txs are in the side queue.
    pub fn future_count(&self, sender: &[u8]) -> usize {
        match (self.nonces.get(sender), self.ready_end(sender)) {
            (Some(p), Some(end)) => p.range(end..).count(),
            _ => 0,
        }
    }

    /// Inserts a tx the app accepted. Repeats the bounds checks (another tx may have arrived meanwhile).
    ///
    /// By price (CheckTx's `priority`): a tx with a pending tx's sender and nonce replaces it only if it pays
    /// more; a full pool evicts cheaper txs (senders' last nonces, so no gap opens) to make room, and refuses the
    /// tx if there are not enough of them.
    pub fn insert(&mut self, tx: Vec<u8>, check: &CheckTxResponse) -> Result<Hash, MempoolError> {
        if tx.len() > self.config.max_tx_bytes {
            return Err(MempoolError::TooLarge { len: tx.len(), max: self.config.max_tx_bytes });
        }
        let hash = Hash::digest(&tx);
        if self.by_hash.contains_key(&hash) || self.committed_set.contains_key(&hash) {
            return Err(MempoolError::Duplicate(hash));
        }
        if !check.is_ok() {
            return Err(MempoolError::Rejected { code: check.code, log: check.log.clone() });
        }
        let nonce = if check.sender.is_empty() { None } else { nonce_of(&tx) };
        let replaced = match nonce.and_then(|n| self.nonces.get(&check.sender).and_then(|p| p.get(&n))) {
            Some(old) => {
                let pending = self.by_hash.get(old).map_or(i64::MIN, |e| e.priority);
                if check.priority <= pending {
                    let nonce = nonce.unwrap_or_default();
                    return Err(MempoolError::Underpriced { nonce, pending, offered: check.priority });
                }
                Some(*old)
            }
            None => None,
        };
        let count = self.per_sender.get(&check.sender).copied().unwrap_or(0);
        if !check.sender.is_empty() && replaced.is_none() && count >= self.config.max_per_sender {
            return Err(MempoolError::SenderLimit { count, max: self.config.max_per_sender });
        }
        // Room: what a replacement frees, then the cheapest txs of other senders, if they pay less than this one.
        let freed = replaced.and_then(|h| self.by_hash.get(&h)).map_or(0, |e| e.tx.len());
        let mut evict = Vec::new();
        let (mut txs, mut bytes) = (self.by_hash.len() - usize::from(replaced.is_some()), self.bytes - freed);
        if !self.fits(tx.len(), freed) {
            let candidates = self.tails.iter().filter_map(|&(p, _, h)| {
                let e = self.by_hash.get(&h)?;
                (e.sender != check.sender && Some(h) != replaced).then_some((p, h, e.tx.len()))
            });
            for (p, h, len) in candidates {
                if txs < self.config.max_txs && bytes + tx.len() <= self.config.max_bytes {
                    break;
                }
                if p >= check.priority {
                    break;
                }
                evict.push(h);
                txs -= 1;
                bytes -= len;
            }
            if txs >= self.config.max_txs || bytes + tx.len() > self.config.max_bytes {
                return Err(MempoolError::Full { txs: self.by_hash.len(), bytes: self.bytes });
            }
        }
        if let Some(n) = nonce {
            // One walk of the sender's run, before the tx joins it: past its end, the tx waits behind a gap.
            let end = self.ready_end(&check.sender).or_else(|| self.next_nonce.get(&check.sender).copied());
            let future = end.is_some_and(|end| n > end);
            let parked = match (end, self.nonces.get(&check.sender)) {
                (Some(end), Some(p)) => p.range(end..).count(),
                _ => 0,
            };
            self.nonces.entry(check.sender.clone()).or_default().insert(n, hash);
            if future {
                tracing::debug!(%hash, nonce = n, ready_end = ?end,
                    next = ?self.next_nonce.get(&check.sender), parked, "tx parked behind a nonce gap");
            }
            // A replacement takes its predecessor's place: it parks nothing new.
            if future && replaced.is_none() && parked >= self.max_future() {
                if let Some(p) = self.nonces.get_mut(&check.sender) {
                    p.remove(&n);
                    if p.is_empty() {
                        self.nonces.remove(&check.sender);
                    }
                }
                return Err(MempoolError::FutureLimit { count: parked, max: self.max_future() });
            }
        }
        for h in evict.iter().chain(replaced.iter()) {
            self.remove(h);
        }
        if let Some(n) = nonce {
            // `remove` of the replaced tx dropped the nonce slot the new tx holds.
            self.nonces.entry(check.sender.clone()).or_default().insert(n, hash);
        }
        *self.per_sender.entry(check.sender.clone()).or_default() += 1;
        self.bytes += tx.len();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, hash);
        let entry = Entry {
            tx,
            sender: check.sender.clone(),
            priority: check.priority,
            height: self.height,
            seq,
            nonce,
        };
        if nonce.is_none() {
            self.tails.insert(tail_key(hash, &entry));
        }
        self.by_hash.insert(hash, entry);
        if nonce.is_some() {
            self.sync_tail(&check.sender);
        }
        Ok(hash)
    }

    /// Txs for a proposal: highest priority first, then arrival order, within the byte and count limits, each
    /// sender's txs in nonce order (a sender's next tx competes only once its predecessor is taken, as in geth's
    /// price-and-nonce ordering), so a cheap tx is never left out while its sender's dearer successor goes in.
    pub fn reap(&self, max_bytes: usize, max_txs: usize) -> Vec<Vec<u8>> {
        use std::collections::BinaryHeap;
        // Future-nonce txs wait in the side queue: a proposal could not include them (their nonce is not next).
        let mut queues: BTreeMap<&[u8], VecDeque<&Entry>> = BTreeMap::new();
        let mut singles: Vec<&Entry> = Vec::new();
        let ends = self.ready_ends();
        for e in
            self.order.values().filter_map(|h| self.by_hash.get(h)).filter(|e| !Self::is_future(e, &ends))
        {
            match e.nonce {
                Some(_) => queues.entry(e.sender.as_slice()).or_default().push_back(e),
                None => singles.push(e),
            }
        }
        let mut lanes: Vec<VecDeque<&Entry>> = queues
            .into_values()
            .map(|q| {
                let mut v: Vec<&Entry> = q.into();
                v.sort_by_key(|e| e.nonce);
                v.into()
            })
            .collect();
        lanes.extend(singles.into_iter().map(|e| VecDeque::from([e])));
        // Max-heap on (priority, earliest arrival), over each lane's head.
        let mut heap: BinaryHeap<(i64, std::cmp::Reverse<u64>, usize)> = BinaryHeap::new();
        for (i, lane) in lanes.iter().enumerate() {
            if let Some(e) = lane.front() {
                heap.push((e.priority, std::cmp::Reverse(e.seq), i));
            }
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some((_, _, i)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let Some(e) = lanes.get_mut(i).and_then(VecDeque::pop_front) else { continue };
            if bytes + e.tx.len() > max_bytes {
                // Its successors could not be included without it.
                continue;
            }
            bytes += e.tx.len();
            out.push(e.tx.clone());
            if let Some(next) = lanes.get(i).and_then(VecDeque::front) {
                heap.push((next.priority, std::cmp::Reverse(next.seq), i));
            }
        }
        out
    }

    /// Removes a tx (e.g. one that failed recheck).
    pub fn remove(&mut self, hash: &Hash) -> bool {
        let Some(e) = self.by_hash.remove(hash) else { return false };
        self.order.remove(&e.seq);
        self.bytes -= e.tx.len();
        if let (Some(n), Some(p)) = (e.nonce, self.nonces.get_mut(&e.sender)) {
            p.remove(&n);
            if p.is_empty() {
                self.nonces.remove(&e.sender);
            }
        }
        match e.nonce {
            Some(_) => self.sync_tail(&e.sender),
            None => {
                self.tails.remove(&tail_key(*hash, &e));
            }
        }
        if let Some(c) = self.per_sender.get_mut(&e.sender) {
            *c -= 1;
            if *c == 0 {
                self.per_sender.remove(&e.sender);
            }
        }
        true
    }

    /// After a block is committed at `height`: drop its txs (and remember them for dedup) and expired txs.
    /// Returns the oldest `recheck` remaining txs, which the caller rechecks (a copy of only those: copying a full
    /// pool after every block would cost more than the recheck).
    pub fn update(&mut self, height: Height, committed: &[Vec<u8>], recheck: usize) -> Vec<(Hash, Vec<u8>)> {
        self.height = height;
        for tx in committed {
            let hash = Hash::digest(tx);
            // The sender's next nonce moves past every committed tx the pool tracks the sender of — also one the
            // pool no longer holds (a recheck racing the commit may have evicted it as stale a moment before):
            // otherwise the sender's later txs would wait behind a gap that is not there.
            if let Some(e) = self.by_hash.get(&hash)
                && let Some(n) = e.nonce
            {
                let sender = e.sender.clone();
                self.learn_next_nonce(&sender, n.saturating_add(1));
            } else if let Ok(t) = cairn_primitives::Tx::from_bytes(tx) {
                let sender = &t.body.sender.0[..];
                if self.next_nonce.contains_key(sender) || self.nonces.contains_key(sender) {
                    self.learn_next_nonce(sender, t.body.nonce.saturating_add(1));
                }
            }
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
        // Stale nonces (below the sender's next) can never be included; future ones whose gap stays open expire.
        let future_ttl = self.config.future_ttl_blocks;
        let ends = self.ready_ends();
        let dead: Vec<(Hash, bool)> = self
            .by_hash
            .iter()
            .filter_map(|(h, e)| {
                let stale =
                    matches!((e.nonce, self.next_nonce.get(&e.sender)), (Some(n), Some(next)) if n < *next);
                let future = Self::is_future(e, &ends);
                let expired = future && height.0.saturating_sub(e.height.0) > future_ttl;
                (stale || expired).then_some((*h, future))
            })
            .collect();
        drop(ends);
        for (h, future) in dead {
            if let Some(e) = self.by_hash.get(&h) {
                tracing::debug!(hash = %h, nonce = ?e.nonce, next = ?self.next_nonce.get(&e.sender),
                    future, "dropping a stale or expired tx");
            }
            self.remove(&h);
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
        self.order
            .values()
            .filter_map(|h| self.by_hash.get(h).map(|e| (*h, e.tx.clone())))
            .take(recheck)
            .collect()
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
    learn_sender_nonce(pool, app, &check).await;
    let hash = pool.lock().await.insert(tx, &check)?;
    Ok((hash, check))
}

/// [`add_tx`] for several txs, in order, with one [`Application::check_txs`] call for those that pass the
/// pool's own checks (ExecApp checks their signatures in one batch). One result per tx.
pub async fn add_txs<A: Application + ?Sized>(
    pool: &Mutex<Mempool>,
    app: &A,
    txs: Vec<Vec<u8>>,
) -> Vec<Result<(Hash, CheckTxResponse), MempoolError>> {
    let mut out: Vec<Option<Result<(Hash, CheckTxResponse), MempoolError>>> = Vec::with_capacity(txs.len());
    let mut asked = Vec::new();
    {
        let p = pool.lock().await;
        for tx in txs {
            match p.precheck(&tx) {
                Ok(_) => {
                    asked.push((out.len(), tx));
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
    }
    let reqs =
        asked.iter().map(|(_, tx)| CheckTxRequest { tx: tx.clone(), kind: CheckTxKind::New }).collect();
    match app.check_txs(reqs).await {
        Ok(checks) if checks.len() == asked.len() => {
            for ((i, tx), check) in asked.into_iter().zip(checks) {
                learn_sender_nonce(pool, app, &check).await;
                out[i] = Some(pool.lock().await.insert(tx, &check).map(|hash| (hash, check)));
            }
        }
        Ok(checks) => {
            let e = AppError::Internal(format!("check_txs answered {} of {} txs", checks.len(), asked.len()));
            asked.iter().for_each(|(i, _)| out[*i] = Some(Err(e.clone().into())));
        }
        Err(e) => asked.iter().for_each(|(i, _)| out[*i] = Some(Err(e.clone().into()))),
    }
    out.into_iter().map(|r| r.expect("every tx has a result")).collect()
}

/// The first tx of a sender: ask the app for the sender's next nonce, so a gap is seen as one.
async fn learn_sender_nonce<A: Application + ?Sized>(
    pool: &Mutex<Mempool>,
    app: &A,
    check: &CheckTxResponse,
) {
    if !check.is_ok() || check.sender.is_empty() || pool.lock().await.knows_next_nonce(&check.sender) {
        return;
    }
    let path = format!("nonce/{}", hex_of(&check.sender));
    let req = QueryRequest { path, data: Vec::new(), height: Height(0), prove: false };
    if let Ok(r) = app.query(req).await
        && r.code == 0
        && let Ok(bytes) = <[u8; 8]>::try_from(r.value.as_slice())
    {
        pool.lock().await.learn_next_nonce(&check.sender, u64::from_le_bytes(bytes));
    }
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
            tracing::debug!(%hash, code = check.code, log = %check.log, "recheck evicted a tx");
            evicted += 1;
        }
    }
    Ok(evicted)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
