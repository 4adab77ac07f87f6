//! Which gossip this node forwards (cairn-p2p's validate-before-forward hook).
//!
//! Only validators publish consensus messages and block bodies, so gossip on those topics from any other key is
//! neither delivered nor forwarded: one peer with a fresh key cannot reach every validator with junk. "Validators"
//! are those of the next two heights (the sets the node already knows), so a validator that joins at H+2 is heard
//! as soon as its admission is final. Such gossip is *ignored*, not punished: the author may be a validator that
//! just left, or one this node, while behind, does not know yet (other nodes forward it meanwhile).
//!
//! The same validators hold reserved connection slots: throwaway identities filling `max_peers` never lock them
//! out.
//!
//! Txs are forwarded before CheckTx: the node does not know the app's tx format; their bounds are the per-peer
//! rate and the txs lane.

use std::collections::BTreeSet;
use std::sync::RwLock;

use cairn_p2p::{GossipFilter, GossipVerdict, Topic};
use cairn_primitives::PublicKey;

use crate::state::ChainState;

#[derive(Debug, Default)]
pub(crate) struct ValidatorGossip {
    known: RwLock<BTreeSet<PublicKey>>,
}

impl ValidatorGossip {
    pub fn new(state: &ChainState) -> ValidatorGossip {
        let g = ValidatorGossip::default();
        g.update(state);
        g
    }

    /// The validators of the next two heights (called after every commit).
    pub fn update(&self, state: &ChainState) {
        let keys = state.next.validators().iter().chain(state.next_next.validators()).map(|v| v.public_key);
        *self.known.write().unwrap_or_else(|p| p.into_inner()) = keys.collect();
    }

    fn knows(&self, key: &PublicKey) -> bool {
        self.known.read().unwrap_or_else(|p| p.into_inner()).contains(key)
    }
}

impl GossipFilter for ValidatorGossip {
    fn check(&self, topic: Topic, author: &PublicKey, _: &[u8]) -> GossipVerdict {
        match topic {
            Topic::Txs => GossipVerdict::Accept,
            Topic::Consensus | Topic::Blocks if self.knows(author) => GossipVerdict::Accept,
            Topic::Consensus | Topic::Blocks => GossipVerdict::Ignore,
        }
    }

    /// Validators always get a connection slot.
    fn reserved(&self, peer: &PublicKey) -> bool {
        self.knows(peer)
    }

    /// Txs are forwarded only after CheckTx admitted one of the batch (`crate::intake`).
    fn validates_txs(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::{Keypair, Validator, ValidatorSet};

    #[test]
    fn only_known_validators_gossip_consensus_and_bodies() {
        let (v, w, x) = (
            Keypair::derived("gf", 0).public(),
            Keypair::derived("gf", 1).public(),
            Keypair::derived("gf", 2).public(),
        );
        let set = |k: PublicKey| ValidatorSet::new(vec![Validator { public_key: k, power: 1 }]).expect("set");
        let mut state = ChainState::genesis(
            cairn_primitives::Height(1),
            cairn_primitives::Hash::ZERO,
            cairn_abci::ConsensusParams::default(),
            set(v),
        );
        state.next_next = set(w);
        let g = ValidatorGossip::new(&state);
        for topic in [Topic::Consensus, Topic::Blocks] {
            assert_eq!(g.check(topic, &v, b""), GossipVerdict::Accept, "next set");
            assert_eq!(g.check(topic, &w, b""), GossipVerdict::Accept, "the set after it");
            assert_eq!(g.check(topic, &x, b""), GossipVerdict::Ignore, "anyone else");
        }
        assert_eq!(g.check(Topic::Txs, &x, b""), GossipVerdict::Accept, "txs are checked by CheckTx");
        // After a commit that admits x, x is heard.
        state.next_next = set(x);
        g.update(&state);
        assert_eq!(g.check(Topic::Consensus, &x, b""), GossipVerdict::Accept);
    }
}
