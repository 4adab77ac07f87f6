//! The network task: one libp2p swarm driven by one tokio task, talked to through a bounded command queue
//! ([`NetworkHandle`]) and talking back through a bounded event queue ([`NetEvent`]).
//!
//! Split by concern: the handle and its commands (`handle.rs`), the libp2p stack and gossipsub settings
//! (`swarm.rs`), gossip in and out (`gossip.rs`), the direct protocol (`direct.rs`), who each peer is
//! (`peers.rs`) and relayed validator bindings (`relay.rs`); this file holds the task's state, its loop,
//! connections, bootstrap redial and punishment.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_primitives::{Keypair, PublicKey};
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{PeerId, Swarm, gossipsub, identify, ping, request_response};
use tokio::sync::{mpsc, oneshot};

use crate::batch::TxBatch;
use crate::codec::Frame;
use crate::events::{Lanes, NetEvent, NetEvents, Refused};
use crate::filter::{AcceptAll, GossipFilter};
use crate::identity::{libp2p_keypair, peer_id_of, public_key_of};
use crate::rate::RateLimiter;
use crate::score::{Offence, PeerBook, Verdict};
use crate::{P2pConfig, P2pError, PeerAddr, Topic, addr};

mod direct;
mod gossip;
mod handle;
mod peers;
mod relay;
mod swarm;

use direct::{MAX_IN_FLIGHT, PeerOut};
pub(crate) use handle::Command;
use handle::HandleInner;
pub use handle::{NetStats, NetworkHandle};
use swarm::{Behaviour, BehaviourEvent, GossipMode, build_swarm, protocol_version};

/// How long `start` waits for the listen socket to come up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(5);

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

/// Connection events held while the node's event queue is full.
const MAX_BACKLOG: usize = 1024;

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
