//! Gossip on the task's side: publishing (txs batched), judging what arrives before gossipsub may forward it, and
//! turning gossipsub's scores into offences.

use std::sync::atomic::Ordering;
use std::time::Instant;

use libp2p::{PeerId, gossipsub};

use super::Task;
use super::swarm::{GOSSIP_SCORE_FLOOR, GossipMode, INVALID_GOSSIP_WEIGHT};
use crate::batch;
use crate::events::NetEvent;
use crate::filter::{GossipVerdict, TxVerdict};
use crate::score::Offence;
use crate::{P2pError, Topic};

impl Task {
    /// Adds a tx to the pending batch, sending the batch when it is full (or at once with no batch delay).
    pub(super) fn queue_tx(&mut self, data: Vec<u8>) -> Result<(), P2pError> {
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

    pub(super) fn flush_txs(&mut self) {
        if self.tx_batch.is_empty() {
            return;
        }
        let wire = self.tx_batch.take();
        if let Err(e) = self.publish(Topic::Txs, wire) {
            self.stats.broadcasts_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "tx batch not gossiped");
        }
    }

    pub(super) fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
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

    pub(super) fn on_gossip(&mut self, mode: GossipMode, event: gossipsub::Event) {
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
    pub(super) fn report_gossip(
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
    pub(super) fn validated(
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
    pub(super) fn judge_gossip(
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

    /// Turns invalid gossip (seen by gossipsub's scoring) into offences: a peer is punished when its score
    /// falls to the floor, and again only if it falls further by another invalid message.
    pub(super) fn check_gossip_scores(&mut self) {
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
