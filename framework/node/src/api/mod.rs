//! The node's public API: the gRPC `cairn.node.v1.Node` service (with reflection), a small JSON/HTTP API and
//! Prometheus metrics, each on its own listener from `[api]` in config.toml.
//!
//! The API talks to the node only through [`Backend`], so it is tested against a mock and the node core stays
//! free of HTTP and protobuf. Every request is bounded: a tx body larger than [`MAX_TX_BODY_BYTES`] is refused
//! before it is read into memory, query data is capped at [`MAX_QUERY_BYTES`], and event streams drop (and say so)
//! rather than buffer without end.
//!
//! | HTTP route | what |
//! |---|---|
//! | `GET /status` | the node's status as JSON |
//! | `GET /counters` | the node's counters (blocks, txs, drops, mempool size) as JSON |
//! | `POST /tx` | body: the tx, raw bytes or hex text; `?wait=commit` waits until it is finalized |
//! | `GET /block/{height}` | the block (header, tx hashes, borsh bytes as hex); `latest` for the newest |
//! | `GET /tx/{hash}` | a finalized tx and its result |
//! | `GET /query?path=P&data=HEX&height=H` | an application query |
//! | `GET /` | the dashboard: a page that shows the chain live (see `dashboard.rs`) |
//! | `GET /events` | finalized blocks as server-sent events (`event: block`, NodeEvent JSON) |
//! | `GET /process` | this process's CPU seconds and resident bytes |
//! | `GET /metrics` (metrics listener) | Prometheus text format |

mod backend;
mod dashboard;
mod grpc;
mod http;
pub mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

pub use backend::{Backend, BackendError, BroadcastOutcome, StoredBlock};
pub use dashboard::{ProcessUsage, USER_HZ, process_usage};
pub use metrics::Metrics;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ApiSection;

/// Largest tx the API accepts in a request body (hex doubles it, so HTTP bodies may be twice this plus slack).
pub const MAX_TX_BODY_BYTES: usize = cairn_primitives::MAX_TX_BYTES;
/// Most txs in one `BroadcastTxs` call (their bytes together are also bounded by the gRPC request limit).
pub const MAX_BATCH_TXS: usize = 1024;
/// Largest `data` of a query.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Largest gRPC message decoded by the server.
pub const MAX_GRPC_REQUEST_BYTES: usize = MAX_TX_BODY_BYTES + 4 * 1024;
/// Largest gRPC message sent (a block response).
pub const MAX_GRPC_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// How long `BROADCAST_MODE_COMMIT` / `?wait=commit` waits for finalization.
pub const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long a shutdown waits for in-flight requests before cutting them off.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
/// Events buffered per subscriber before it is told it lagged and the stream ends.
pub const EVENT_BUFFER: usize = 4096;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "cannot listen on {what} {addr}: {source}. Is another node (or program) using the port? Pick another one \
         in config.toml under [api] `{what}` (or port 0 for any free port)"
    )]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
}

/// The running API servers: their bound addresses (useful with port 0) and a way to stop them.
pub struct ApiServers {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub metrics: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ApiServers {
    /// Stops accepting requests and waits (at most [`SHUTDOWN_GRACE`]) for the servers to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ApiError> {
    TcpListener::bind(addr).await.map_err(|source| ApiError::Bind { what, addr, source })
}

/// Binds the three listeners of `config` (failing at once, with the address, if one is taken) and serves the API
/// over `backend` until [`ApiServers::shutdown`].
pub async fn serve<B: Backend>(backend: B, config: &ApiSection) -> Result<ApiServers, ApiError> {
    let backend = Arc::new(backend);
    let grpc_listener = bind("grpc", config.grpc).await?;
    let http_listener = bind("http", config.http).await?;
    let metrics_listener = bind("metrics", config.metrics).await?;
    let addr = |l: &TcpListener, fallback| l.local_addr().unwrap_or(fallback);
    let (grpc, http, metrics_addr) = (
        addr(&grpc_listener, config.grpc),
        addr(&http_listener, config.http),
        addr(&metrics_listener, config.metrics),
    );
    let (shutdown, rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let tasks = vec![
        tokio::spawn(metrics::follow_events(metrics.clone(), backend.subscribe(), rx.clone())),
        tokio::spawn(grpc::serve(backend.clone(), grpc_listener, rx.clone())),
        tokio::spawn(http::serve(backend.clone(), http_listener, rx.clone())),
        tokio::spawn(metrics::serve(backend, metrics, metrics_listener, rx)),
    ];
    tracing::info!(%grpc, %http, metrics = %metrics_addr, "node API listening");
    Ok(ApiServers { grpc, http, metrics: metrics_addr, shutdown, tasks })
}

/// Resolves when `rx` turns true (or its sender is gone).
async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
