//! The network task: one libp2p swarm driven by one tokio task, talked to through a bounded command queue
//! ([`NetworkHandle`]) and talking back through a bounded event queue ([`NetEvent`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_primitives::{Keypair, PublicKey};
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, gossipsub, identify, noise, ping,
    request_response, tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};

use crate::batch::{self, TxBatch};
use crate::binding::Binding;
use crate::codec::{Frame, FrameCodec, Violation, violation_of};
use crate::config::MAX_MESSAGE_CEILING;
use crate::events::{Lanes, NetEvent, NetEvents, Refused, ResponseHandle};
use crate::filter::{AcceptAll, GossipFilter, GossipVerdict, TxVerdict};
use crate::identity::{libp2p_keypair, peer_id_of, public_key_of};
use crate::rate::RateLimiter;
use crate::score::{Offence, PeerBook, Verdict};
use crate::{P2pConfig, P2pError, PeerAddr, Topic, addr};

mod peers;
mod relay;

/// Bytes a gossipsub envelope adds around the payload (topic, seqno, source, key, signature, protobuf tags).
const GOSSIP_ENVELOPE: usize = 1024;
/// How long `start` waits for the listen socket to come up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

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
    scores: std::sync::Mutex<BTreeMap<PublicKey, i64>>,
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

type Gossip = gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::WhitelistSubscriptionFilter>;

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    /// Consensus, blocks and bindings: signed by their author, whose identity the node judges them by.
    gossip: Gossip,
    /// Tx batches: unsigned (see [`GossipMode`]).
    tx_gossip: Gossip,
    direct: request_response::Behaviour<FrameCodec>,
}

/// How a gossipsub instance authenticates its messages.
///
/// Consensus and block gossip keeps gossipsub's signature: the engines' votes name no signer (the transport
/// vouches for the sender), a block's gossip author must be its proposer, and relayed bindings are checked
/// against the author. Txs need none of that: each tx carries its own signature, checked by CheckTx before its
/// batch is forwarded, and a batch's only author-like use (rate limits, blame for bad framing) is better served
/// by the peer that relayed it. So tx batches travel on a second, anonymous instance: no author, sequence number
/// or signature — no ed25519 signing per batch at its publisher and no verification per copy at each receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GossipMode {
    Signed,
    Anonymous,
}

impl GossipMode {
    fn of(topic: Topic) -> GossipMode {
        if topic == Topic::Txs { GossipMode::Anonymous } else { GossipMode::Signed }
    }
}

impl Behaviour {
    fn gossip_mut(&mut self, mode: GossipMode) -> &mut Gossip {
        match mode {
            GossipMode::Signed => &mut self.gossip,
            GossipMode::Anonymous => &mut self.tx_gossip,
        }
    }

    fn gossip_ref(&self, mode: GossipMode) -> &Gossip {
        match mode {
            GossipMode::Signed => &self.gossip,
            GossipMode::Anonymous => &self.tx_gossip,
        }
    }

    /// The lower of a peer's two gossipsub scores (`None` when neither instance knows it).
    fn gossip_score(&self, peer: &PeerId) -> Option<f64> {
        match (self.gossip.peer_score(peer), self.tx_gossip.peer_score(peer)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The entry point: builds the libp2p stack and spawns its task on the current tokio runtime.
pub struct Network;

impl Network {
    /// Starts listening, subscribes to the chain's topics, dials the bootstrap peers and returns once the
    /// listen socket is open (so [`NetworkHandle::local_addr`] is the real port even for port 0). `key` is the
    /// p2p key (the libp2p identity); a validator also sets [`P2pConfig::binding`] to be known as one.
    pub async fn start(key: &Keypair, config: P2pConfig) -> Result<(NetworkHandle, NetEvents), P2pError> {
        Network::start_with_filter(key, config, Arc::new(AcceptAll)).await
    }

    /// Like [`Network::start`], with `filter` deciding which gossip is forwarded (see [`GossipFilter`]).
    pub async fn start_with_filter(
        key: &Keypair,
        config: P2pConfig,
        filter: Arc<dyn GossipFilter>,
    ) -> Result<(NetworkHandle, NetEvents), P2pError> {
        config.validate()?;
        let identity = libp2p_keypair(key)?;
        let local_key = key.public();
        let mut swarm = build_swarm(identity, &config)?;

        let mut topics = HashMap::new();
        for topic in Topic::ALL {
            let t = gossipsub::IdentTopic::new(topic.topic_string(&config.chain_id));
            swarm
                .behaviour_mut()
                .gossip_mut(GossipMode::of(topic))
                .subscribe(&t)
                .map_err(|e| P2pError::Setup(format!("subscribe: {e}")))?;
            topics.insert(t.hash(), topic);
        }
        // Bindings travel on a topic of their own, handled here and never handed to the node (`relay.rs`).
        swarm
            .behaviour_mut()
            .gossip
            .subscribe(&relay::topic(&config.chain_id))
            .map_err(|e| P2pError::Setup(format!("subscribe: {e}")))?;

        let listen_err = |reason: String| P2pError::Listen { addr: config.listen, reason };
        // libp2p sets SO_REUSEPORT on listeners, so a second node could silently share a port with the first.
        // A plain bind first turns that into the error a person expects.
        if config.listen.port() != 0 {
            drop(std::net::TcpListener::bind(config.listen).map_err(|e| listen_err(e.to_string()))?);
        }
        swarm.listen_on(addr::socket_multiaddr(config.listen)).map_err(|e| listen_err(e.to_string()))?;
        let port = tokio::time::timeout(LISTEN_TIMEOUT, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::NewListenAddr { address, .. } => match addr::multiaddr_socket(&address) {
                        Some(sock) => return Ok(sock.port()),
                        None => continue,
                    },
                    SwarmEvent::ListenerClosed { reason: Err(e), .. } => {
                        return Err(listen_err(e.to_string()));
                    }
                    SwarmEvent::ListenerError { error, .. } => return Err(listen_err(error.to_string())),
                    _ => continue,
                }
            }
        })
        .await
        .map_err(|_| listen_err("the listener did not come up in time".into()))??;
        let local_addr = SocketAddr::new(config.listen.ip(), port);

        let (cmd_tx, cmd_rx) = mpsc::channel(config.command_queue);
        let (lanes, event_rx) =
            NetEvents::new(config.event_queue, config.event_queue_bytes, config.tx_event_queue_bytes);
        let stats = Arc::new(NetStats::default());
        let now = Instant::now();
        let bootstrap = config
            .bootstrap
            .iter()
            .filter(|b| b.key != Some(local_key) && b.addr != local_addr)
            .map(|b| Bootstrap {
                addr: *b,
                peer: None,
                dialing: None,
                next_dial: now,
                backoff: config.redial_initial,
                found: None,
                found_refused: false,
            })
            .collect();
        let task = Task {
            swarm,
            config: config.clone(),
            topics,
            commands: cmd_tx.downgrade(),
            events: lanes,
            stats: stats.clone(),
            book: PeerBook::new(config.ban_duration),
            pending: HashMap::new(),
            bootstrap,
            is_self: Vec::new(),
            gossip_punished: HashMap::new(),
            tx_batch: TxBatch::default(),
            outbox: HashMap::new(),
            backlog: std::collections::VecDeque::new(),
            in_flight: HashMap::new(),
            rate: RateLimiter::new(config.max_peer_msgs_per_sec),
            filter,
            peers: peers::PeerIdentities::new(&config.chain_id),
        };
        tokio::spawn(task.run(cmd_rx));
        let handle = NetworkHandle {
            inner: Arc::new(HandleInner { commands: cmd_tx, local_addr, local_key, config, stats }),
        };
        Ok((handle, event_rx))
    }
}

fn build_swarm(
    identity: libp2p::identity::Keypair,
    config: &P2pConfig,
) -> Result<Swarm<Behaviour>, P2pError> {
    let setup = |e: &dyn std::fmt::Display| P2pError::Setup(e.to_string());
    let chain = &config.chain_id;
    let signed = gossip_config(config, GossipMode::Signed)?;
    let anonymous = gossip_config(config, GossipMode::Anonymous)?;
    let direct_protocol =
        StreamProtocol::try_from_owned(format!("/cairn/{chain}/direct/1")).map_err(|e| setup(&e))?;
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established_per_peer(Some(2))
        .with_max_established(Some(
            u32::try_from((config.max_peers + config.reserved_peers).saturating_mul(2)).unwrap_or(u32::MAX),
        ))
        .with_max_pending_incoming(Some(64))
        .with_max_pending_outgoing(Some(64));
    let request_timeout = config.request_timeout;
    let max_message = config.max_message_bytes;
    let ping_interval = config.ping_interval;
    let dial_timeout = config.dial_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_behaviour(|key| {
            let mut gossip = gossipsub::Behaviour::new_with_subscription_filter(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                signed.0,
                signed.1.clone(),
            )?;
            gossip.with_peer_score(gossip_scoring(&signed.1.0), GOSSIP_THRESHOLDS)?;
            let mut tx_gossip = gossipsub::Behaviour::new_with_subscription_filter(
                gossipsub::MessageAuthenticity::Anonymous,
                anonymous.0,
                anonymous.1.clone(),
            )?;
            tx_gossip.with_peer_score(gossip_scoring(&anonymous.1.0), GOSSIP_THRESHOLDS)?;
            Ok(Behaviour {
                blocked: Default::default(),
                limits: connection_limits::Behaviour::new(limits),
                identify: identify::Behaviour::new(
                    identify::Config::new(protocol_version(config), key.public()).with_agent_version(
                        Binding::agent_version(
                            config.binding.as_ref(),
                            &format!("cairn/{}", env!("CARGO_PKG_VERSION")),
                        ),
                    ),
                ),
                ping: ping::Behaviour::new(
                    ping::Config::new()
                        .with_interval(ping_interval)
                        .with_timeout(ping_interval.saturating_mul(2)),
                ),
                gossip,
                tx_gossip,
                direct: request_response::Behaviour::with_codec(
                    FrameCodec { max_payload: max_message },
                    [(direct_protocol, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(256),
                ),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(Duration::from_secs(24 * 3600))
                .with_substream_upgrade_protocol_override(libp2p::core::upgrade::Version::V1Lazy)
        })
        // A dial into a black hole (a partitioned link) must fail soon, or redial waits behind it.
        .with_connection_timeout(dial_timeout)
        .build();
    Ok(swarm)
}

/// Gossipsub's own peer scoring, used only to see invalid gossip (bad signature, over the topic's size limit,
/// undecodable): such a message costs its relayer `INVALID_GOSSIP_WEIGHT` (squared per extra message), and
/// [`Task::check_gossip_scores`] turns a score at or below [`GOSSIP_SCORE_FLOOR`] into an offence. Delivery-rate
/// and mesh-time terms are off: on a quiet chain an honest peer delivers nothing, and on loopback every peer
/// shares one IP, so the IP-colocation term is off too.
fn gossip_scoring(topics: &std::collections::HashSet<gossipsub::TopicHash>) -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams { ip_colocation_factor_weight: 0.0, ..Default::default() };
    for hash in topics {
        let topic = gossipsub::TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: 0.0,
            first_message_deliveries_weight: 0.0,
            mesh_message_deliveries_weight: 0.0,
            mesh_failure_penalty_weight: 0.0,
            invalid_message_deliveries_weight: INVALID_GOSSIP_WEIGHT,
            invalid_message_deliveries_decay: 0.5,
            ..Default::default()
        };
        params.topics.insert(hash.clone(), topic);
    }
    params
}

const GOSSIP_THRESHOLDS: gossipsub::PeerScoreThresholds = gossipsub::PeerScoreThresholds {
    gossip_threshold: -10.0,
    publish_threshold: -50.0,
    graylist_threshold: -80.0,
    accept_px_threshold: 10.0,
    opportunistic_graft_threshold: 5.0,
};

/// gossipsub reads messages up to this many times our own limit: one between our limit and that reaches
/// `judge_gossip`, which drops it without blame (a peer whose limits are larger than ours, not an attacker);
/// beyond it gossipsub refuses it unread and counts it invalid (an offence).
const MISMATCH_TOLERANCE: usize = 2;

/// Penalty for one invalid gossip message.
const INVALID_GOSSIP_WEIGHT: f64 = -100.0;
/// A gossipsub score at or below this is an offence (one invalid message reaches it).
const GOSSIP_SCORE_FLOOR: f64 = -100.0;

/// Identify's protocol version carries the chain id: a peer of another chain is told apart at connect time.
fn protocol_version(config: &P2pConfig) -> String {
    format!("/cairn/{}/1", config.chain_id)
}

/// One gossipsub instance's settings: the topics of `mode` (see [`GossipMode`]), each with its size limit. The
/// anonymous instance speaks a protocol id of its own, so the two never take each other's streams.
fn gossip_config(
    config: &P2pConfig,
    mode: GossipMode,
) -> Result<(gossipsub::Config, gossipsub::WhitelistSubscriptionFilter), P2pError> {
    let mut b = gossipsub::ConfigBuilder::default();
    let mut allowed = std::collections::HashSet::new();
    for topic in Topic::ALL.into_iter().filter(|t| GossipMode::of(*t) == mode) {
        let hash = gossipsub::IdentTopic::new(topic.topic_string(&config.chain_id)).hash();
        b.max_transmit_size_for_topic(
            MISMATCH_TOLERANCE * config.wire_limit(topic) + GOSSIP_ENVELOPE,
            hash.clone(),
        );
        allowed.insert(hash);
    }
    match mode {
        GossipMode::Signed => {
            let bindings = relay::topic(&config.chain_id).hash();
            b.max_transmit_size_for_topic(relay::BINDING_MAX_BYTES + GOSSIP_ENVELOPE, bindings.clone());
            allowed.insert(bindings);
            b.validation_mode(gossipsub::ValidationMode::Strict);
        }
        GossipMode::Anonymous => {
            b.protocol_id_prefix(format!("/cairn/{}/txgossip", config.chain_id));
            b.validation_mode(gossipsub::ValidationMode::Anonymous);
        }
    }
    b.max_transmit_size(MISMATCH_TOLERANCE * config.max_message_bytes + GOSSIP_ENVELOPE)
        // Nothing is forwarded until `on_gossip` reports a verdict (validate before forwarding).
        .validate_messages()
        // Publish to every subscribed peer at once, not just the mesh: one hop to everyone on small networks.
        .flood_publish(true)
        .heartbeat_interval(config.heartbeat)
        .heartbeat_initial_delay(config.heartbeat)
        // Sane for 4..100 peers: a full mesh up to 6, never more than 12.
        .mesh_n(6)
        .mesh_n_low(4)
        .mesh_n_high(12)
        .mesh_outbound_min(2)
        .gossip_lazy(6)
        .history_length(5)
        .history_gossip(3)
        .duplicate_cache_time(config.dedup_window)
        // A peer that restarts is grafted again soon (the default minute is for big public networks).
        .prune_backoff(Duration::from_secs(5))
        .unsubscribe_backoff(Duration::from_secs(2))
        // Content addressing: the same bytes on the same topic are one message, whoever relays them.
        .message_id_fn(|m: &gossipsub::Message| {
            let mut h = blake3::Hasher::new();
            h.update(m.topic.as_str().as_bytes());
            h.update(&[0]);
            h.update(&m.data);
            gossipsub::MessageId::from(h.finalize().as_bytes().to_vec())
        });
    let built = b.build().map_err(|e| P2pError::Setup(format!("gossipsub config: {e}")))?;
    Ok((built, gossipsub::WhitelistSubscriptionFilter(allowed)))
}

#[derive(Debug)]
struct HandleInner {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
    local_key: PublicKey,
    config: P2pConfig,
    stats: Arc<NetStats>,
}

/// Talks to the network task. Cheap to clone; the task stops on [`NetworkHandle::shutdown`] or when every
/// handle (and every unanswered [`ResponseHandle`]) is dropped.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    inner: Arc<HandleInner>,
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

    /// A request to a connected peer, answered through its [`NetEvent::Request`]'s [`ResponseHandle`].
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

    /// Connected peers the node was told of ([`NetEvent::PeerConnected`]), by identity: a validator key for a
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

/// Direct streams one peer may have open to another at once, per kind. The receiver refuses streams beyond
/// its per-connection limit (256) without telling anyone, so a burst must queue here instead.
const MAX_IN_FLIGHT: usize = 64;
/// Connection events held while the node's event queue is full.
const MAX_BACKLOG: usize = 1024;
/// One-way messages queued per peer behind the window; beyond it `send` answers [`P2pError::Busy`].
const MAX_QUEUED: usize = 8192;

/// The sending side of the direct protocol towards one peer.
#[derive(Debug, Default)]
struct PeerOut {
    one_way_in_flight: usize,
    requests_in_flight: usize,
    queue: std::collections::VecDeque<Vec<u8>>,
}

/// A bootstrap peer and its redial state.
struct Bootstrap {
    addr: PeerAddr,
    /// The peer id seen there (known up front when the address pins a key).
    peer: Option<PeerId>,
    dialing: Option<ConnectionId>,
    next_dial: Instant,
    backoff: Duration,
    /// The peer found at the address when the pinned key was not its p2p key. A node that moved to a separate
    /// p2p key is still pinned by its validator key in old bootstrap lists, so the pin also holds for a peer
    /// whose binding proves that key: the found peer is dialled and kept only if it does (`peers.rs`).
    found: Option<PeerId>,
    /// The found peer did not prove the pinned key: only the pinned key is dialled from then on.
    found_refused: bool,
}

struct Task {
    swarm: Swarm<Behaviour>,
    config: P2pConfig,
    topics: HashMap<gossipsub::TopicHash, Topic>,
    /// Weak, so the task ends when the last outside sender is gone.
    commands: mpsc::WeakSender<Command>,
    events: Lanes,
    stats: Arc<NetStats>,
    book: PeerBook,
    pending: HashMap<request_response::OutboundRequestId, oneshot::Sender<Result<Vec<u8>, P2pError>>>,
    bootstrap: Vec<Bootstrap>,
    /// Bootstrap addresses that turned out to be ourselves.
    is_self: Vec<SocketAddr>,
    /// Gossip score at which each peer was last punished, so one bad message is punished once.
    gossip_punished: HashMap<PeerId, f64>,
    /// Txs waiting to be gossiped together.
    tx_batch: TxBatch,
    /// Per-peer windows of direct streams.
    outbox: HashMap<PeerId, PeerOut>,
    /// Connection events waiting for room in the event queue.
    backlog: std::collections::VecDeque<NetEvent>,
    /// Direct streams in flight: whose, and whether one-way.
    in_flight: HashMap<request_response::OutboundRequestId, (PeerId, bool)>,
    rate: RateLimiter,
    /// Whether gossip is worth forwarding (asked before gossipsub forwards anything).
    filter: Arc<dyn GossipFilter>,
    /// Who each connected peer is (its p2p key, or the validator it proved to speak for).
    peers: peers::PeerIdentities,
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let period = self.config.redial_initial.min(Duration::from_millis(100));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A second handle on the main lane, so waiting for room does not borrow `self`.
        let events = self.events.main.clone();
        let done = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break None,
                    Some(Command::Shutdown(done)) => break Some(done),
                    Some(cmd) => self.on_command(cmd),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.maintain(),
                _ = sleep_until(self.tx_batch.deadline) => self.flush_txs(),
                permit = events.reserve(), if !self.backlog.is_empty() => {
                    if let (Ok(permit), Some(event)) = (permit, self.backlog.pop_front()) {
                        permit.send(event);
                    }
                }
            }
        };
        let Task { swarm, pending, .. } = self;
        drop(pending);
        // Dropping the swarm closes the listener and every connection before we confirm.
        drop(swarm);
        tracing::debug!("p2p network stopped");
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Whether `peer` is within its message rate; counts the drop when it is not.
    fn admit(&mut self, peer: PeerId) -> bool {
        let ok = self.rate.allow(peer, Instant::now());
        if !ok {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    fn emit(&mut self, event: NetEvent) {
        // Messages are dropped and counted when the node falls behind: a slow node must not stall pings,
        // gossip forwarding and every other peer. Connection changes are few and the node's view of its
        // peers depends on every one of them, so they wait in a small backlog instead.
        let is_connection = matches!(event, NetEvent::PeerConnected(_) | NetEvent::PeerDisconnected(_));
        if is_connection && !self.backlog.is_empty() {
            self.defer(event);
            return;
        }
        if is_connection {
            if let Err(Refused::Full(event)) = self.events.main.try_send(event) {
                self.defer(event);
            }
            return;
        }
        let _ = self.events.emit(event, &self.stats);
    }

    fn defer(&mut self, event: NetEvent) {
        if self.backlog.len() < MAX_BACKLOG {
            self.backlog.push_back(event);
        } else {
            self.stats.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Publishes the peer book's scores to [`NetStats`].
    fn publish_scores(&self, now: Instant) {
        let scores: BTreeMap<PublicKey, i64> = self
            .book
            .scores(now)
            .into_iter()
            .filter_map(|(peer, score)| self.peers.identity(&peer).map(|pk| (pk, score)))
            .collect();
        *self.stats.scores.lock().unwrap_or_else(|p| p.into_inner()) = scores;
    }

    /// A direct-protocol violation: punished, or (a frame over our limit only) dropped and counted.
    fn violation(&mut self, peer: PeerId, v: &Violation) {
        match classify(v) {
            Some((offence, why)) => self.punish(peer, offence, &why),
            None => {
                self.stats.oversized_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, violation = %v, "dropping a frame over our limit (the peer's may be larger)");
            }
        }
    }

    fn punish(&mut self, peer: PeerId, offence: Offence, why: &str) {
        self.stats.offences.fetch_add(1, Ordering::Relaxed);
        let verdict = self.book.offence(peer, offence, Instant::now());
        self.publish_scores(Instant::now());
        match verdict {
            Verdict::Disconnect => {
                tracing::warn!(%peer, ?offence, why, "disconnecting misbehaving peer");
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Verdict::Ban(_) => {
                tracing::warn!(%peer, ?offence, why, ban = ?self.config.ban_duration, "banning peer");
                self.stats.bans.fetch_add(1, Ordering::Relaxed);
                // Blocking closes existing connections and refuses new ones in both directions.
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                self.swarm.behaviour_mut().gossip.blacklist_peer(&peer);
                self.swarm.behaviour_mut().tx_gossip.blacklist_peer(&peer);
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Broadcast { topic: Topic::Txs, data, reply } => {
                let _ = reply.send(self.queue_tx(data));
            }
            Command::Broadcast { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::Send { to, data, reply } => {
                let result = self.connected_peer(to).and_then(|peer| self.send_one_way(peer, data));
                let _ = reply.send(result);
            }
            Command::Request { to, data, reply } => {
                if self.pending.len() >= self.config.max_pending_requests {
                    let _ = reply.send(Err(P2pError::Busy(self.config.max_pending_requests)));
                    return;
                }
                let peer = match self.connected_peer(to) {
                    Ok(peer) => peer,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return;
                    }
                };
                let out = self.outbox.entry(peer).or_default();
                if out.requests_in_flight >= MAX_IN_FLIGHT {
                    let _ = reply.send(Err(P2pError::Busy(MAX_IN_FLIGHT)));
                    return;
                }
                out.requests_in_flight += 1;
                let id = self.swarm.behaviour_mut().direct.send_request(&peer, Frame::Request(data));
                self.in_flight.insert(id, (peer, false));
                self.pending.insert(id, reply);
            }
            Command::Respond { channel, data } => {
                // Err means the peer is gone or its request timed out: nobody to tell.
                let _ = self.swarm.behaviour_mut().direct.send_response(channel, data);
            }
            Command::Peers(reply) => {
                // Announced peers only: one still identifying may yet be refused a slot.
                let peers = self.peers.announced().collect();
                let _ = reply.send(peers);
            }
            Command::GossipPeers(topic, reply) => {
                let hash = gossipsub::IdentTopic::new(topic.topic_string(&self.config.chain_id)).hash();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossip_ref(GossipMode::of(topic))
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .filter_map(|(p, _)| self.peers.identity(p))
                    .collect();
                let _ = reply.send(peers);
            }
            Command::ReportBad { peer, reason } => {
                if let Ok(id) = self.peers.resolve(&peer) {
                    self.punish(id, Offence::Reported, &reason);
                }
            }
            Command::IsBanned(peer, reply) => {
                let banned =
                    self.peers.resolve(&peer).is_ok_and(|id| self.book.is_banned(&id, Instant::now()));
                let _ = reply.send(banned);
            }
            // Only tx batches wait for the node's verdict.
            Command::Validated { id, source, verdict } => {
                self.report_gossip(GossipMode::Anonymous, &id, &source, verdict)
            }
            Command::Shutdown(_) => {}
        }
    }

    fn connected_peer(&self, to: PublicKey) -> Result<PeerId, P2pError> {
        let peer = self.peers.resolve(&to)?;
        if self.swarm.is_connected(&peer) { Ok(peer) } else { Err(P2pError::NotConnected(to)) }
    }

    /// Sends a one-way message now if the peer's window has room, else queues it behind the window.
    fn send_one_way(&mut self, peer: PeerId, data: Vec<u8>) -> Result<(), P2pError> {
        let out = self.outbox.entry(peer).or_default();
        if out.one_way_in_flight < MAX_IN_FLIGHT && out.queue.is_empty() {
            out.one_way_in_flight += 1;
            let id = self.swarm.behaviour_mut().direct.send_request(&peer, Frame::OneWay(data));
            self.in_flight.insert(id, (peer, true));
            Ok(())
        } else if out.queue.len() < MAX_QUEUED {
            out.queue.push_back(data);
            Ok(())
        } else {
            Err(P2pError::Busy(MAX_QUEUED))
        }
    }

    /// A direct stream finished (answered or failed): frees its slot in the window and sends what waited.
    fn release(&mut self, id: request_response::OutboundRequestId) {
        let Some((peer, one_way)) = self.in_flight.remove(&id) else { return };
        let Some(out) = self.outbox.get_mut(&peer) else { return };
        if one_way {
            out.one_way_in_flight = out.one_way_in_flight.saturating_sub(1);
        } else {
            out.requests_in_flight = out.requests_in_flight.saturating_sub(1);
        }
        while out.one_way_in_flight < MAX_IN_FLIGHT {
            let Some(data) = out.queue.pop_front() else { break };
            out.one_way_in_flight += 1;
            let id = self.swarm.behaviour_mut().direct.send_request(&peer, Frame::OneWay(data));
            self.in_flight.insert(id, (peer, true));
        }
    }

    /// Adds a tx to the pending batch, sending the batch when it is full (or at once with no batch delay).
    fn queue_tx(&mut self, data: Vec<u8>) -> Result<(), P2pError> {
        let max = self.config.topic_limit(Topic::Txs);
        if data.len() > max {
            return Err(P2pError::TooLarge { len: data.len(), max });
        }
        let target = self.config.tx_batch_bytes.min(self.config.wire_limit(Topic::Txs));
        if !self.tx_batch.is_empty() && self.tx_batch.size_with(data.len()) > target {
            self.flush_txs();
        }
        self.tx_batch.push(&data, Instant::now() + self.config.tx_batch_delay);
        if self.tx_batch.len_bytes() >= target || self.config.tx_batch_delay.is_zero() {
            self.flush_txs();
        }
        Ok(())
    }

    fn flush_txs(&mut self) {
        if self.tx_batch.is_empty() {
            return;
        }
        let wire = self.tx_batch.take();
        if let Err(e) = self.publish(Topic::Txs, wire) {
            self.stats.broadcasts_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "tx batch not gossiped");
        }
    }

    fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
        let len = data.len();
        let t = gossipsub::IdentTopic::new(topic.topic_string(&self.config.chain_id));
        match self.swarm.behaviour_mut().gossip_mut(GossipMode::of(topic)).publish(t, data) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => Ok(()),
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                self.stats.broadcasts_without_peers.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(gossipsub::PublishError::MessageTooLarge) => {
                Err(P2pError::TooLarge { len, max: self.config.wire_limit(topic) })
            }
            Err(gossipsub::PublishError::AllQueuesFull(n)) => {
                Err(P2pError::Publish(format!("the send queues of all {n} peers are full")))
            }
            Err(e) => Err(P2pError::Publish(e.to_string())),
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(e)) => self.on_gossip(GossipMode::Signed, e),
            SwarmEvent::Behaviour(BehaviourEvent::TxGossip(e)) => self.on_gossip(GossipMode::Anonymous, e),
            SwarmEvent::Behaviour(BehaviourEvent::Direct(e)) => self.on_direct(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identify(peer_id, &info),
            // libp2p's ping only reports; a link that went silent (partition, dead host without a FIN) is
            // ours to close, so the peer is seen as gone and redialled.
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, connection, result: Err(e) }))
                if !matches!(e, ping::Failure::Unsupported) =>
            {
                tracing::debug!(%peer, error = %e, "ping failed; closing the connection");
                self.swarm.close_connection(connection);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, connection_id, num_established, endpoint, ..
            } => {
                self.on_connected(peer_id, connection_id, num_established.get(), &endpoint);
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                // What waited for this peer is lost with the connection (consensus re-sends on its timers);
                // streams still in flight fail on their own, and must not count against a new connection.
                if let Some(out) = self.outbox.remove(&peer_id) {
                    self.stats.sends_dropped.fetch_add(out.queue.len() as u64, Ordering::Relaxed);
                }
                self.in_flight.retain(|_, (p, _)| *p != peer_id);
                let now = Instant::now();
                for b in self.bootstrap.iter_mut().filter(|b| b.peer == Some(peer_id)) {
                    b.next_dial = now + self.config.redial_initial;
                }
                self.on_last_disconnection(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
                let mut wrong_key = None;
                if let libp2p::swarm::DialError::WrongPeerId { obtained, address } = &error {
                    // Either a misconfiguration or a node that moved to a separate p2p key while its peers still
                    // pin its validator key: say so, and try the key found there, kept only if its binding
                    // proves the pinned key.
                    let found =
                        public_key_of(obtained).map(|k| k.to_hex()).unwrap_or_else(|| obtained.to_string());
                    tracing::warn!(%address, found, "bootstrap peer answered with another p2p key than pinned \
                        (if it proves the pinned key as its validator key it is kept; update the entry to \
                        FOUND@address)");
                    wrong_key = Some(*obtained);
                } else {
                    tracing::debug!(?peer_id, %error, "dial failed");
                }
                let now = Instant::now();
                let max = self.config.redial_max;
                for b in self.bootstrap.iter_mut().filter(|b| b.dialing == Some(connection_id)) {
                    b.dialing = None;
                    if let Some(found) = wrong_key
                        && !b.found_refused
                    {
                        // The first time at once; a found peer that changed key again waits its backoff.
                        let first = b.found.replace(found).is_none();
                        if first {
                            b.next_dial = now;
                            continue;
                        }
                    }
                    if matches!(error, libp2p::swarm::DialError::LocalPeerId { .. }) {
                        self.is_self.push(b.addr.addr);
                    }
                    b.next_dial = now + b.backoff;
                    b.backoff = (b.backoff * 2).min(max);
                }
                let mine = &self.is_self;
                self.bootstrap.retain(|b| !mine.contains(&b.addr.addr));
            }
            SwarmEvent::NewListenAddr { address, .. } => tracing::info!(%address, "p2p listening"),
            _ => {}
        }
    }

    fn on_connected(&mut self, peer: PeerId, connection: ConnectionId, num: u32, endpoint: &ConnectedPoint) {
        let Some(pk) = public_key_of(&peer) else {
            tracing::warn!(%peer, "not an ed25519 identity; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        };
        let remote = match endpoint {
            ConnectedPoint::Dialer { address, .. } => addr::multiaddr_socket(address),
            ConnectedPoint::Listener { .. } => None,
        };
        for b in &mut self.bootstrap {
            let ours = b.dialing == Some(connection)
                || b.addr.key == Some(pk)
                || b.found == Some(peer)
                || (b.addr.key.is_none() && remote == Some(b.addr.addr));
            if ours {
                b.peer = Some(peer);
                b.backoff = self.config.redial_initial;
                if b.dialing == Some(connection) {
                    b.dialing = None;
                }
            }
        }
        if num == 1 {
            // Whether it gets a slot, and under which key the node hears of it, waits for identify (`peers.rs`):
            // a validator's reserved slot depends on the binding it presents there.
            self.on_first_connection(peer);
        }
    }

    fn on_gossip(&mut self, mode: GossipMode, event: gossipsub::Event) {
        let gossipsub::Event::Message { propagation_source, message_id, message } = event else {
            return;
        };
        if mode == GossipMode::Signed && message.topic == self.peers.relayed.hash {
            let verdict = self.on_binding_gossip(&message);
            self.validated(mode, &message_id, &propagation_source, verdict);
            return;
        }
        if let Some(verdict) = self.judge_gossip(mode, propagation_source, &message_id, message) {
            self.report_gossip(mode, &message_id, &propagation_source, verdict);
        }
    }

    /// Tells gossipsub whether to forward a message (and whether its relayer did wrong).
    fn report_gossip(
        &mut self,
        mode: GossipMode,
        id: &gossipsub::MessageId,
        source: &PeerId,
        verdict: GossipVerdict,
    ) {
        if verdict != GossipVerdict::Accept {
            self.stats.gossip_not_forwarded.fetch_add(1, Ordering::Relaxed);
        }
        self.validated(mode, id, source, verdict);
    }

    /// Hands gossipsub the verdict (uncounted: bindings are the network's own business, not the node's gossip).
    fn validated(
        &mut self,
        mode: GossipMode,
        id: &gossipsub::MessageId,
        source: &PeerId,
        verdict: GossipVerdict,
    ) {
        let acceptance = match verdict {
            GossipVerdict::Accept => gossipsub::MessageAcceptance::Accept,
            GossipVerdict::Ignore => gossipsub::MessageAcceptance::Ignore,
            GossipVerdict::Reject => gossipsub::MessageAcceptance::Reject,
        };
        self.swarm.behaviour_mut().gossip_mut(mode).report_message_validation_result(id, source, acceptance);
    }

    /// Checks one gossip message, hands it to the node if it is good, and says whether to forward it — or `None`
    /// when the node decides later (a tx batch it validates itself: [`crate::TxVerdict`]).
    fn judge_gossip(
        &mut self,
        mode: GossipMode,
        propagation_source: PeerId,
        message_id: &gossipsub::MessageId,
        message: gossipsub::Message,
    ) -> Option<GossipVerdict> {
        let Some(&topic) = self.topics.get(&message.topic).filter(|t| GossipMode::of(**t) == mode) else {
            // The subscription filter means we never subscribed to this; a peer pushing it is off-protocol.
            self.punish(propagation_source, Offence::Malformed, "gossip on a topic we do not serve");
            return Some(GossipVerdict::Reject);
        };
        // Signed gossip goes by its author (gossipsub checked the signature), anonymous tx batches by the peer that
        // relayed them: a peer forwards a batch only after validating it, so what it relays is its own doing.
        let author = match mode {
            GossipMode::Signed => message.source,
            GossipMode::Anonymous => Some(propagation_source),
        };
        // The author goes by its proven validator key when it is a peer of ours that presented a binding.
        let Some((author, from)) = author.and_then(|a| self.peers.identity(&a).map(|from| (a, from))) else {
            self.punish(propagation_source, Offence::Malformed, "gossip without an ed25519 author");
            return Some(GossipVerdict::Reject);
        };
        let max = self.config.wire_limit(topic);
        if message.data.len() > max {
            // Within what gossipsub let through, so under the ceiling: perhaps a peer with larger limits than
            // ours. Not forwarded, no blame.
            self.stats.oversized_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                len = message.data.len(),
                max,
                topic = topic.name(),
                "dropping gossip over our limit"
            );
            return Some(GossipVerdict::Ignore);
        }
        if !self.admit(author) {
            return Some(GossipVerdict::Ignore);
        }
        let txs = if topic == Topic::Txs {
            match batch::unpack(&message.data) {
                Ok(txs) => Some(txs),
                // Unsigned, so the relayer is at fault: an honest one never forwards a batch that does not parse.
                Err(e) => {
                    self.punish(propagation_source, Offence::Malformed, &format!("tx batch: {e}"));
                    return Some(GossipVerdict::Reject);
                }
            }
        } else {
            None
        };
        let verdict = self.filter.check(topic, &from, &message.data);
        if verdict != GossipVerdict::Accept {
            return Some(verdict);
        }
        match txs {
            Some(txs) if self.filter.validates_txs() => {
                let verdict = TxVerdict::new(message_id.clone(), propagation_source, self.commands.clone());
                // Dropped with a full lane, the verdict reports Ignore itself.
                self.emit(NetEvent::TxBatch { from, txs, verdict });
                return None;
            }
            Some(txs) => {
                for data in txs {
                    self.emit(NetEvent::Gossip { from, topic, data });
                }
            }
            None => self.emit(NetEvent::Gossip { from, topic, data: message.data }),
        }
        Some(GossipVerdict::Accept)
    }

    fn on_direct(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        use request_response::{Event, InboundFailure, Message, OutboundFailure};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let Some(from) = self.peers.identity(&peer) else { return };
                if !matches!(request, Frame::Invalid(_)) && !self.admit(peer) {
                    // Dropping the channel fails the peer's request; a one-way message gets no receipt.
                    return;
                }
                match request {
                    Frame::OneWay(data) => {
                        // The empty answer is the delivery receipt that closes the stream.
                        let _ = self.swarm.behaviour_mut().direct.send_response(channel, Vec::new());
                        self.emit(NetEvent::Direct { from, data });
                    }
                    Frame::Request(data) => match self.commands.upgrade() {
                        Some(commands) => {
                            let reply =
                                ResponseHandle { channel, commands, max: self.config.max_message_bytes };
                            self.emit(NetEvent::Request { from, data, reply });
                        }
                        None => drop(channel),
                    },
                    Frame::Invalid(v) => {
                        drop(channel);
                        self.violation(peer, &v);
                    }
                }
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                self.release(request_id);
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                self.release(request_id);
                if let OutboundFailure::Io(e) = &error
                    && let Some(v) = violation_of(e)
                {
                    self.violation(peer, v);
                }
                if let Some(reply) = self.pending.remove(&request_id) {
                    let pk = self.peers.identity(&peer).unwrap_or_default();
                    let _ = reply.send(Err(P2pError::RequestFailed { peer: pk, reason: error.to_string() }));
                } else {
                    tracing::debug!(%peer, %error, "direct message not delivered");
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                if let InboundFailure::Io(e) = &error
                    && let Some(v) = violation_of(e)
                {
                    self.violation(peer, v);
                } else {
                    tracing::debug!(%peer, %error, "inbound direct message failed");
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// Periodic work: redial lost bootstrap peers, lift expired bans, forget abandoned requests.
    fn maintain(&mut self) {
        let now = Instant::now();
        for peer in self.book.expire(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            self.swarm.behaviour_mut().gossip.remove_blacklisted_peer(&peer);
            self.swarm.behaviour_mut().tx_gossip.remove_blacklisted_peer(&peer);
        }
        self.publish_scores(now);
        let (main, txs) = self.events.queued_bytes();
        self.stats.queued_main_bytes.store(main as u64, Ordering::Relaxed);
        self.stats.queued_tx_bytes.store(txs as u64, Ordering::Relaxed);
        self.pending.retain(|_, reply| !reply.is_closed());
        self.check_gossip_scores();
        self.rate.forget_full(now);
        self.announce_overdue(now);
        self.republish_binding(now);
        for i in 0..self.bootstrap.len() {
            let Some(b) = self.bootstrap.get(i) else { continue };
            let connected = b.peer.is_some_and(|p| self.swarm.is_connected(&p));
            if connected || b.dialing.is_some() || b.next_dial > now {
                continue;
            }
            let target = b.addr;
            let pinned = b.found.or_else(|| target.key.and_then(|k| peer_id_of(&k).ok()));
            if pinned.is_some_and(|p| self.book.is_banned(&p, now)) {
                continue;
            }
            let opts = match pinned {
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![addr::socket_multiaddr(target.addr)])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
                None => DialOpts::unknown_peer_id().address(addr::socket_multiaddr(target.addr)).build(),
            };
            let id = opts.connection_id();
            let backoff_max = self.config.redial_max;
            let dialed = self.swarm.dial(opts);
            if let Some(b) = self.bootstrap.get_mut(i) {
                match dialed {
                    Ok(()) => b.dialing = Some(id),
                    Err(e) => {
                        tracing::debug!(addr = %target, error = %e, "cannot dial bootstrap peer");
                        b.next_dial = now + b.backoff;
                        b.backoff = (b.backoff * 2).min(backoff_max);
                    }
                }
            }
        }
    }
}

impl Task {
    /// Turns invalid gossip (seen by gossipsub's scoring) into offences: a peer is punished when its score
    /// falls to the floor, and again only if it falls further by another invalid message.
    fn check_gossip_scores(&mut self) {
        let behaviour = self.swarm.behaviour();
        let mut offenders = Vec::new();
        for peer in self.swarm.connected_peers() {
            let Some(score) = behaviour.gossip_score(peer) else { continue };
            if score > GOSSIP_SCORE_FLOOR {
                continue;
            }
            let worse =
                self.gossip_punished.get(peer).is_none_or(|last| score < last + INVALID_GOSSIP_WEIGHT / 2.0);
            if worse {
                offenders.push((*peer, score));
            }
        }
        let Task { swarm, gossip_punished, .. } = self;
        gossip_punished
            .retain(|p, _| swarm.behaviour().gossip_score(p).is_some_and(|s| s <= GOSSIP_SCORE_FLOOR));
        for (peer, score) in offenders {
            self.gossip_punished.insert(peer, score);
            self.punish(peer, Offence::Malformed, &format!("invalid gossip (gossipsub score {score:.0})"));
        }
    }
}

/// The offence behind a protocol violation, if it is one: a frame over our limit but under the protocol ceiling
/// may come from a peer whose limits are larger (dropped without blame, counted in `oversized_dropped`).
fn classify(v: &Violation) -> Option<(Offence, String)> {
    match v {
        Violation::Oversized { len, .. } if *len <= MAX_MESSAGE_CEILING => None,
        Violation::Oversized { .. } => Some((Offence::Oversized, v.to_string())),
        Violation::Malformed(_) => Some((Offence::Malformed, v.to_string())),
    }
}
