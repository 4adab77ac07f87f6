use std::net::SocketAddr;

use cairn_primitives::PublicKey;

/// Everything the p2p layer can refuse or fail at. Network-caused failures (a peer that went away, a timeout)
/// are ordinary values here: the node decides whether to retry, ask another peer or give up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    /// A bootstrap address string that could not be parsed; `reason` names the bad part.
    #[error("invalid peer address {input:?}: {reason}")]
    InvalidAddr { input: String, reason: String },
    /// Key material that is not a usable ed25519 identity.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The listen socket could not be opened (port in use, address not local, …).
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    /// The libp2p stack could not be assembled (a configuration the library rejects).
    #[error("cannot build the p2p stack: {0}")]
    Setup(String),
    /// A message above the configured limit, refused before it was sent.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    /// A direct message or request to a peer we have no connection to.
    #[error("peer {0} is not connected")]
    NotConnected(PublicKey),
    /// The peer did not answer within the caller's timeout.
    #[error("request to {0} timed out")]
    Timeout(PublicKey),
    /// The request reached the wire but failed there (connection closed, peer refused, stream error).
    #[error("request to {peer} failed: {reason}")]
    RequestFailed { peer: PublicKey, reason: String },
    /// Too many requests in flight; the caller should back off.
    #[error("too many requests in flight (limit {0})")]
    Busy(usize),
    /// Gossip could not be published (for a reason other than size or having no peers).
    #[error("cannot publish gossip: {0}")]
    Publish(String),
    /// The network task has stopped (after `shutdown`, or because it failed).
    #[error("the p2p network is shut down")]
    Shutdown,
}
