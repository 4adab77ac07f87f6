//! The driver's view of the network: a small trait over the p2p layer, so the driver is written once and runs
//! over libp2p (`crate::p2p_transport`) or over the in-memory [`MemoryHub`] (unit tests of the driver logic).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cairn_primitives::PublicKey;
use tokio::sync::{mpsc, oneshot};

/// Gossip topics the node uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Consensus engine broadcasts.
    Consensus,
    /// Transactions entering mempools.
    Txs,
    /// Proposed block bodies, so validators have the payload they vote on.
    Blocks,
}

/// What the network tells the driver.
#[derive(Debug)]
pub enum NetEvent {
    Gossip {
        from: PublicKey,
        topic: Topic,
        data: Vec<u8>,
    },
    Direct {
        from: PublicKey,
        data: Vec<u8>,
    },
    /// A request expecting one answer on `reply`.
    Request {
        from: PublicKey,
        data: Vec<u8>,
        reply: oneshot::Sender<Vec<u8>>,
    },
    PeerConnected(PublicKey),
    PeerDisconnected(PublicKey),
}

/// Outbound side of the network. Sends are fire-and-forget (a lost message is the engine's problem: it
/// re-broadcasts on timeouts); only requests have an answer.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    fn broadcast(&self, topic: Topic, data: Vec<u8>);
    fn send(&self, to: PublicKey, data: Vec<u8>);
    async fn request(&self, to: PublicKey, data: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, String>;
    fn peers(&self) -> Vec<PublicKey>;
    /// Tells the network a peer misbehaved (malformed bytes, bad block), so it can score or ban it.
    fn report_bad(&self, peer: PublicKey, reason: &str);
    /// Stops the network (the node is shutting down).
    async fn shutdown(&self) {}
    /// Peers whose score is below 0 (an in-memory network scores nobody).
    fn peer_scores(&self) -> BTreeMap<PublicKey, i64> {
        BTreeMap::new()
    }
    /// What the network dropped or punished so far (an in-memory network drops nothing).
    fn counters(&self) -> crate::types::NetCounters {
        crate::types::NetCounters::default()
    }
}

/// An in-memory network of nodes in one process. Every link is reliable and instant; a node can be cut off
/// (`set_connected(false)`) to simulate a crash or partition.
#[derive(Clone, Default)]
pub struct MemoryHub {
    inner: Arc<Mutex<HubInner>>,
}

#[derive(Default)]
struct HubInner {
    nodes: BTreeMap<PublicKey, (mpsc::Sender<NetEvent>, bool)>,
    reported: Vec<(PublicKey, PublicKey, String)>,
}

impl MemoryHub {
    pub fn new() -> MemoryHub {
        MemoryHub::default()
    }

    /// Joins `key` to the hub; returns its transport and the events it receives.
    pub fn join(&self, key: PublicKey, queue: usize) -> (Arc<MemoryTransport>, mpsc::Receiver<NetEvent>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let mut inner = self.lock();
        for (other, (sender, up)) in inner.nodes.iter() {
            if *up {
                let _ = sender.try_send(NetEvent::PeerConnected(key));
                let _ = tx.try_send(NetEvent::PeerConnected(*other));
            }
        }
        inner.nodes.insert(key, (tx, true));
        (Arc::new(MemoryTransport { hub: self.clone(), me: key }), rx)
    }

    /// Removes a node (it crashed or left).
    pub fn leave(&self, key: &PublicKey) {
        let mut inner = self.lock();
        inner.nodes.remove(key);
        for (sender, up) in inner.nodes.values() {
            if *up {
                let _ = sender.try_send(NetEvent::PeerDisconnected(*key));
            }
        }
    }

    /// Reports made through [`Transport::report_bad`]: (reporter, peer, reason).
    pub fn reports(&self) -> Vec<(PublicKey, PublicKey, String)> {
        self.lock().reported.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn deliver(&self, to: &PublicKey, event: NetEvent) -> bool {
        let inner = self.lock();
        match inner.nodes.get(to) {
            Some((sender, true)) => sender.try_send(event).is_ok(),
            _ => false,
        }
    }
}

/// One node's handle on a [`MemoryHub`].
pub struct MemoryTransport {
    hub: MemoryHub,
    me: PublicKey,
}

#[async_trait]
impl Transport for MemoryTransport {
    fn broadcast(&self, topic: Topic, data: Vec<u8>) {
        for peer in self.peers() {
            self.hub.deliver(&peer, NetEvent::Gossip { from: self.me, topic, data: data.clone() });
        }
    }

    fn send(&self, to: PublicKey, data: Vec<u8>) {
        self.hub.deliver(&to, NetEvent::Direct { from: self.me, data });
    }

    async fn request(&self, to: PublicKey, data: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, String> {
        let (reply, answer) = oneshot::channel();
        if !self.hub.deliver(&to, NetEvent::Request { from: self.me, data, reply }) {
            return Err(format!("peer {to} is not connected"));
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) => Err(format!("peer {to} dropped the request")),
            Err(_) => Err(format!("request to {to} timed out")),
        }
    }

    fn peers(&self) -> Vec<PublicKey> {
        self.hub.lock().nodes.iter().filter(|(k, (_, up))| **k != self.me && *up).map(|(k, _)| *k).collect()
    }

    fn report_bad(&self, peer: PublicKey, reason: &str) {
        self.hub.lock().reported.push((self.me, peer, reason.to_string()));
    }

    async fn shutdown(&self) {
        self.hub.leave(&self.me);
    }
}
