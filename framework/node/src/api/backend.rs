//! What the API needs from a node. `NodeHandle` implements it; tests implement it with a mock.

use async_trait::async_trait;
use cairn_abci::{QueryRequest, QueryResponse};
use cairn_primitives::{Block, Hash, Height};
use tokio::sync::broadcast;

use crate::NodeError;
use crate::types::{NodeCounters, NodeEvent, NodeStatus, TxRecord};

/// Why a backend call failed (a *rejected tx* is not a failure: see [`BroadcastOutcome`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request is malformed (e.g. a tx that does not decode, too large).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The mempool or another bounded resource is full: retry later.
    #[error("resource exhausted: {0}")]
    Exhausted(String),
    /// The request is over a size limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The tx is already in the mempool or was committed (a replay).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The application (or another part of the node) cannot serve now.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What happened to a submitted tx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastOutcome {
    pub hash: Hash,
    /// CheckTx's code: 0 accepted into the mempool.
    pub code: u32,
    pub log: String,
}

/// A finalized block and its finality certificate (engine encoding), if stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    pub block: Block,
    pub certificate: Option<Vec<u8>>,
}

/// The node, as the API sees it.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    fn status(&self) -> NodeStatus;
    fn counters(&self) -> NodeCounters;
    /// CheckTx and, if accepted, into the mempool (and gossiped).
    async fn broadcast_tx(&self, tx: Vec<u8>) -> Result<BroadcastOutcome, BackendError>;
    /// Several txs in order, each answered on its own. The default submits them one by one.
    async fn broadcast_txs(&self, txs: Vec<Vec<u8>>) -> Vec<Result<BroadcastOutcome, BackendError>> {
        let mut out = Vec::with_capacity(txs.len());
        for tx in txs {
            out.push(self.broadcast_tx(tx).await);
        }
        out
    }
    /// A finalized block; `Height(0)` means the latest.
    async fn block(&self, height: Height) -> Result<Option<StoredBlock>, BackendError>;
    async fn tx(&self, hash: Hash) -> Result<Option<TxRecord>, BackendError>;
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse, BackendError>;
    /// Events from now on.
    fn subscribe(&self) -> broadcast::Receiver<NodeEvent>;
}

/// Submits `tx` and, if accepted, waits until it is finalized (or `timeout` passes).
/// Subscribes *before* submitting, so a fast block cannot slip by.
pub async fn broadcast_commit<B: Backend + ?Sized>(
    backend: &B,
    tx: Vec<u8>,
    timeout: std::time::Duration,
) -> Result<(BroadcastOutcome, Option<TxRecord>), BackendError> {
    let mut events = backend.subscribe();
    let outcome = backend.broadcast_tx(tx).await?;
    if outcome.code != 0 {
        return Ok((outcome, None));
    }
    let hash = outcome.hash;
    let wait = async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Tx { hash: h, height, index, result }) if h == hash => {
                    return Ok(Some(TxRecord { hash, height, index, tx: Vec::new(), result }));
                }
                Ok(_) => {}
                // Missed events: fall back to the tx index.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(rec) = backend.tx(hash).await? {
                        return Ok(Some(rec));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(BackendError::Unavailable("the node is shutting down".into()));
                }
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r.map(|rec| (outcome, rec)),
        Err(_) => match backend.tx(hash).await? {
            Some(rec) => Ok((outcome, Some(rec))),
            None => Err(BackendError::Unavailable(format!(
                "tx {hash} was accepted into the mempool but not finalized within {} s; query it later with its hash",
                timeout.as_secs()
            ))),
        },
    }
}

/// A submission's outcome as the API reports it: a CheckTx rejection is an answer, a full mempool an error.
fn submitted(
    digest: Hash,
    result: Result<(Hash, cairn_abci::CheckTxResponse), NodeError>,
) -> Result<BroadcastOutcome, BackendError> {
    use cairn_mempool::MempoolError as M;
    match result {
        Ok((hash, check)) => Ok(BroadcastOutcome { hash, code: check.code, log: check.log }),
        Err(NodeError::Mempool(M::Rejected { code, log })) => {
            Ok(BroadcastOutcome { hash: digest, code, log })
        }
        Err(NodeError::Mempool(e @ M::TooLarge { .. })) => Err(BackendError::TooLarge(e.to_string())),
        Err(NodeError::Mempool(e @ M::Duplicate(_))) => Err(BackendError::AlreadyExists(e.to_string())),
        Err(NodeError::Mempool(e @ (M::Full { .. } | M::SenderLimit { .. }))) => {
            Err(BackendError::Exhausted(e.to_string()))
        }
        Err(e) => Err(node_error(e)),
    }
}

/// The real node.
#[async_trait]
impl Backend for crate::NodeHandle {
    fn status(&self) -> NodeStatus {
        crate::NodeHandle::status(self)
    }

    fn counters(&self) -> NodeCounters {
        crate::NodeHandle::counters(self)
    }

    async fn broadcast_tx(&self, tx: Vec<u8>) -> Result<BroadcastOutcome, BackendError> {
        let digest = Hash::digest(&tx);
        submitted(digest, crate::NodeHandle::broadcast_tx(self, tx).await)
    }

    async fn broadcast_txs(&self, txs: Vec<Vec<u8>>) -> Vec<Result<BroadcastOutcome, BackendError>> {
        let digests: Vec<Hash> = txs.iter().map(|t| Hash::digest(t)).collect();
        let results = crate::NodeHandle::broadcast_txs(self, txs).await;
        digests.into_iter().zip(results).map(|(digest, r)| submitted(digest, r)).collect()
    }

    async fn block(&self, height: Height) -> Result<Option<StoredBlock>, BackendError> {
        let height = if height.0 == 0 { crate::NodeHandle::status(self).height } else { height };
        if height.0 == 0 {
            return Ok(None);
        }
        let found = crate::NodeHandle::block(self, height).map_err(node_error)?;
        Ok(found.map(|(block, cert)| StoredBlock { block, certificate: (!cert.is_empty()).then_some(cert) }))
    }

    async fn tx(&self, hash: Hash) -> Result<Option<TxRecord>, BackendError> {
        crate::NodeHandle::tx(self, &hash).map_err(node_error)
    }

    async fn query(&self, req: QueryRequest) -> Result<QueryResponse, BackendError> {
        crate::NodeHandle::query(self, req).await.map_err(node_error)
    }

    fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        crate::NodeHandle::subscribe(self)
    }
}

fn node_error(e: NodeError) -> BackendError {
    match e {
        NodeError::App(cairn_abci::AppError::InvalidArgument(m)) => BackendError::Invalid(m),
        NodeError::App(cairn_abci::AppError::ResourceExhausted(m)) => BackendError::TooLarge(m),
        NodeError::App(a) => BackendError::Unavailable(a.to_string()),
        NodeError::ShuttingDown => BackendError::Unavailable("the node is shutting down".into()),
        other => BackendError::Internal(other.to_string()),
    }
}
