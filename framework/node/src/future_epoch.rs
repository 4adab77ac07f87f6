//! Consensus messages of an engine epoch that has not started here yet (a peer switched engines before us).
//!
//! They are replayed when our engine switches, so a switch loses no votes. Anyone can claim a future epoch, so the
//! buffer keeps messages only from validators we know (of the next two heights), at most [`PER_SENDER`] each, and
//! at most [`MAX_BYTES`] in all.

use cairn_primitives::PublicKey;

use crate::per_key::PerKey;
use crate::wire::ConsensusEnvelope;

/// Most messages kept.
pub(crate) const MAX_MESSAGES: usize = 1024;
/// Most messages kept per sender.
pub(crate) const PER_SENDER: usize = 64;
/// Most payload bytes kept.
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct FutureEpoch {
    held: Vec<(PublicKey, ConsensusEnvelope)>,
    per_sender: PerKey,
    bytes: usize,
}

impl FutureEpoch {
    /// Keeps `env` from `from` if `from` is a known validator and within the bounds. Returns whether it was kept.
    pub fn hold(&mut self, from: PublicKey, env: ConsensusEnvelope, is_validator: bool) -> bool {
        let mine = self.per_sender.get(&from);
        if !is_validator
            || mine >= PER_SENDER
            || self.held.len() >= MAX_MESSAGES
            || self.bytes + env.bytes.len() > MAX_BYTES
        {
            return false;
        }
        self.bytes += env.bytes.len();
        self.per_sender.add(from, 1);
        self.held.push((from, env));
        true
    }

    /// The messages of `epoch`, in arrival order; messages of older epochs are dropped, later ones stay.
    pub fn take(&mut self, epoch: u64) -> Vec<(PublicKey, ConsensusEnvelope)> {
        let (now, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.held).into_iter().partition(|(_, env)| env.epoch == epoch);
        *self = FutureEpoch::default();
        for (from, env) in later.into_iter().filter(|(_, env)| env.epoch > epoch) {
            self.hold(from, env, true);
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::Keypair;

    fn env(epoch: u64, len: usize) -> ConsensusEnvelope {
        ConsensusEnvelope { epoch, seq: 0, bytes: vec![0; len] }
    }

    #[test]
    fn only_validators_within_their_share_and_the_byte_bound() {
        let mut f = FutureEpoch::default();
        let (v, w, stranger) = (
            Keypair::derived("fe", 0).public(),
            Keypair::derived("fe", 1).public(),
            Keypair::derived("fe", 2).public(),
        );
        assert!(!f.hold(stranger, env(9, 10), false), "a non-validator's future-epoch message is not kept");
        for _ in 0..PER_SENDER {
            assert!(f.hold(v, env(9, 10), true));
        }
        assert!(!f.hold(v, env(9, 10), true), "one sender keeps at most PER_SENDER");
        assert!(f.hold(w, env(9, 10), true), "another validator still has room");
        assert!(!f.hold(w, env(9, MAX_BYTES), true), "the byte bound holds");
        assert!(f.hold(w, env(12, 10), true));
        // Switching to epoch 9 hands over its messages and keeps the later epoch's, with their shares.
        assert_eq!(f.take(9).len(), PER_SENDER + 1);
        assert_eq!((f.held.len(), f.per_sender.get(&w), f.bytes), (1, 1, 10));
        assert!(f.hold(v, env(12, 10), true), "v's share was freed");
    }
}
