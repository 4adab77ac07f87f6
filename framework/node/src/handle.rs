//! [`NodeHandle`]: what the API servers, the CLI and tests hold to talk to a running node.

use std::net::SocketAddr;
use std::sync::Arc;

use cairn_abci::{CheckTxResponse, QueryRequest, QueryResponse};
use cairn_primitives::{Block, Hash, Height};
use tokio::sync::{Mutex, broadcast};
use tokio::task::JoinHandle;

use crate::error::NodeError;
use crate::shared::Shared;
use crate::types::{NodeCounters, NodeEvent, NodeStatus, TxRecord};

/// A cheap, cloneable handle on a running node. When the last handle is dropped the node shuts down (use
/// [`NodeHandle::shutdown`] to wait until it has released its files).
#[derive(Clone)]
pub struct NodeHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) tasks: Arc<Tasks>,
    pub(crate) p2p_addr: Option<SocketAddr>,
}

/// The node's tasks; dropping the last owner signals shutdown.
pub(crate) struct Tasks {
    pub shared: Arc<Shared>,
    pub driver: Mutex<Option<JoinHandle<()>>>,
    pub others: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
        for t in self.others.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
    }
}

impl NodeHandle {
    /// Where the node is now.
    pub fn status(&self) -> NodeStatus {
        let mut status = self.shared.status.borrow().clone();
        status.peers = self.shared.net.peers();
        status.peer_scores = self.shared.net.peer_scores();
        status
    }

    /// Counters for metrics.
    pub fn counters(&self) -> NodeCounters {
        let mempool_txs = self.shared.mempool.try_lock().map(|m| m.len() as u64).unwrap_or(0);
        NodeCounters { p2p: self.shared.net.counters(), ..self.shared.counters.snapshot(mempool_txs) }
    }

    /// The address the p2p layer listens on (with the actual port when the config said port 0).
    pub fn p2p_addr(&self) -> Option<SocketAddr> {
        self.p2p_addr
    }

    pub fn config(&self) -> &crate::NodeConfig {
        &self.shared.config
    }

    pub fn genesis(&self) -> &crate::Genesis {
        &self.shared.genesis
    }

    /// Submits a tx: `CheckTx` on the app, into the mempool, gossiped to peers. The tx is *accepted*, not yet
    /// finalized: watch [`NodeHandle::subscribe`] or poll [`NodeHandle::tx`].
    pub async fn broadcast_tx(&self, tx: Vec<u8>) -> Result<(Hash, CheckTxResponse), NodeError> {
        if *self.shared.shutdown.borrow() {
            return Err(NodeError::ShuttingDown);
        }
        let gossip = self.shared.config.mempool.gossip.then(|| tx.clone());
        let _order = self.shared.admission.lock().await;
        let (hash, check) = cairn_mempool::add_tx(&self.shared.mempool, &*self.shared.app, tx).await?;
        if let Some(bytes) = gossip {
            self.shared.net.broadcast(crate::net::Topic::Txs, bytes);
        }
        drop(_order);
        self.shared.tx_notify.notify_one();
        Ok((hash, check))
    }

    /// [`NodeHandle::broadcast_tx`] for several txs in order, under one hold of the admission lock (so a batch
    /// is not interleaved with other submissions), one CheckTx call for the batch (the app checks the signatures
    /// together) and one wake-up of the driver.
    pub async fn broadcast_txs(&self, txs: Vec<Vec<u8>>) -> Vec<Result<(Hash, CheckTxResponse), NodeError>> {
        if *self.shared.shutdown.borrow() {
            return txs.iter().map(|_| Err(NodeError::ShuttingDown)).collect();
        }
        let gossip = self.shared.config.mempool.gossip.then(|| txs.clone());
        let order = self.shared.admission.lock().await;
        let results = cairn_mempool::add_txs(&self.shared.mempool, &*self.shared.app, txs).await;
        for (result, bytes) in results.iter().zip(gossip.into_iter().flatten()) {
            if result.is_ok() {
                self.shared.net.broadcast(crate::net::Topic::Txs, bytes);
            }
        }
        drop(order);
        let out = results.into_iter().map(|r| r.map_err(NodeError::from)).collect();
        self.shared.tx_notify.notify_one();
        out
    }

    /// A finalized block and its certificate (borsh of `cairn_consensus::Certificate`).
    pub fn block(&self, height: Height) -> Result<Option<(Block, Vec<u8>)>, NodeError> {
        let store = self.shared.store()?;
        let Some(block) = store.block(height)? else { return Ok(None) };
        let cert = store.certificate(height)?.unwrap_or_default();
        Ok(Some((block, cert)))
    }

    /// A finalized tx by hash (blake3 of its bytes), with its result.
    pub fn tx(&self, hash: &Hash) -> Result<Option<TxRecord>, NodeError> {
        let store = self.shared.store()?;
        let Some(loc) = store.tx(hash)? else { return Ok(None) };
        let Some(block) = store.block(loc.height)? else { return Ok(None) };
        let Some(tx) = block.txs.get(loc.index as usize).cloned() else { return Ok(None) };
        // Results are written right after the block; a reader in between sees the tx without its result yet.
        let Some(results) = store.results(loc.height)? else { return Ok(None) };
        let Some(result) = results.tx_results.get(loc.index as usize).cloned() else { return Ok(None) };
        Ok(Some(TxRecord { hash: *hash, height: loc.height, index: loc.index, tx, result }))
    }

    /// Reads app state (passes through to the app's `Query`).
    pub async fn query(&self, req: QueryRequest) -> Result<QueryResponse, NodeError> {
        Ok(self.shared.app.query(req).await?)
    }

    /// New blocks and finalized txs, from now on. A subscriber that falls more than the channel's capacity
    /// behind gets `RecvError::Lagged` and continues with newer events.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.shared.events.subscribe()
    }

    /// Why the node stopped, if it stopped on an error.
    pub fn fatal_error(&self) -> Option<String> {
        self.shared.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resolves when the node stops (after [`NodeHandle::shutdown`] or a fatal error); the error if any.
    pub async fn stopped(&self) -> Result<(), NodeError> {
        let mut rx = self.shared.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
        match self.fatal_error() {
            Some(e) => Err(NodeError::Internal(e)),
            None => Ok(()),
        }
    }

    /// Stops the node abruptly, as a crash would: the driver is cancelled at its next await point (possibly
    /// between `FinalizeBlock` and `Commit`), nothing more is written. For crash tests; the files are released.
    pub async fn abort(&self) {
        self.shared.shutdown.send_replace(true);
        let driver = self.tasks.driver.lock().await.take();
        if let Some(driver) = driver {
            driver.abort();
            let _ = driver.await;
        }
        for t in self.tasks.others.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
        self.shared.net.shutdown().await;
        self.shared.close_store();
    }

    /// Stops the node and waits until its driver has finished (store and WAL closed).
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let driver = self.tasks.driver.lock().await.take();
        if let Some(driver) = driver {
            let _ = driver.await;
        }
        for t in self.tasks.others.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            t.abort();
        }
        self.shared.net.shutdown().await;
        self.shared.close_store();
    }
}
