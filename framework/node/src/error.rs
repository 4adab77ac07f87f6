//! The node's errors: one enum per area, aggregated into [`NodeError`].

use std::net::SocketAddr;

use cairn_abci::AppError;
use cairn_primitives::{Hash, Height};

pub use crate::config::ConfigError;

/// Start-up handshake between the block store and the application.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "app hash mismatch at height {height}: the chain says {chain}, the application computed {app}; the \
         application's state does not match the blocks it executed (wrong app version or corrupted app data)"
    )]
    AppHashMismatch { height: Height, chain: Hash, app: Hash },
    #[error(
        "the application is at height {app_height}, ahead of the block store at height {store_height}; restore the \
         node's data directory or reset the application's state"
    )]
    AppAhead { app_height: Height, store_height: Height },
    #[error("block {height} is missing from the block store (last height {last}); the store is damaged")]
    MissingBlock { height: Height, last: Height },
    #[error("stored chain state is damaged: {0}")]
    CorruptState(String),
}

/// Block sync: a block from a peer that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("block at height {height} has a bad certificate: {reason}")]
    BadCertificate { height: Height, reason: String },
    #[error("block at height {height} does not match its header or its parent: {reason}")]
    BadBlock { height: Height, reason: String },
    #[error("peer answered with malformed bytes: {0}")]
    Malformed(String),
    #[error("message kind {0} is unknown to this version (the peer runs a newer cairn)")]
    NewerKind(u8),
    #[error(
        "block at height {height} was finalized by sampling and carries only its sender's attestation, not a \
         quorum certificate; block sync applies it once validators holding over a third of the weight attested it"
    )]
    Unprovable { height: Height },
    #[error(
        "this node's state diverged: after height {height} its application computed app hash {ours}, but a \
         quorum of validators finalized {chain}. The node stops instead of blaming peers. The application's state \
         is wrong (a different app version, a nondeterministic module, or damaged data): fix it and resync \
         (cairn unsafe-reset-all, then start)"
    )]
    LocalDivergence { height: Height, ours: Hash, chain: Hash },
}

/// Anything that stops a node or fails a call on it. Wrapped errors are transparent: their own messages already
/// say where (file, height, address), and `{:#}` chains would otherwise print them twice.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Mempool(#[from] cairn_mempool::MempoolError),
    #[error("p2p: {0}")]
    P2p(String),
    #[error(
        "cannot listen on {addr} for {what}: address already in use (another node running? change {field})"
    )]
    AddrInUse { what: &'static str, addr: SocketAddr, field: &'static str },
    #[error("consensus engine: {0}")]
    Engine(String),
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Internal(String),
}
