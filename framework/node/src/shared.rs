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

/// Block bodies by id: our proposals, peers' gossiped proposals, fetched bodies. Bounded; the lowest heights go
/// first.
#[derive(Default)]
pub(crate) struct BodyCache {
    map: HashMap<Hash, Arc<Block>>,
}

impl BodyCache {
    pub fn get(&self, id: &Hash) -> Option<Arc<Block>> {
        self.map.get(id).cloned()
    }

    pub fn insert(&mut self, block: Arc<Block>) {
        if self.map.len() >= MAX_CACHED_BODIES
            && let Some(lowest) = self.map.iter().min_by_key(|(_, b)| b.header.height).map(|(id, _)| *id)
        {
            self.map.remove(&lowest);
        }
        self.map.insert(block.id(), block);
    }

    /// Forgets bodies at or below `height` except `keep` (the block just committed, which lagging peers may
    /// still ask for; the store has it too).
    pub fn prune(&mut self, height: Height) {
        self.map.retain(|_, b| b.header.height > height);
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
