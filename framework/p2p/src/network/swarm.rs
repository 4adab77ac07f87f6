//! The libp2p stack of one node: its behaviours, the two gossipsub instances and their settings, and how
//! gossipsub's peer score is used.

use std::time::Duration;

use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, gossipsub, identify, noise, ping,
    request_response, tcp, yamux,
};

use super::relay;
use crate::binding::Binding;
use crate::codec::FrameCodec;
use crate::{P2pConfig, P2pError, Topic};

/// Bytes a gossipsub envelope adds around the payload (topic, seqno, source, key, signature, protobuf tags).
pub(super) const GOSSIP_ENVELOPE: usize = 1024;

pub(super) type Gossip =
    gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::WhitelistSubscriptionFilter>;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    /// Consensus, blocks and bindings: signed by their author, whose identity the node judges them by.
    pub gossip: Gossip,
    /// Tx batches: unsigned (see [`GossipMode`]).
    pub tx_gossip: Gossip,
    pub direct: request_response::Behaviour<FrameCodec>,
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
pub(super) enum GossipMode {
    Signed,
    Anonymous,
}

impl GossipMode {
    pub fn of(topic: Topic) -> GossipMode {
        if topic == Topic::Txs { GossipMode::Anonymous } else { GossipMode::Signed }
    }
}

impl Behaviour {
    pub fn gossip_mut(&mut self, mode: GossipMode) -> &mut Gossip {
        match mode {
            GossipMode::Signed => &mut self.gossip,
            GossipMode::Anonymous => &mut self.tx_gossip,
        }
    }

    pub fn gossip_ref(&self, mode: GossipMode) -> &Gossip {
        match mode {
            GossipMode::Signed => &self.gossip,
            GossipMode::Anonymous => &self.tx_gossip,
        }
    }

    /// The lower of a peer's two gossipsub scores (`None` when neither instance knows it).
    pub fn gossip_score(&self, peer: &PeerId) -> Option<f64> {
        match (self.gossip.peer_score(peer), self.tx_gossip.peer_score(peer)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

pub(super) fn build_swarm(
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
pub(super) const INVALID_GOSSIP_WEIGHT: f64 = -100.0;
/// A gossipsub score at or below this is an offence (one invalid message reaches it).
pub(super) const GOSSIP_SCORE_FLOOR: f64 = -100.0;

/// Identify's protocol version carries the chain id: a peer of another chain is told apart at connect time.
pub(super) fn protocol_version(config: &P2pConfig) -> String {
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
