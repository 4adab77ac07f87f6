//! Validate before forwarding: gossipsub forwards a message only after the node said it is worth it, so one peer
//! cannot reach every validator with junk (libp2p gossipsub's message validation).
//!
//! The network task asks the [`GossipFilter`] about every gossip message that passed its own checks (topic, author,
//! size, batch framing): `Accept` forwards it and hands it to the node; `Ignore` does neither, without blame (e.g.
//! consensus gossip from a key that is not a validator — perhaps one that just left the set); `Reject` does neither
//! and counts against the peer that relayed it, in gossipsub's score.

use cairn_primitives::PublicKey;
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use tokio::sync::mpsc;

use crate::Topic;
use crate::network::Command;

/// The verdict on one gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipVerdict {
    Accept,
    Ignore,
    Reject,
}

/// Decides, synchronously and cheaply (it runs on the network task), whether gossip is forwarded.
pub trait GossipFilter: Send + Sync + 'static {
    /// `author` is the message's authenticated author (for txs, which are gossiped anonymously, the peer that
    /// relayed the batch); `data` its payload (for txs, the whole batch).
    fn check(&self, topic: Topic, author: &PublicKey, data: &[u8]) -> GossipVerdict;

    /// Whether `peer` always gets a connection slot (a validator): reserved peers do not count against
    /// `max_peers`, so throwaway identities filling the slots never lock validators out.
    fn reserved(&self, _peer: &PublicKey) -> bool {
        false
    }

    /// Whether the node checks gossiped txs itself before they are forwarded. If so, a tx batch reaches the node
    /// as [`crate::NetEvent::TxBatch`] with a [`TxVerdict`] and is forwarded only once the node accepts it (e.g.
    /// after CheckTx admitted one of its txs); otherwise it is forwarded as soon as it parses.
    fn validates_txs(&self) -> bool {
        false
    }
}

/// The node's pending verdict on one gossiped tx batch: [`TxVerdict::report`] forwards it (`Accept`) or not.
/// Dropped without a report — the node was too busy to look, or had nothing to say — it counts as `Ignore`: not
/// forwarded, and no blame on the peer.
#[derive(Debug)]
pub struct TxVerdict(Box<Pending>);

/// Boxed so that every event in the lanes stays small.
#[derive(Debug)]
struct Pending {
    id: MessageId,
    source: PeerId,
    commands: mpsc::WeakSender<Command>,
    reported: bool,
}

impl TxVerdict {
    pub(crate) fn new(id: MessageId, source: PeerId, commands: mpsc::WeakSender<Command>) -> TxVerdict {
        TxVerdict(Box::new(Pending { id, source, commands, reported: false }))
    }

    pub fn report(mut self, verdict: GossipVerdict) {
        self.send(verdict);
    }

    fn send(&mut self, verdict: GossipVerdict) {
        let p = &mut *self.0;
        p.reported = true;
        if let Some(commands) = p.commands.upgrade() {
            // A full command queue loses the verdict: gossipsub then forgets the message unforwarded after its
            // history window, which is the safe side.
            let _ = commands.try_send(Command::Validated { id: p.id.clone(), source: p.source, verdict });
        }
    }
}

impl Drop for TxVerdict {
    fn drop(&mut self) {
        if !self.0.reported {
            self.send(GossipVerdict::Ignore);
        }
    }
}

/// Forwards everything that passed the network's own checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl GossipFilter for AcceptAll {
    fn check(&self, _: Topic, _: &PublicKey, _: &[u8]) -> GossipVerdict {
        GossipVerdict::Accept
    }
}
