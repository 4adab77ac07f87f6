//! Validate before forwarding: gossipsub forwards a message only after the node said it is worth it, so one peer
//! cannot reach every validator with junk (libp2p gossipsub's message validation).
//!
//! The network task asks the [`GossipFilter`] about every gossip message that passed its own checks (topic, author,
//! size, batch framing): `Accept` forwards it and hands it to the node; `Ignore` does neither, without blame (e.g.
//! consensus gossip from a key that is not a validator — perhaps one that just left the set); `Reject` does neither
//! and counts against the peer that relayed it, in gossipsub's score.

use cairn_primitives::PublicKey;

use crate::Topic;

/// The verdict on one gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipVerdict {
    Accept,
    Ignore,
    Reject,
}

/// Decides, synchronously and cheaply (it runs on the network task), whether gossip is forwarded.
pub trait GossipFilter: Send + Sync + 'static {
    /// `author` is the message's authenticated author; `data` its payload (for txs, the whole batch).
    fn check(&self, topic: Topic, author: &PublicKey, data: &[u8]) -> GossipVerdict;

    /// Whether `peer` always gets a connection slot (a validator): reserved peers do not count against
    /// `max_peers`, so throwaway identities filling the slots never lock validators out.
    fn reserved(&self, _peer: &PublicKey) -> bool {
        false
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
