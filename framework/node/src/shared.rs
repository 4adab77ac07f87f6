//! State shared between the driver task, the request servers and every [`crate::NodeHandle`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_abci::Application;
use cairn_mempool::Mempool;
use cairn_primitives::{Block, ChainId, Hash, Height};
use cairn_store::BlockStore;
use tokio::sync::{Notify, broadcast, watch};

use crate::config::NodeConfig;
use crate::genesis::Genesis;
use crate::net::Transport;
use crate::per_key::PerKey;
use crate::types::{NodeCounters, NodeEvent, NodeStatus};

/// Most block bodies kept in memory (proposals in flight and recent blocks peers may ask for).
pub(crate) const MAX_CACHED_BODIES: usize = 256;

#[derive(Default)]
pub(crate) struct Counters {
    pub blocks_finalized: AtomicU64,
    pub txs_finalized: AtomicU64,
    pub blocks_synced: AtomicU64,
    pub malformed_messages: AtomicU64,
    pub rejected_blocks: AtomicU64,
    pub engine_dropped: AtomicU64,
    pub evidence: AtomicU64,
    pub engine_switches: AtomicU64,
}

impl Counters {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self, mempool_txs: u64) -> NodeCounters {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NodeCounters {
            blocks_finalized: g(&self.blocks_finalized),
            txs_finalized: g(&self.txs_finalized),
            blocks_synced: g(&self.blocks_synced),
            malformed_messages: g(&self.malformed_messages),
            rejected_blocks: g(&self.rejected_blocks),
            engine_dropped: g(&self.engine_dropped),
            evidence: g(&self.evidence),
            engine_switches: g(&self.engine_switches),
            mempool_txs,
            p2p: Default::default(),
        }
    }
}

/// Block bodies by id: our proposals, peers' gossiped proposals, fetched bodies.
///
/// Bounded by count, by bytes and per proposer, because gossiped bodies come from anyone with a key. When full,
/// the body *farthest* ahead goes first — never one nearer the height being decided for one farther away — so junk
/// at future heights cannot push out the proposal the validators are voting on.
#[derive(Default)]
pub(crate) struct BodyCache {
    map: HashMap<Hash, Arc<Block>>,
    bytes: usize,
    per_proposer: PerKey,
}

/// Most bytes of cached bodies (a few full blocks per lookahead height).
pub(crate) const MAX_CACHED_BODY_BYTES: usize = 256 * 1024 * 1024;

/// What a body costs the cache: its txs plus a header's worth.
fn body_bytes(b: &Block) -> usize {
    b.txs.iter().map(Vec::len).sum::<usize>() + 512
}

impl BodyCache {
    pub fn get(&self, id: &Hash) -> Option<Arc<Block>> {
        self.map.get(id).cloned()
    }

    /// Caches a gossiped `block` unless it is already here, its proposer holds its share, or making room would
    /// evict a body at a nearer height. Returns whether it is cached.
    pub fn insert(&mut self, block: Arc<Block>) -> bool {
        self.put(block, false)
    }

    /// Caches a body this node needs — its own proposal, or one it fetched because consensus named it: no share
    /// applies, and the farthest bodies make room whatever their height.
    pub fn insert_needed(&mut self, block: Arc<Block>) {
        self.put(block, true);
    }

    fn put(&mut self, block: Arc<Block>, needed: bool) -> bool {
        let id = block.id();
        if self.map.contains_key(&id) {
            return true;
        }
        let size = body_bytes(&block);
        let proposer = block.header.proposer;
        if !needed && self.per_proposer.get(&proposer) >= MAX_CACHED_BODIES / 4 {
            return false;
        }
        while self.map.len() >= MAX_CACHED_BODIES || self.bytes + size > MAX_CACHED_BODY_BYTES {
            // The farthest height goes first (ties: the larger id, so every node evicts alike).
            let Some((victim, height)) =
                self.map.iter().map(|(id, b)| (*id, b.header.height)).max_by_key(|(id, h)| (*h, *id))
            else {
                return false;
            };
            if height <= block.header.height && !needed {
                return false;
            }
            self.remove(&victim);
        }
        self.bytes += size;
        self.per_proposer.add(proposer, 1);
        self.map.insert(id, block);
        true
    }

    fn remove(&mut self, id: &Hash) {
        let Some(b) = self.map.remove(id) else { return };
        self.bytes -= body_bytes(&b);
        self.per_proposer.sub(&b.header.proposer, 1);
    }

    /// Forgets bodies at or below `height` (committed; the store has the one that was decided).
    pub fn prune(&mut self, height: Height) {
        let old: Vec<Hash> =
            self.map.iter().filter(|(_, b)| b.header.height <= height).map(|(id, _)| *id).collect();
        for id in old {
            self.remove(&id);
        }
    }
}

pub(crate) struct Shared {
    pub chain_id: ChainId,
    pub config: NodeConfig,
    pub genesis: Genesis,
    pub app: Arc<dyn Application>,
    /// Taken on shutdown, so the database file is closed even while handles live on.
    pub store: std::sync::RwLock<Option<Arc<BlockStore>>>,
    pub mempool: Arc<tokio::sync::Mutex<Mempool>>,
    pub net: Arc<dyn Transport>,
    pub status: watch::Sender<NodeStatus>,
    pub events: broadcast::Sender<NodeEvent>,
    pub counters: Counters,
    pub bodies: Mutex<BodyCache>,
    /// Serializes client submissions, so txs enter the mempool (and gossip) in the order they were submitted:
    /// a sender's pipelined nonces must not be reordered by concurrent CheckTx calls.
    pub admission: tokio::sync::Mutex<()>,
    /// Whose consensus and block gossip is forwarded (the validators of the next two heights).
    pub gossip: Arc<crate::gossip_filter::ValidatorGossip>,
    /// Wakes the driver when a tx enters the mempool (an idle leader proposes at once).
    pub tx_notify: Notify,
    pub shutdown: watch::Sender<bool>,
    /// Why the driver stopped, if it stopped on an error.
    pub fatal: Mutex<Option<String>>,
}

impl Shared {
    pub fn store(&self) -> Result<Arc<BlockStore>, crate::NodeError> {
        self.store.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or(crate::NodeError::ShuttingDown)
    }

    pub fn close_store(&self) {
        self.store.write().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub fn bodies(&self) -> std::sync::MutexGuard<'_, BodyCache> {
        self.bodies.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::{Header, Keypair};

    fn body(proposer: u64, height: u64, salt: u8) -> Arc<Block> {
        let txs = vec![vec![salt; 64]];
        let header = Header {
            chain_id: "bodies".parse().expect("chain id"),
            height: Height(height),
            parent: Hash::ZERO,
            time_ms: 0,
            proposer: Keypair::derived("bodies", proposer).public(),
            txs_root: Block::txs_root(&txs),
            app_hash: Hash::ZERO,
            validators_hash: Hash::ZERO,
            last_commit_hash: Hash::ZERO,
            evidence_root: Hash::ZERO,
        };
        Arc::new(Block { header, txs, last_commit: Vec::new(), evidence: Vec::new() })
    }

    #[test]
    fn junk_at_future_heights_never_evicts_the_body_being_decided() {
        let mut cache = BodyCache::default();
        let live = body(0, 5, 0);
        assert!(cache.insert(live.clone()));
        // Four peers fill the cache with bodies at heights 6..8 (each up to its share): the live body at 5 stays.
        for p in 1..=4 {
            for i in 0..MAX_CACHED_BODIES as u64 {
                if !cache.insert(body(p, 6 + i % 3, i as u8)) {
                    break;
                }
            }
        }
        assert_eq!(cache.map.len(), MAX_CACHED_BODIES);
        assert!(cache.get(&live.id()).is_some());
        // A body nearer than the farthest cached one still gets in, by evicting the farthest.
        let near = body(5, 5, 9);
        assert!(cache.insert(near.clone()));
        assert!(cache.get(&near.id()).is_some() && cache.get(&live.id()).is_some());
        // One farther than everything cached does not, unless this node needs it.
        assert!(!cache.insert(body(6, 50, 1)));
        cache.insert_needed(body(6, 50, 1));
        assert!(cache.get(&body(6, 50, 1).id()).is_some() && cache.get(&live.id()).is_some());
    }

    #[test]
    fn one_proposer_holds_at_most_a_quarter_and_pruning_frees_its_share() {
        let mut cache = BodyCache::default();
        let mut stored = 0;
        for i in 0..MAX_CACHED_BODIES as u64 {
            if cache.insert(body(1, 2 + i, 0)) {
                stored += 1;
            }
        }
        assert_eq!(stored, MAX_CACHED_BODIES / 4);
        assert!(cache.insert(body(2, 3, 0)), "another proposer still has room");
        cache.prune(Height(1_000));
        assert!(cache.map.is_empty() && cache.bytes == 0 && cache.per_proposer.is_empty());
        assert!(cache.insert(body(1, 1_001, 0)));
    }
}
