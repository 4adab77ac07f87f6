//! The outside of the network task: the [`NetworkHandle`] the node holds, the commands it queues for the task, and
//! the [`NetStats`] counters both share.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cairn_primitives::PublicKey;
use libp2p::{PeerId, gossipsub, request_response};
use tokio::sync::{mpsc, oneshot};

use crate::filter::GossipVerdict;
use crate::{P2pConfig, P2pError, PeerAddr, Topic};

/// Counters for what the network dropped or punished (monotonic, for metrics and tests).
#[derive(Debug, Default)]
pub struct NetStats {
    /// Events dropped because the node's main event lane (consensus, direct, requests, blocks) was full.
    pub events_dropped: AtomicU64,
    /// Tx gossip events dropped because the txs lane was full (their txs stay in the peers' mempools).
    pub tx_events_dropped: AtomicU64,
    /// Offences recorded against peers (malformed, oversized, wrong network, reported).
    pub offences: AtomicU64,
    /// Bans issued.
    pub bans: AtomicU64,
    /// Broadcasts that reached no peer (nobody subscribed yet).
    pub broadcasts_without_peers: AtomicU64,
    /// Tx batches that could not be gossiped (send queues full); their txs stay in the mempools.
    pub broadcasts_failed: AtomicU64,
    /// Inbound messages dropped because their peer exceeded `max_peer_msgs_per_sec`.
    pub rate_limited: AtomicU64,
    /// Queued one-way messages dropped because their peer disconnected before they could be sent.
    pub sends_dropped: AtomicU64,
    /// Gossip the node's filter did not accept (neither delivered nor forwarded).
    pub gossip_not_forwarded: AtomicU64,
    /// Connections closed because every ordinary peer slot was taken.
    pub peers_refused: AtomicU64,
    /// Messages over our size limit but under the protocol ceiling, dropped without blame (limit mismatch).
    pub oversized_dropped: AtomicU64,
    /// Payload bytes waiting in the main lane for the node (a gauge, refreshed every second).
    pub queued_main_bytes: AtomicU64,
    /// Payload bytes waiting in the txs lane (a gauge, refreshed every second).
    pub queued_tx_bytes: AtomicU64,
    /// Validator bindings refused (undecodable, for another peer key, or a bad signature).
    pub bad_bindings: AtomicU64,
    /// Peers whose score is below 0 (0 is clean; a ban comes at -100), refreshed on every offence and every
    /// second — what `cairn status` and `cairn_p2p_peer_score` show.
    pub(super) scores: std::sync::Mutex<BTreeMap<PublicKey, i64>>,
}

impl NetStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Peers with a score below 0, by key (everyone else is at 0).
    pub fn peer_scores(&self) -> BTreeMap<PublicKey, i64> {
        self.scores.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub(crate) enum Command {
    Broadcast {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Send {
        to: PublicKey,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Request {
        to: PublicKey,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, P2pError>>,
    },
    Respond {
        channel: request_response::ResponseChannel<Vec<u8>>,
        data: Vec<u8>,
    },
    Peers(oneshot::Sender<Vec<PublicKey>>),
    GossipPeers(Topic, oneshot::Sender<Vec<PublicKey>>),
    ReportBad {
        peer: PublicKey,
        reason: String,
    },
    IsBanned(PublicKey, oneshot::Sender<bool>),
    /// The node's verdict on a tx batch held back for it (see [`crate::TxVerdict`]).
    Validated {
        id: gossipsub::MessageId,
        source: PeerId,
        verdict: GossipVerdict,
    },
    Shutdown(oneshot::Sender<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

#[derive(Debug)]
pub(super) struct HandleInner {
    pub commands: mpsc::Sender<Command>,
    pub local_addr: SocketAddr,
    pub local_key: PublicKey,
    pub config: P2pConfig,
    pub stats: Arc<NetStats>,
}

/// Talks to the network task. Cheap to clone; the task stops on [`NetworkHandle::shutdown`] or when every
/// handle (and every unanswered [`ResponseHandle`](crate::ResponseHandle)) is dropped.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    pub(super) inner: Arc<HandleInner>,
}

impl NetworkHandle {
    /// The socket address we listen on (the real port when the config said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Our p2p key (the libp2p identity). Peers that verified our [`P2pConfig::binding`] name us by its
    /// validator key instead; both reach us.
    pub fn local_peer(&self) -> PublicKey {
        self.inner.local_key
    }

    /// How others should name us in their bootstrap lists (`KEYHEX@ip:port`).
    pub fn local_peer_addr(&self) -> PeerAddr {
        PeerAddr::new(Some(self.inner.local_key), self.inner.local_addr)
    }

    pub fn config(&self) -> &P2pConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> &NetStats {
        &self.inner.stats
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.inner.commands.send(make(tx)).await.map_err(|_| P2pError::Shutdown)?;
        rx.await.map_err(|_| P2pError::Shutdown)
    }

    /// Gossips `data` on `topic` to every subscribed peer at once. Returns when the message is queued on the
    /// connections (or refused). Having no peers yet is not an error (counted in
    /// [`NetStats::broadcasts_without_peers`]); re-broadcasting identical bytes within the dedup window is a
    /// no-op. We do not receive our own broadcast: the node handles its own messages locally.
    ///
    /// Txs are batched (see `tx_batch_delay`): `Ok` means queued, and a batch that later fails to go out is
    /// counted in [`NetStats::broadcasts_failed`]. A tx may then reach a peer twice in different batches —
    /// the mempool deduplicates by hash.
    pub async fn broadcast(&self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
        let max = self.inner.config.topic_limit(topic);
        if data.len() > max {
            return Err(P2pError::TooLarge { len: data.len(), max });
        }
        self.call(|reply| Command::Broadcast { topic, data, reply }).await?
    }

    /// A one-way direct message to a connected peer (each on its own stream, so not ordered with others).
    /// Returns once it is queued: at most 64 messages per peer are on the wire at once and up to 8192 more
    /// wait behind them (beyond that: [`P2pError::Busy`]). Delivery failures later are logged, not reported
    /// (consensus retransmits by its own timers).
    pub async fn send(&self, to: PublicKey, data: Vec<u8>) -> Result<(), P2pError> {
        let max = self.inner.config.max_message_bytes;
        if data.len() > max {
            return Err(P2pError::TooLarge { len: data.len(), max });
        }
        self.call(|reply| Command::Send { to, data, reply }).await?
    }

    /// A request to a connected peer, answered through its [`NetEvent::Request`](crate::NetEvent::Request)'s [`ResponseHandle`](crate::ResponseHandle).
    pub async fn request(
        &self,
        to: PublicKey,
        data: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, P2pError> {
        let max = self.inner.config.max_message_bytes;
        if data.len() > max {
            return Err(P2pError::TooLarge { len: data.len(), max });
        }
        match tokio::time::timeout(timeout, self.call(|reply| Command::Request { to, data, reply })).await {
            Ok(result) => result?,
            Err(_) => Err(P2pError::Timeout(to)),
        }
    }

    /// Connected peers the node was told of ([`NetEvent::PeerConnected`](crate::NetEvent::PeerConnected)), by identity: a validator key for a
    /// peer that proved one with its binding, else the peer's p2p key.
    pub async fn peers(&self) -> Vec<PublicKey> {
        self.call(Command::Peers).await.unwrap_or_default()
    }

    /// Peers known to be subscribed to `topic` (those a broadcast reaches directly).
    pub async fn gossip_peers(&self, topic: Topic) -> Vec<PublicKey> {
        self.call(|reply| Command::GossipPeers(topic, reply)).await.unwrap_or_default()
    }

    /// Disconnects `peer` and refuses it for `ban_duration` — for a peer whose messages the node found bad
    /// (undecodable consensus message, invalid signature, …).
    pub async fn report_bad(&self, peer: PublicKey, reason: &str) {
        let _ = self.inner.commands.send(Command::ReportBad { peer, reason: reason.to_string() }).await;
    }

    pub async fn is_banned(&self, peer: PublicKey) -> bool {
        self.call(|reply| Command::IsBanned(peer, reply)).await.unwrap_or(false)
    }

    /// Stops the network task and waits until its sockets are closed (so the port can be reused at once).
    pub async fn shutdown(&self) {
        let _ = self.call(Command::Shutdown).await;
    }
}
