//! The fallback committee of a height: who runs the quorum epoch, and whose `Finalize` votes make its certificate.
//!
//! An all-to-all quorum round costs every validator O(n) messages and signature checks per view (≈ 10⁸ deliveries
//! per view at n = 10,000). So once the set has more than `Params::committee_seats` validators, the fallback of
//! height h is run by a committee: `seats` seats drawn by weight **with replacement** from
//! `blake3("cairn/snow/committee" ‖ seed ‖ h)`; a validator drawn s times is a member of weight s. Every node
//! computes the same committee from public data, so a certificate of > 2/3 of the committee's seats is checkable
//! by anyone holding the height's validator set (`verify_fallback_certificate`). Each seat is Byzantine with
//! probability equal to the Byzantine share of the weight, independently, so the number of Byzantine seats is
//! exactly `Binomial(seats, f)`; the committee is safe while it is `< seats / 3` (see the crate docs for the
//! figure). Sets of at most `seats` validators use the whole set with its own weights (deterministic `3f < T`).

use std::sync::{Arc, Mutex};

use cairn_consensus::{Certificate, Error as CertError, SignatureVerifier};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator, ValidatorSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::SnowEngine;

/// Committees kept in a [`CommitteeCache`] (a node needs the current height's and a few finalized ones).
const CACHED_COMMITTEES: usize = 8;

/// The committee that runs (and certifies) the fallback of `height` over `set` — see the module docs.
pub fn fallback_committee(set: &ValidatorSet, seed: &Hash, height: Height, seats: u32) -> ValidatorSet {
    if set.len() <= seats as usize {
        return set.clone();
    }
    let mut prefix = Vec::with_capacity(set.len());
    let mut acc = 0u64;
    for v in set.validators() {
        acc = acc.saturating_add(v.power);
        prefix.push(acc);
    }
    let digest = Hash::digest_parts(&[b"cairn/snow/committee", &seed.0, &height.0.to_le_bytes()]);
    let mut rng = ChaCha8Rng::from_seed(digest.0);
    // Seat counts per validator index, kept sorted by index (the set's key order), no hash map.
    let mut drawn: Vec<u32> = (0..seats)
        .map(|_| {
            let point = rng.gen_range(0..acc.max(1));
            prefix.partition_point(|p| *p <= point) as u32
        })
        .collect();
    drawn.sort_unstable();
    let mut members: Vec<Validator> = Vec::new();
    for i in drawn {
        let key = set.validators()[i as usize].public_key;
        match members.last_mut() {
            Some(last) if last.public_key == key => last.power += 1,
            _ => members.push(Validator { public_key: key, power: 1 }),
        }
    }
    // Non-empty (seats ≥ 1 when the set is larger than seats), sorted, unique, weights ≥ 1: cannot fail.
    ValidatorSet::new(members).unwrap_or_else(|_| set.clone())
}

/// Checks a fallback certificate: signers holding > 2/3 of the seats of its height's committee, every signature
/// valid (signer indices are positions in the committee). What a syncing node or a light client runs, after
/// checking that the vote is the `Finalize` of the block it is given.
pub fn verify_fallback_certificate(
    certificate: &Certificate,
    set: &ValidatorSet,
    seed: &Hash,
    seats: u32,
    chain_id: &ChainId,
    verifier: &dyn SignatureVerifier,
) -> Result<(), CertError> {
    let committee = fallback_committee(set, seed, certificate.vote.height, seats);
    certificate.verify_with(&committee, chain_id, verifier)
}

/// A height's committee with this node's place in it.
#[derive(Clone, Debug)]
pub(crate) struct Committee {
    pub set: Arc<ValidatorSet>,
    /// Our index in `set`, if we hold a seat.
    pub me: Option<u32>,
    /// The committee is the whole validator set (broadcast reaches exactly it).
    pub whole: bool,
}

impl Committee {
    pub fn index_of(&self, key: &PublicKey) -> Option<u32> {
        self.set.index_of(key).map(|i| i as u32)
    }
}

/// Shares committees between the engines of one process (the simulator runs thousands of nodes that would each
/// draw and hold the same one). Keyed by seed, height and set (pointer, then value); order never matters.
impl SnowEngine {
    /// The fallback committee of `height` and our seat in it (`None` while the height's set is unknown).
    pub(crate) fn committee_of(&self, height: Height) -> Option<Committee> {
        let hs = self.set(height)?;
        let set = self.cfg.samplers.committees.get(
            &hs.set,
            &self.cfg.seed,
            height,
            self.cfg.params.committee_seats,
        );
        let whole = Arc::ptr_eq(&set, &hs.set);
        let me = if whole { hs.me } else { set.index_of(&self.me).map(|i| i as u32) };
        Some(Committee { set, me, whole })
    }
}

#[derive(Default)]
pub struct CommitteeCache {
    #[allow(clippy::type_complexity)]
    entries: Mutex<Vec<(Hash, Height, u32, Arc<ValidatorSet>, Arc<ValidatorSet>)>>,
}

impl CommitteeCache {
    pub(crate) fn get(
        &self,
        set: &Arc<ValidatorSet>,
        seed: &Hash,
        height: Height,
        seats: u32,
    ) -> Arc<ValidatorSet> {
        if set.len() <= seats as usize {
            return set.clone();
        }
        let Ok(mut entries) = self.entries.lock() else {
            return Arc::new(fallback_committee(set, seed, height, seats));
        };
        if let Some((.., c)) = entries.iter().find(|(s, h, n, base, _)| {
            s == seed && *h == height && *n == seats && (Arc::ptr_eq(base, set) || **base == **set)
        }) {
            return c.clone();
        }
        let committee = Arc::new(fallback_committee(set, seed, height, seats));
        if entries.len() >= CACHED_COMMITTEES {
            entries.remove(0);
        }
        entries.push((*seed, height, seats, set.clone(), committee.clone()));
        committee
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::Keypair;

    use super::*;

    fn set(n: u64) -> ValidatorSet {
        ValidatorSet::new(
            (0..n).map(|i| Validator { public_key: Keypair::derived("c", i).public(), power: 1 }).collect(),
        )
        .unwrap()
    }

    #[test]
    fn small_sets_are_their_own_committee() {
        let s = set(50);
        assert_eq!(fallback_committee(&s, &Hash::ZERO, Height(3), 400), s);
    }

    #[test]
    fn large_sets_draw_seats_deterministically_per_height() {
        let s = set(2_000);
        let a = fallback_committee(&s, &Hash::ZERO, Height(3), 400);
        assert_eq!(a.total_power(), 400);
        assert!(a.len() < 400 && a.len() > 300, "{}", a.len());
        assert!(a.validators().iter().all(|v| s.get(&v.public_key).is_some()));
        assert_eq!(a, fallback_committee(&s, &Hash::ZERO, Height(3), 400));
        assert_ne!(a, fallback_committee(&s, &Hash::ZERO, Height(4), 400));
        let cache = CommitteeCache::default();
        let shared = Arc::new(s);
        let c = cache.get(&shared, &Hash::ZERO, Height(3), 400);
        assert_eq!(*c, a);
        assert!(Arc::ptr_eq(&c, &cache.get(&shared, &Hash::ZERO, Height(3), 400)));
    }

    #[test]
    fn seats_follow_weight() {
        let mut v: Vec<Validator> = (0..1_000)
            .map(|i| Validator { public_key: Keypair::derived("w", i).public(), power: 1 })
            .collect();
        v[0].power = 1_000; // half of the weight
        let heavy = v[0].public_key;
        let s = ValidatorSet::new(v).unwrap();
        let c = fallback_committee(&s, &Hash::ZERO, Height(1), 400);
        let seats = c.get(&heavy).unwrap().power;
        assert!((150..=250).contains(&seats), "{seats}");
    }
}
