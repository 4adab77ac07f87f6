use async_trait::async_trait;
use cairn_primitives::Hash;

use crate::types::*;

/// Why an application call failed. A *rejected tx* is not an error (it is a `CheckTxResponse`/`TxResult` with a
/// non-zero code); these are failures of the call itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The app could not be reached (remote app down, wrong address).
    #[error("cannot reach the application at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    /// The request was malformed (missing field, bad bytes).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A request or response exceeded a size limit.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The call did not finish within its deadline.
    #[error("deadline exceeded after {ms} ms calling {call}")]
    Deadline { call: &'static str, ms: u64 },
    /// A call arrived out of order (e.g. FinalizeBlock for a height the app is not at).
    #[error("out of order: {0}")]
    OutOfOrder(String),
    /// The app does not offer this call (an optional one, such as `CheckTxs`, on an older app).
    #[error("the application does not implement {0}")]
    Unimplemented(String),
    /// Anything else the app reports.
    #[error("application error: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

/// The boundary between consensus and execution, modelled on ABCI 2.0.
///
/// The node calls these; an implementation may live in the same process (any Rust type) or behind gRPC
/// ([`crate::client::RemoteApp`]) — the node cannot tell the difference. Calls take `&self` because a server
/// shares one app between connections; apps keep their mutable state behind a lock.
///
/// Order of calls per height: `prepare_proposal` (only on the proposer) / `process_proposal` (on the others) any
/// number of times, then exactly one `finalize_block`, then `commit`. `check_tx` and `query` may interleave.
#[async_trait]
pub trait Application: Send + Sync + 'static {
    /// What the app has committed; the node uses it for the start-up handshake and block replay.
    async fn info(&self, req: InfoRequest) -> AppResult<InfoResponse>;

    /// Called once, at genesis, before the first block.
    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse>;

    /// Validates a tx for the mempool without executing it.
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse>;

    /// `check_tx` for several txs, answered in order, each as `check_tx` would answer it alone (earlier txs of
    /// the batch are not yet in the mempool). An app overrides it to share work across the batch (ExecApp checks
    /// the signatures in one batch); the default asks one at a time, which is what a remote app gets.
    async fn check_txs(&self, reqs: Vec<CheckTxRequest>) -> AppResult<Vec<CheckTxResponse>> {
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            out.push(self.check_tx(req).await?);
        }
        Ok(out)
    }

    /// The proposer may reorder, drop or add txs.
    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse>;

    /// A validator checks a peer's proposal; `Reject` makes it refuse to vote for it.
    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus>;

    /// Executes a finalized block.
    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse>;

    /// Persists the state produced by the last `finalize_block`.
    async fn commit(&self) -> AppResult<CommitResponse>;

    /// Reads state, optionally with a proof against the app hash.
    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse>;

    /// Snapshots the app can serve for state sync. Default: none.
    async fn list_snapshots(&self) -> AppResult<Vec<Snapshot>> {
        Ok(Vec::new())
    }

    /// A node offers a snapshot to restore from. Default: reject.
    async fn offer_snapshot(&self, _snapshot: Snapshot, _app_hash: Hash) -> AppResult<OfferSnapshotResult> {
        Ok(OfferSnapshotResult::Reject)
    }

    /// One chunk of a snapshot this app offered. Default: empty.
    async fn load_snapshot_chunk(&self, _req: LoadSnapshotChunkRequest) -> AppResult<Vec<u8>> {
        Ok(Vec::new())
    }

    /// Applies one chunk while restoring. Default: abort.
    async fn apply_snapshot_chunk(
        &self,
        _req: ApplySnapshotChunkRequest,
    ) -> AppResult<ApplySnapshotChunkResult> {
        Ok(ApplySnapshotChunkResult::Abort)
    }

    /// Liveness check: returns its input.
    async fn echo(&self, message: String) -> AppResult<String> {
        Ok(message)
    }
}

#[async_trait]
impl<A: Application + ?Sized> Application for std::sync::Arc<A> {
    async fn info(&self, req: InfoRequest) -> AppResult<InfoResponse> {
        (**self).info(req).await
    }
    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        (**self).init_chain(req).await
    }
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        (**self).check_tx(req).await
    }
    async fn check_txs(&self, reqs: Vec<CheckTxRequest>) -> AppResult<Vec<CheckTxResponse>> {
        (**self).check_txs(reqs).await
    }
    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        (**self).prepare_proposal(req).await
    }
    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        (**self).process_proposal(req).await
    }
    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        (**self).finalize_block(req).await
    }
    async fn commit(&self) -> AppResult<CommitResponse> {
        (**self).commit().await
    }
    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        (**self).query(req).await
    }
    async fn list_snapshots(&self) -> AppResult<Vec<Snapshot>> {
        (**self).list_snapshots().await
    }
    async fn offer_snapshot(&self, snapshot: Snapshot, app_hash: Hash) -> AppResult<OfferSnapshotResult> {
        (**self).offer_snapshot(snapshot, app_hash).await
    }
    async fn load_snapshot_chunk(&self, req: LoadSnapshotChunkRequest) -> AppResult<Vec<u8>> {
        (**self).load_snapshot_chunk(req).await
    }
    async fn apply_snapshot_chunk(
        &self,
        req: ApplySnapshotChunkRequest,
    ) -> AppResult<ApplySnapshotChunkResult> {
        (**self).apply_snapshot_chunk(req).await
    }
    async fn echo(&self, message: String) -> AppResult<String> {
        (**self).echo(message).await
    }
}
