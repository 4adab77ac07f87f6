//! [`Transport`] over cairn-p2p (libp2p): one ordered outbound queue (so a block body is gossiped before the
//! proposal that names it), one inbound forwarder that also keeps the set of connected peers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cairn_p2p::{NetworkHandle, P2pConfig, P2pError, PeerAddr};
use cairn_primitives::{Keypair, PublicKey};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::intake::GossipTxs;
use crate::net::{NetEvent, Topic, Transport};

/// Outbound messages queued for the network task; beyond this, sends are dropped (the engine re-sends on its
/// timers) rather than stalling consensus.
const OUTBOUND_QUEUE: usize = 8192;
/// Inbound events queued for the driver beyond the network's main lane. Small on purpose: the backlog waits in
/// the lane, which is bounded by bytes overall and per peer; this queue only smooths the hop.
const INBOUND_QUEUE: usize = 32;

enum Outbound {
    Broadcast(Topic, Vec<u8>),
    Send(PublicKey, Vec<u8>),
    ReportBad(PublicKey, String),
}

pub(crate) struct P2pTransport {
    handle: NetworkHandle,
    outbound: mpsc::Sender<Outbound>,
    peers: Arc<Mutex<BTreeSet<PublicKey>>>,
}

fn topic(t: Topic) -> cairn_p2p::Topic {
    match t {
        Topic::Consensus => cairn_p2p::Topic::Consensus,
        Topic::Txs => cairn_p2p::Topic::Txs,
        Topic::Blocks => cairn_p2p::Topic::Blocks,
    }
}

impl P2pTransport {
    /// Starts libp2p per the config's `[p2p]` section with `key` as the p2p identity, presenting `binding`.
    pub async fn start(
        key: &Keypair,
        binding: cairn_p2p::Binding,
        config: &NodeConfig,
        chain_id: cairn_primitives::ChainId,
        tx_ingest: mpsc::Sender<GossipTxs>,
        filter: Arc<dyn cairn_p2p::GossipFilter>,
    ) -> Result<(Arc<P2pTransport>, mpsc::Receiver<NetEvent>, SocketAddr), NodeError> {
        let mut p2p = P2pConfig::new(chain_id, config.p2p.listen);
        p2p.binding = Some(binding);
        p2p.bootstrap = config.bootstrap_peers().into_iter().map(|p| PeerAddr::new(p.key, p.addr)).collect();
        p2p.max_message_bytes = config.p2p.max_message_bytes.max(p2p.max_consensus_bytes);
        // Each peer's share of a lane (a quarter) must hold one largest message.
        let lane_floor = cairn_p2p::PEER_SHARE_DIVISOR * p2p.max_message_bytes;
        p2p.event_queue_bytes = p2p.event_queue_bytes.max(lane_floor);
        p2p.tx_event_queue_bytes = p2p.tx_event_queue_bytes.max(lane_floor);
        let (handle, events) = Network::start_with_filter(key, p2p, filter).await.map_err(|e| match e {
            P2pError::Listen { addr, reason } if reason.to_lowercase().contains("in use") => {
                NodeError::AddrInUse { what: "p2p", addr, field: "p2p.listen" }
            }
            other => NodeError::P2p(other.to_string()),
        })?;
        let local = handle.local_addr();
        let peers = Arc::new(Mutex::new(BTreeSet::new()));
        let (out_tx, mut out_rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
        let (in_tx, in_rx) = mpsc::channel::<NetEvent>(INBOUND_QUEUE);

        let h = handle.clone();
        tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                let result = match msg {
                    Outbound::Broadcast(t, data) => h.broadcast(topic(t), data).await,
                    Outbound::Send(to, data) => h.send(to, data).await,
                    Outbound::ReportBad(peer, reason) => {
                        h.report_bad(peer, &reason).await;
                        Ok(())
                    }
                };
                if let Err(e) = result {
                    if e == P2pError::Shutdown {
                        break;
                    }
                    debug!(error = %e, "p2p send failed");
                }
            }
        });

        // Two lanes: gossiped txs go straight to the mempool's intake (a full intake drops them: peers' mempools
        // hold them and senders resubmit); everything else goes to the driver, never behind a tx.
        let (mut events, mut txs) = events.split();
        tokio::spawn(async move {
            while let Some(ev) = txs.recv().await {
                let batch = match ev {
                    cairn_p2p::NetEvent::TxBatch { txs, verdict, .. } => {
                        GossipTxs { txs, verdict: Some(verdict) }
                    }
                    cairn_p2p::NetEvent::Gossip { data, .. } => GossipTxs { txs: vec![data], verdict: None },
                    _ => continue,
                };
                // Full: dropped, and its verdict with it (not forwarded).
                if let Err(mpsc::error::TrySendError::Closed(_)) = tx_ingest.try_send(batch) {
                    break;
                }
            }
        });
        let known = peers.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                let ev = match ev {
                    cairn_p2p::NetEvent::Gossip { from, topic: t, data } => {
                        let topic = match t {
                            cairn_p2p::Topic::Consensus => Topic::Consensus,
                            cairn_p2p::Topic::Txs => Topic::Txs,
                            cairn_p2p::Topic::Blocks => Topic::Blocks,
                        };
                        NetEvent::Gossip { from, topic, data }
                    }
                    // Tx batches travel in the txs lane (above); one here would only be dropped (not forwarded).
                    cairn_p2p::NetEvent::TxBatch { .. } => continue,
                    cairn_p2p::NetEvent::Direct { from, data } => NetEvent::Direct { from, data },
                    cairn_p2p::NetEvent::Request { from, data, reply } => {
                        let (tx, rx) = oneshot::channel::<Vec<u8>>();
                        tokio::spawn(async move {
                            if let Ok(answer) = rx.await {
                                let _ = reply.send(answer).await;
                            }
                        });
                        NetEvent::Request { from, data, reply: tx }
                    }
                    cairn_p2p::NetEvent::PeerConnected(p) => {
                        known.lock().unwrap_or_else(|e| e.into_inner()).insert(p);
                        NetEvent::PeerConnected(p)
                    }
                    cairn_p2p::NetEvent::PeerDisconnected(p) => {
                        known.lock().unwrap_or_else(|e| e.into_inner()).remove(&p);
                        NetEvent::PeerDisconnected(p)
                    }
                };
                if in_tx.send(ev).await.is_err() {
                    break;
                }
            }
        });
        Ok((Arc::new(P2pTransport { handle, outbound: out_tx, peers }), in_rx, local))
    }
}

use cairn_p2p::Network;

#[async_trait]
impl Transport for P2pTransport {
    fn broadcast(&self, t: Topic, data: Vec<u8>) {
        let _ = self.outbound.try_send(Outbound::Broadcast(t, data));
    }

    fn send(&self, to: PublicKey, data: Vec<u8>) {
        let _ = self.outbound.try_send(Outbound::Send(to, data));
    }

    async fn request(&self, to: PublicKey, data: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, String> {
        self.handle.request(to, data, timeout).await.map_err(|e| e.to_string())
    }

    fn peers(&self) -> Vec<PublicKey> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect()
    }

    fn report_bad(&self, peer: PublicKey, reason: &str) {
        let _ = self.outbound.try_send(Outbound::ReportBad(peer, reason.to_string()));
    }

    async fn shutdown(&self) {
        self.handle.shutdown().await;
    }

    fn peer_scores(&self) -> std::collections::BTreeMap<PublicKey, i64> {
        self.handle.stats().peer_scores()
    }

    fn counters(&self) -> crate::types::NetCounters {
        let s = self.handle.stats();
        let g = cairn_p2p::NetStats::get;
        crate::types::NetCounters {
            events_dropped: g(&s.events_dropped),
            tx_events_dropped: g(&s.tx_events_dropped),
            rate_limited: g(&s.rate_limited),
            offences: g(&s.offences),
            bans: g(&s.bans),
            gossip_not_forwarded: g(&s.gossip_not_forwarded),
            peers_refused: g(&s.peers_refused),
            oversized_dropped: g(&s.oversized_dropped),
            queued_main_bytes: g(&s.queued_main_bytes),
            queued_tx_bytes: g(&s.queued_tx_bytes),
        }
    }
}
