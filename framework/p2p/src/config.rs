use std::net::SocketAddr;
use std::time::Duration;

use cairn_primitives::ChainId;

use crate::PeerAddr;

/// The gossip topics. Each is namespaced by chain id (`/cairn/<chain id>/<name>/1`), so two chains sharing
/// peers never see each other's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Consensus broadcasts (proposals, votes, certificates). Smaller size limit.
    Consensus,
    /// Transactions entering the mempool.
    Txs,
    /// Finalized blocks.
    Blocks,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Consensus, Topic::Txs, Topic::Blocks];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Consensus => "consensus",
            Topic::Txs => "txs",
            Topic::Blocks => "blocks",
        }
    }

    /// The gossipsub topic string for this chain.
    pub fn topic_string(self, chain_id: &ChainId) -> String {
        format!("/cairn/{chain_id}/{}/1", self.name())
    }
}

/// Largest block/tx/request message by default: a maximal tx (4 MiB + 64 KiB) with room for its envelope.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024 + 128 * 1024;
/// Largest consensus gossip message by default: the engines' 1 MiB limit plus room for an envelope.
pub const DEFAULT_MAX_CONSENSUS_BYTES: usize = 1024 * 1024 + 64 * 1024;
/// No cairn node accepts messages above this (a config asking for more is refused), so only a message above it
/// proves ill will. One between our own limit and this is dropped without blame: its sender may simply run with
/// larger limits than ours (a limit mismatch is a configuration matter, not an attack).
pub const MAX_MESSAGE_CEILING: usize = 256 * 1024 * 1024;

/// How the p2p layer runs. [`P2pConfig::new`] gives defaults tuned for 4–100 validators on a LAN or the
/// internet; tests shorten the timers.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// Where to listen (port 0 picks a free port; [`crate::NetworkHandle::local_addr`] tells which).
    pub listen: SocketAddr,
    /// Peers dialled at start and re-dialled with backoff whenever the connection is lost.
    pub bootstrap: Vec<PeerAddr>,
    /// Namespaces topics and protocols; peers of another chain are disconnected.
    pub chain_id: ChainId,
    /// Limit for block and tx gossip, direct messages, requests and responses (bytes of payload).
    pub max_message_bytes: usize,
    /// Limit for consensus gossip (bytes of payload).
    pub max_consensus_bytes: usize,
    /// Most ordinary peers connected at once (at most two connections each). Bootstrap peers and the peers the
    /// gossip filter names as reserved (validators) do not count, up to `reserved_peers` more.
    pub max_peers: usize,
    /// Room kept beyond `max_peers` for bootstrap and reserved peers.
    pub reserved_peers: usize,
    /// Capacity of the event queue to the node; when it is full, messages are dropped and counted
    /// ([`crate::NetStats::events_dropped`]) so a slow node never stalls the network task (connection events
    /// wait in a small backlog instead).
    pub event_queue: usize,
    /// Byte budget of the main event lane (consensus, direct messages, requests, blocks); one peer may hold a
    /// quarter of it, which must fit one largest message.
    pub event_queue_bytes: usize,
    /// Byte budget of the txs lane (tx gossip), kept apart so a tx flood never delays consensus.
    pub tx_event_queue_bytes: usize,
    /// Capacity of the command queue from handles; callers wait when it is full (backpressure).
    pub command_queue: usize,
    /// Most outbound requests awaiting a response; more are refused with [`crate::P2pError::Busy`].
    pub max_pending_requests: usize,
    /// Upper bound of any request's life in the stack (the per-call timeout of `request` is usually shorter).
    pub request_timeout: Duration,
    /// First re-dial delay for a lost bootstrap peer; doubles per failed attempt up to `redial_max`.
    pub redial_initial: Duration,
    pub redial_max: Duration,
    /// How long a peer stays banned after `report_bad` or repeated malformed messages.
    pub ban_duration: Duration,
    /// Gossipsub heartbeat: mesh maintenance and lazy gossip (publishing itself never waits for it).
    pub heartbeat: Duration,
    /// How long gossip message ids are remembered for deduplication. Re-broadcasting identical bytes within
    /// this window is a no-op; after it, they go out again (an engine re-sending a vote after a partition
    /// heals needs that; gossipsub expires its cache lazily, on the next message). Receivers apply their own
    /// window, so keep it the same on every node. Must exceed the time a message takes to cross the mesh.
    pub dedup_window: Duration,
    /// Messages per second one peer may put in front of the node (direct messages, requests, and gossip by
    /// author, a tx batch counting once); beyond it they are dropped and counted
    /// ([`crate::NetStats::rate_limited`]), so one flooding peer cannot crowd out the others.
    pub max_peer_msgs_per_sec: u32,
    /// Txs are gossiped in batches: a tx waits at most this long for others to join it. Zero sends each tx
    /// in its own batch at once.
    pub tx_batch_delay: Duration,
    /// A batch is sent as soon as it reaches this size (bounded by the txs topic limit).
    pub tx_batch_bytes: usize,
    /// How long a dial (TCP connect + noise + yamux) may take before it counts as failed and is retried.
    pub dial_timeout: Duration,
    /// Liveness pings; a connection whose ping times out (2 intervals) is closed, so a silent link is noticed.
    pub ping_interval: Duration,
    /// This node's validator binding (its consensus key vouching for its p2p key), presented to every peer so
    /// that they treat it as that validator. `None` for a node without a consensus key.
    pub binding: Option<crate::Binding>,
    /// How often the binding is gossiped, so that nodes not connected to us also know our gossip as our
    /// validator's (they forget it after three periods without a refresh).
    pub binding_republish: Duration,
}

impl P2pConfig {
    pub fn new(chain_id: ChainId, listen: SocketAddr) -> P2pConfig {
        P2pConfig {
            listen,
            bootstrap: Vec::new(),
            chain_id,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_consensus_bytes: DEFAULT_MAX_CONSENSUS_BYTES,
            max_peers: 128,
            reserved_peers: 128,
            event_queue: 8192,
            event_queue_bytes: 64 * 1024 * 1024,
            tx_event_queue_bytes: 32 * 1024 * 1024,
            command_queue: 1024,
            max_pending_requests: 1024,
            request_timeout: Duration::from_secs(30),
            redial_initial: Duration::from_millis(100),
            redial_max: Duration::from_secs(1),
            ban_duration: Duration::from_secs(60),
            heartbeat: Duration::from_millis(100),
            dedup_window: Duration::from_secs(5),
            max_peer_msgs_per_sec: 5000,
            tx_batch_delay: Duration::from_millis(2),
            tx_batch_bytes: 256 * 1024,
            dial_timeout: Duration::from_secs(3),
            ping_interval: Duration::from_secs(2),
            binding: None,
            binding_republish: Duration::from_secs(10),
        }
    }

    /// The size limit for one item gossiped on `topic` (for txs: one tx, leaving room for its batch framing).
    pub fn topic_limit(&self, topic: Topic) -> usize {
        match topic {
            Topic::Txs => {
                self.wire_limit(topic).saturating_sub(crate::batch::BATCH_HEADER + crate::batch::ITEM_HEADER)
            }
            _ => self.wire_limit(topic),
        }
    }

    /// The size limit for one gossip message on `topic` as it travels.
    pub(crate) fn wire_limit(&self, topic: Topic) -> usize {
        match topic {
            Topic::Consensus => self.max_consensus_bytes.min(self.max_message_bytes),
            Topic::Txs | Topic::Blocks => self.max_message_bytes,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), crate::P2pError> {
        let bad = |what: &str| Err(crate::P2pError::Setup(format!("p2p config: {what}")));
        if self.max_message_bytes == 0 || self.max_consensus_bytes == 0 {
            return bad("message limits must be positive");
        }
        if self.max_message_bytes > MAX_MESSAGE_CEILING {
            return bad("max_message_bytes is above the protocol ceiling of 256 MiB");
        }
        if self.max_peers == 0
            || self.event_queue == 0
            || self.command_queue == 0
            || self.max_pending_requests == 0
        {
            return bad("max_peers, event_queue, command_queue and max_pending_requests must be positive");
        }
        let share = |bytes: usize| bytes / crate::PEER_SHARE_DIVISOR;
        if share(self.event_queue_bytes) < self.max_message_bytes
            || share(self.tx_event_queue_bytes) < self.topic_limit(Topic::Txs)
        {
            return bad(
                "a peer's share of each event lane (a quarter of its bytes) must fit one largest message",
            );
        }
        if self.dial_timeout.is_zero() || self.ping_interval.is_zero() {
            return bad("dial_timeout and ping_interval must be positive");
        }
        if self.heartbeat.is_zero() || self.redial_initial.is_zero() || self.redial_max < self.redial_initial
        {
            return bad("heartbeat and redial_initial must be positive and redial_max ≥ redial_initial");
        }
        Ok(())
    }
}
