//! Block sync for heights a sampling engine finalized.
//!
//! Sampling (snow) finalizes without a quorum certificate: each node keeps its own signed `Prefer` vote for the
//! block it decided, so one peer's batch proves only what that peer decided. A syncing node therefore adds up the
//! attestations of *different* peers, round after round (block sync asks a different peer each time): a block
//! is applied once validators holding more than a third of the weight attested the same id at that height — at
//! least one of them honest, under the same bound (< 1/3 faulty weight) the BFT engine assumes, and honest
//! sampling nodes decide alike.
//!
//! Only ids and signers are kept (bodies come with the batch that completes the attestation), for at most
//! [`MAX_HEIGHTS_AHEAD`] heights and [`MAX_IDS_PER_HEIGHT`] competing ids per height.

use std::collections::{BTreeMap, BTreeSet};

use cairn_primitives::{Hash, Height, PublicKey, ValidatorSet};

/// Heights past our own for which attestations are kept.
pub(crate) const MAX_HEIGHTS_AHEAD: u64 = 1024;
/// Different block ids kept per height (peers on a fork, or lying).
pub(crate) const MAX_IDS_PER_HEIGHT: usize = 4;

#[derive(Default)]
pub(crate) struct Attestations {
    seen: BTreeMap<Height, BTreeMap<Hash, BTreeSet<PublicKey>>>,
}

impl Attestations {
    /// Records that `signers` attested block `id` at `height`, if within bounds (`ours`: our executed height).
    pub fn add(&mut self, ours: Height, height: Height, id: Hash, signers: &[PublicKey]) {
        if height <= ours || height.0 > ours.0 + MAX_HEIGHTS_AHEAD {
            return;
        }
        let ids = self.seen.entry(height).or_default();
        if !ids.contains_key(&id) && ids.len() >= MAX_IDS_PER_HEIGHT {
            return;
        }
        ids.entry(id).or_default().extend(signers.iter().copied());
    }

    /// Whether validators of `set` holding more than a third of its weight attested `id` at `height`.
    pub fn settled(&self, set: &ValidatorSet, height: Height, id: &Hash) -> bool {
        let Some(signers) = self.seen.get(&height).and_then(|ids| ids.get(id)) else { return false };
        let weight: u64 =
            set.validators().iter().filter(|v| signers.contains(&v.public_key)).map(|v| v.power).sum();
        weight.saturating_mul(3) > set.total_power()
    }

    /// Forgets heights at or below `height` (applied).
    pub fn prune(&mut self, height: Height) {
        self.seen = self.seen.split_off(&height.next());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::{Keypair, Validator};

    #[test]
    fn a_block_settles_only_with_over_a_third_of_the_weight_behind_one_id() {
        let keys: Vec<PublicKey> = (0..4).map(|i| Keypair::derived("attest", i).public()).collect();
        let set =
            ValidatorSet::new(keys.iter().map(|k| Validator { public_key: *k, power: 1 }).collect()).unwrap();
        let (h, a, b) = (Height(5), Hash::digest(b"a"), Hash::digest(b"b"));
        let mut at = Attestations::default();
        at.add(Height(4), h, a, &keys[..1]);
        assert!(!at.settled(&set, h, &a), "one peer's attestation (1/4) proves nothing");
        at.add(Height(4), h, b, &keys[1..2]);
        at.add(Height(4), h, a, &keys[..1]);
        assert!(!at.settled(&set, h, &a), "the same peer twice counts once");
        at.add(Height(4), h, a, &[Keypair::derived("stranger", 0).public()]);
        assert!(!at.settled(&set, h, &a), "non-validators weigh nothing");
        at.add(Height(4), h, a, &keys[2..3]);
        assert!(at.settled(&set, h, &a), "2/4 of the weight behind one id");
        assert!(!at.settled(&set, h, &b));
        at.prune(h);
        assert!(!at.settled(&set, h, &a), "applied heights are forgotten");
        at.add(Height(4), Height(4 + MAX_HEIGHTS_AHEAD + 1), a, &keys);
        assert!(at.seen.is_empty(), "too far ahead is not kept");
    }
}
