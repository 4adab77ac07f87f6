//! Bindings of validators we have no connection to. Identify tells us only who our direct peers are, but gossip
//! authored by a validator reaches us through relays; without its binding we would judge it under the author's
//! p2p key and ignore it. So each node with a binding also gossips it on `/cairn/<chain id>/bindings/1` every
//! `P2pConfig::binding_republish`, and receivers keep the ones that verify against the *gossip author's* own p2p
//! key (gossipsub signs every message with its author's key, so a copied binding republished by anyone else names
//! the wrong peer and is dropped) and name a validator the filter knows (`GossipFilter::reserved`).
//!
//! Bounded: at most [`MAX_RELAYED`] authors, one author per validator key (the latest), each entry forgotten
//! when not refreshed for three republish periods.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_primitives::{ChainId, PublicKey};
use libp2p::{PeerId, gossipsub};

use super::Task;
use crate::binding::Binding;
use crate::filter::GossipVerdict;
use crate::identity::public_key_of;

/// A borsh binding is 128 bytes; anything larger on the topic is not one.
pub(super) const BINDING_MAX_BYTES: usize = 256;
/// Most relayed bindings kept (one per validator, so this bounds the validator keys heard of this way).
const MAX_RELAYED: usize = 4096;
/// An entry lives this many republish periods without a refresh.
const TTL_PERIODS: u32 = 3;

/// What goes on the topic: the binding and a sequence number. Gossip ids are content hashes, so without the
/// number every republication would be the same message, dropped as a duplicate for the dedup window.
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct Announcement {
    binding: Binding,
    seq: u64,
}

/// The gossipsub topic of bindings for a chain.
pub(super) fn topic(chain_id: &ChainId) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("/cairn/{chain_id}/bindings/1"))
}

/// Verified bindings of gossip authors, and when ours goes out next.
#[derive(Debug)]
pub(super) struct Relayed {
    pub hash: gossipsub::TopicHash,
    by_author: HashMap<PeerId, (PublicKey, Instant)>,
    by_validator: HashMap<PublicKey, PeerId>,
    next_publish: Option<Instant>,
    seq: u64,
}

impl Relayed {
    pub fn new(chain_id: &ChainId) -> Relayed {
        Relayed {
            hash: topic(chain_id).hash(),
            by_author: HashMap::new(),
            by_validator: HashMap::new(),
            next_publish: None,
            seq: 0,
        }
    }

    /// The validator a gossip author proved to speak for.
    pub fn get(&self, author: &PeerId) -> Option<PublicKey> {
        self.by_author.get(author).map(|(v, _)| *v)
    }

    fn insert(&mut self, author: PeerId, validator: PublicKey, now: Instant) -> bool {
        if !self.by_author.contains_key(&author) && self.by_author.len() >= MAX_RELAYED {
            return false;
        }
        if let Some(old) = self.by_validator.insert(validator, author)
            && old != author
        {
            self.by_author.remove(&old);
        }
        self.by_author.insert(author, (validator, now));
        true
    }

    fn expire(&mut self, now: Instant, ttl: Duration) {
        let by_validator = &mut self.by_validator;
        self.by_author.retain(|author, (validator, seen)| {
            let keep = now.duration_since(*seen) < ttl;
            if !keep && by_validator.get(validator) == Some(author) {
                by_validator.remove(validator);
            }
            keep
        });
    }
}

impl Task {
    /// A binding gossiped by its author: kept and forwarded if it is the author's own and names a validator.
    pub(super) fn on_binding_gossip(&mut self, message: &gossipsub::Message) -> GossipVerdict {
        let Some(author) = message.source else { return GossipVerdict::Reject };
        let Some(author_key) = public_key_of(&author) else { return GossipVerdict::Reject };
        if !self.admit(author) {
            return GossipVerdict::Ignore;
        }
        if message.data.len() > BINDING_MAX_BYTES {
            return GossipVerdict::Reject;
        }
        let checked =
            borsh::from_slice::<Announcement>(&message.data).map_err(|e| e.to_string()).and_then(|a| {
                a.binding
                    .verify(&self.config.chain_id, &author_key)
                    .map(|()| a.binding)
                    .map_err(|e| e.to_string())
            });
        let binding = match checked {
            Ok(b) => b,
            Err(e) => {
                // The author gossiped a binding that is not its own (or garbage): dropped and counted, not
                // forwarded. Ignored rather than rejected, as on identify: the author gains nothing by it, and with
                // a rejection the tests saw an honest peer lose its gossipsub score too (see the README).
                self.stats.bad_bindings.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%author, error = %e, "gossiped validator binding refused");
                return GossipVerdict::Ignore;
            }
        };
        if !self.filter.reserved(&binding.validator) {
            // Not a validator we know: nothing to remember, nothing worth forwarding.
            return GossipVerdict::Ignore;
        }
        if self.peers.relayed.insert(author, binding.validator, Instant::now()) {
            GossipVerdict::Accept
        } else {
            GossipVerdict::Ignore
        }
    }

    /// Gossips our binding when it is due (retried every tick until a peer takes it), and forgets stale ones.
    pub(super) fn republish_binding(&mut self, now: Instant) {
        let period = self.config.binding_republish;
        self.peers.relayed.expire(now, period.saturating_mul(TTL_PERIODS));
        let Some(binding) = self.config.binding else { return };
        if self.peers.relayed.next_publish.is_some_and(|at| now < at) {
            return;
        }
        self.peers.relayed.seq += 1;
        let data = borsh::to_vec(&Announcement { binding, seq: self.peers.relayed.seq }).unwrap_or_default();
        match self.swarm.behaviour_mut().gossip.publish(topic(&self.config.chain_id), data) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {
                self.peers.relayed.next_publish = Some(now + period)
            }
            Err(e) => tracing::trace!(error = %e, "binding not gossiped yet"),
        }
    }
}
