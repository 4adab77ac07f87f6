//! What the network hands the node, in two lanes bounded by count *and* bytes, overall and per peer.
//!
//! Why two lanes: a tx flood (one event per gossiped tx) must never delay or crowd out consensus. Consensus
//! gossip, direct messages, requests, blocks and connection changes travel in the *main* lane; tx gossip in
//! the *txs* lane. [`NetEvents::recv`] always serves the main lane first, and each lane drops (and counts) its own
//! overflow, so a full txs lane costs consensus nothing.
//!
//! Why bytes: a count bound alone lets 8,192 events of 4 MiB each (32 GiB) queue up. Each lane has a byte budget,
//! and one peer may hold at most a quarter of it ([`PEER_SHARE_DIVISOR`]), so one peer cannot fill a lane that
//! honest peers need.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use cairn_primitives::PublicKey;
use libp2p::request_response;
use tokio::sync::mpsc;

use crate::network::{Command, NetStats};
use crate::{P2pError, Topic, TxVerdict};

/// One peer may hold at most `lane bytes / PEER_SHARE_DIVISOR` of a lane.
pub const PEER_SHARE_DIVISOR: usize = 4;

/// Something the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    /// Gossip published by `from`: for consensus and blocks the original author, authenticated by its libp2p
    /// signature — not merely the peer that forwarded it; for txs (anonymous gossip, each tx signed itself) the
    /// peer that relayed the batch. A node never receives its own broadcasts.
    Gossip { from: PublicKey, topic: Topic, data: Vec<u8> },
    /// A gossiped batch of txs relayed by `from`, held back from forwarding until the node reports on `verdict` (only
    /// when the [`crate::GossipFilter`] `validates_txs`; otherwise each tx arrives as [`NetEvent::Gossip`]).
    TxBatch { from: PublicKey, txs: Vec<Vec<u8>>, verdict: TxVerdict },
    /// A one-way direct message.
    Direct { from: PublicKey, data: Vec<u8> },
    /// A request expecting an answer through `reply` (dropping `reply` fails the peer's request).
    Request { from: PublicKey, data: Vec<u8>, reply: ResponseHandle },
    /// First connection to a peer established (noise-authenticated: `PublicKey` is proven).
    PeerConnected(PublicKey),
    /// Last connection to a peer closed.
    PeerDisconnected(PublicKey),
}

impl NetEvent {
    /// Whose bytes this event holds, and how many (connection changes hold none).
    fn charge(&self) -> Option<(PublicKey, usize)> {
        match self {
            NetEvent::Gossip { from, data, .. }
            | NetEvent::Direct { from, data }
            | NetEvent::Request { from, data, .. } => Some((*from, data.len())),
            NetEvent::TxBatch { from, txs, .. } => Some((*from, txs.iter().map(Vec::len).sum())),
            NetEvent::PeerConnected(_) | NetEvent::PeerDisconnected(_) => None,
        }
    }

    /// Tx gossip goes in the txs lane; everything else in the main lane.
    pub(crate) fn is_tx(&self) -> bool {
        matches!(self, NetEvent::Gossip { topic: Topic::Txs, .. } | NetEvent::TxBatch { .. })
    }
}

/// Answers one [`NetEvent::Request`].
#[derive(Debug)]
pub struct ResponseHandle {
    pub(crate) channel: request_response::ResponseChannel<Vec<u8>>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) max: usize,
}

impl ResponseHandle {
    /// Sends the answer. Fails if it is over the size limit or the network has shut down; if the peer has
    /// gone or its request timed out, the answer is silently discarded (there is no one to tell).
    pub async fn send(self, data: Vec<u8>) -> Result<(), P2pError> {
        if data.len() > self.max {
            return Err(P2pError::TooLarge { len: data.len(), max: self.max });
        }
        self.commands
            .send(Command::Respond { channel: self.channel, data })
            .await
            .map_err(|_| P2pError::Shutdown)
    }
}

/// The bytes queued in one lane, in total and per peer.
#[derive(Debug)]
struct Budget {
    max_total: usize,
    max_per_peer: usize,
    state: Mutex<Queued>,
}

#[derive(Debug, Default)]
struct Queued {
    total: usize,
    per_peer: BTreeMap<PublicKey, usize>,
}

impl Budget {
    fn new(max_total: usize) -> Budget {
        Budget { max_total, max_per_peer: max_total / PEER_SHARE_DIVISOR, state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes room for `len` bytes of `peer`'s, or says no.
    fn reserve(&self, peer: PublicKey, len: usize) -> bool {
        let mut q = self.lock();
        let mine = q.per_peer.get(&peer).copied().unwrap_or(0);
        if q.total + len > self.max_total || mine + len > self.max_per_peer {
            return false;
        }
        q.total += len;
        *q.per_peer.entry(peer).or_default() += len;
        true
    }

    fn release(&self, peer: PublicKey, len: usize) {
        let mut q = self.lock();
        q.total = q.total.saturating_sub(len);
        if let Some(mine) = q.per_peer.get_mut(&peer) {
            *mine = mine.saturating_sub(len);
            if *mine == 0 {
                q.per_peer.remove(&peer);
            }
        }
    }

    fn total(&self) -> usize {
        self.lock().total
    }
}

/// The sending half of one lane, kept by the network task.
#[derive(Clone, Debug)]
pub(crate) struct LaneTx {
    tx: mpsc::Sender<NetEvent>,
    budget: Arc<Budget>,
}

/// Why an event was not queued.
pub(crate) enum Refused {
    /// The lane holds its count or byte limit, or the peer its share: the event is dropped.
    Full(NetEvent),
    /// The node dropped its receiver.
    Closed,
}

impl LaneTx {
    pub(crate) fn try_send(&self, event: NetEvent) -> Result<(), Refused> {
        let charge = event.charge();
        if let Some((peer, len)) = charge
            && !self.budget.reserve(peer, len)
        {
            return Err(Refused::Full(event));
        }
        match self.tx.try_send(event) {
            Ok(()) => Ok(()),
            Err(e) => {
                if let Some((peer, len)) = charge {
                    self.budget.release(peer, len);
                }
                match e {
                    mpsc::error::TrySendError::Full(event) => Err(Refused::Full(event)),
                    mpsc::error::TrySendError::Closed(_) => Err(Refused::Closed),
                }
            }
        }
    }

    /// Waits for room for one more event (connection changes, which hold no bytes, use this).
    pub(crate) async fn reserve(&self) -> Result<mpsc::Permit<'_, NetEvent>, mpsc::error::SendError<()>> {
        self.tx.reserve().await
    }
}

/// The receiving half of one lane.
#[derive(Debug)]
struct LaneRx {
    rx: mpsc::Receiver<NetEvent>,
    budget: Arc<Budget>,
}

impl LaneRx {
    fn took(&self, event: NetEvent) -> NetEvent {
        if let Some((peer, len)) = event.charge() {
            self.budget.release(peer, len);
        }
        event
    }
}

fn lane(count: usize, bytes: usize) -> (LaneTx, LaneRx) {
    let (tx, rx) = mpsc::channel(count);
    let budget = Arc::new(Budget::new(bytes));
    (LaneTx { tx, budget: budget.clone() }, LaneRx { rx, budget })
}

/// The network task's ends of both lanes.
#[derive(Clone, Debug)]
pub(crate) struct Lanes {
    pub main: LaneTx,
    pub txs: LaneTx,
}

impl Lanes {
    /// Payload bytes queued now in the main and the txs lane.
    pub(crate) fn queued_bytes(&self) -> (usize, usize) {
        (self.main.budget.total(), self.txs.budget.total())
    }

    /// Queues `event` in its lane, or drops it and counts the drop in that lane's counter.
    pub(crate) fn emit(&self, event: NetEvent, stats: &NetStats) -> Result<(), Refused> {
        let (lane, dropped) = if event.is_tx() {
            (&self.txs, &stats.tx_events_dropped)
        } else {
            (&self.main, &stats.events_dropped)
        };
        let r = lane.try_send(event);
        if matches!(r, Err(Refused::Full(_))) {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

/// The node's end: both lanes, the main one served first.
#[derive(Debug)]
pub struct NetEvents {
    main: LaneRx,
    txs: LaneRx,
}

impl NetEvents {
    /// Lanes of `count` events and `main_bytes` / `tx_bytes` bytes each.
    pub(crate) fn new(count: usize, main_bytes: usize, tx_bytes: usize) -> (Lanes, NetEvents) {
        let (main_tx, main_rx) = lane(count, main_bytes);
        let (txs_tx, txs_rx) = lane(count, tx_bytes);
        (Lanes { main: main_tx, txs: txs_tx }, NetEvents { main: main_rx, txs: txs_rx })
    }

    /// The next event, from the main lane whenever it has one. `None` once the network has stopped.
    pub async fn recv(&mut self) -> Option<NetEvent> {
        let event = tokio::select! {
            biased;
            Some(e) = self.main.rx.recv() => Some((e, true)),
            Some(e) = self.txs.rx.recv() => Some((e, false)),
            else => None,
        };
        event.map(|(e, main)| if main { self.main.took(e) } else { self.txs.took(e) })
    }

    /// The next event if one is queued now (main lane first).
    pub fn try_recv(&mut self) -> Result<NetEvent, mpsc::error::TryRecvError> {
        match self.main.rx.try_recv() {
            Ok(e) => Ok(self.main.took(e)),
            Err(main_err) => match self.txs.rx.try_recv() {
                Ok(e) => Ok(self.txs.took(e)),
                Err(mpsc::error::TryRecvError::Disconnected)
                    if main_err == mpsc::error::TryRecvError::Disconnected =>
                {
                    Err(mpsc::error::TryRecvError::Disconnected)
                }
                Err(_) => Err(mpsc::error::TryRecvError::Empty),
            },
        }
    }

    /// Bytes queued now in the main and the txs lane (for metrics).
    pub fn queued_bytes(&self) -> (usize, usize) {
        (self.main.budget.total(), self.txs.budget.total())
    }

    /// Splits into the main lane and the txs lane, for a node that routes txs elsewhere (e.g. straight to its
    /// mempool's intake) so consensus never waits behind them in any later queue either.
    pub fn split(self) -> (EventLane, EventLane) {
        (EventLane(self.main), EventLane(self.txs))
    }
}

/// One lane on its own (see [`NetEvents::split`]).
#[derive(Debug)]
pub struct EventLane(LaneRx);

impl EventLane {
    pub async fn recv(&mut self) -> Option<NetEvent> {
        let e = self.0.rx.recv().await?;
        Some(self.0.took(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::Keypair;

    fn gossip(from: PublicKey, topic: Topic, len: usize) -> NetEvent {
        NetEvent::Gossip { from, topic, data: vec![0; len] }
    }

    #[tokio::test]
    async fn a_full_tx_lane_does_not_stop_consensus_and_main_is_served_first() {
        let stats = NetStats::default();
        let (lanes, mut events) = NetEvents::new(4, 1 << 20, 1 << 20);
        let (a, b) = (Keypair::derived("lanes", 0).public(), Keypair::derived("lanes", 1).public());
        for _ in 0..4 {
            assert!(lanes.emit(gossip(a, Topic::Txs, 10), &stats).is_ok());
        }
        assert!(lanes.emit(gossip(a, Topic::Txs, 10), &stats).is_err(), "the txs lane holds 4 events");
        assert_eq!(NetStats::get(&stats.tx_events_dropped), 1);
        assert!(lanes.emit(gossip(b, Topic::Consensus, 10), &stats).is_ok(), "consensus has its own lane");
        assert_eq!(NetStats::get(&stats.events_dropped), 0);
        match events.recv().await {
            Some(NetEvent::Gossip { topic: Topic::Consensus, .. }) => {}
            other => panic!("the main lane is served first, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bytes_are_bounded_per_lane_and_per_peer_and_freed_when_read() {
        let stats = NetStats::default();
        // 1,000 bytes per lane: one peer may hold 250.
        let (lanes, mut events) = NetEvents::new(1000, 1000, 1000);
        let keys: Vec<PublicKey> = (0..5).map(|i| Keypair::derived("lanes", i).public()).collect();
        assert!(lanes.emit(gossip(keys[0], Topic::Consensus, 200), &stats).is_ok());
        assert!(
            lanes.emit(gossip(keys[0], Topic::Consensus, 100), &stats).is_err(),
            "a peer holds at most a quarter of the lane"
        );
        for k in &keys[1..4] {
            assert!(lanes.emit(gossip(*k, Topic::Consensus, 250), &stats).is_ok());
        }
        assert_eq!(events.queued_bytes(), (950, 0));
        assert!(
            lanes.emit(gossip(keys[4], Topic::Consensus, 100), &stats).is_err(),
            "the lane holds 1,000 bytes"
        );
        assert_eq!(NetStats::get(&stats.events_dropped), 2);
        // Reading frees the reader's share: the first peer may send again.
        events.recv().await.expect("queued");
        assert_eq!(events.queued_bytes(), (750, 0));
        assert!(lanes.emit(gossip(keys[0], Topic::Consensus, 250), &stats).is_ok());
    }
}
