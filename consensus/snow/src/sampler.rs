//! Weighted sampling without replacement over a validator set, and a cache that lets many engines in one
//! process (the simulator) share the prefix sums of a set instead of holding one copy each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_primitives::{PublicKey, ValidatorSet};
use rand::Rng;

use crate::committee::CommitteeCache;

/// Sets kept in a [`SamplerCache`] (a chain uses a handful at a time).
const CACHED_SETS: usize = 16;

/// Prefix sums of a validator set's weights, for O(log n) weighted draws.
#[derive(Debug)]
pub struct WeightedSampler {
    /// `prefix[i]` = total weight of validators `0..=i`.
    prefix: Vec<u64>,
    /// Key → index. Only looked up, never iterated, so its order cannot leak into decisions; it replaces a
    /// binary search over 32-byte keys on every message.
    index: HashMap<PublicKey, u32>,
}

impl WeightedSampler {
    pub fn new(set: &ValidatorSet) -> WeightedSampler {
        let mut acc = 0u64;
        let prefix = set
            .validators()
            .iter()
            .map(|v| {
                acc = acc.saturating_add(v.power);
                acc
            })
            .collect();
        let index = set.validators().iter().enumerate().map(|(i, v)| (v.public_key, i as u32)).collect();
        WeightedSampler { prefix, index }
    }

    /// The index of `key` in the set, if it is a member.
    pub fn index_of(&self, key: &PublicKey) -> Option<u32> {
        self.index.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefix.is_empty()
    }

    fn total(&self) -> u64 {
        self.prefix.last().copied().unwrap_or(0)
    }

    fn weight(&self, i: usize) -> u64 {
        let below = if i == 0 { 0 } else { self.prefix.get(i - 1).copied().unwrap_or(0) };
        self.prefix.get(i).copied().unwrap_or(0) - below
    }

    /// One index drawn with probability proportional to weight.
    fn draw(&self, rng: &mut impl Rng) -> usize {
        let point = rng.gen_range(0..self.total().max(1));
        self.prefix.partition_point(|p| *p <= point)
    }

    /// Up to `k` distinct indices, drawn by weight without replacement, never `exclude`. Appends to `out`.
    ///
    /// Rejection sampling (draw, skip repeats) is exact for sampling without replacement and fast when `k` is
    /// small next to the set; when it keeps hitting repeats (tiny or very skewed sets) the draw finishes with an
    /// exact sequential method over the remaining weight.
    pub fn sample(&self, rng: &mut impl Rng, k: usize, exclude: Option<usize>, out: &mut Vec<u32>) {
        let start = out.len();
        let available = self.len() - usize::from(exclude.is_some_and(|e| e < self.len()));
        let k = k.min(available);
        let mut attempts = 0;
        while out.len() - start < k && attempts < 8 * k + 16 {
            attempts += 1;
            let i = self.draw(rng);
            if Some(i) == exclude || out[start..].contains(&(i as u32)) {
                continue;
            }
            out.push(i as u32);
        }
        while out.len() - start < k {
            let taken = |i: usize| Some(i) == exclude || out[start..].contains(&(i as u32));
            let remaining: u64 = (0..self.len()).filter(|i| !taken(*i)).map(|i| self.weight(i)).sum();
            let mut point = rng.gen_range(0..remaining.max(1));
            let mut chosen = None;
            for i in (0..self.len()).filter(|i| !taken(*i)) {
                let w = self.weight(i);
                if point < w {
                    chosen = Some(i);
                    break;
                }
                point -= w;
            }
            match chosen {
                Some(i) => out.push(i as u32),
                None => break,
            }
        }
    }
}

/// Shares [`WeightedSampler`]s between engines: a 10,000-node simulation would otherwise hold 10,000 copies of
/// each set's prefix sums. Lookups compare sets by pointer, then by value; the answer never depends on order.
#[derive(Default)]
pub struct SamplerCache {
    sets: Mutex<Vec<(Arc<ValidatorSet>, Arc<WeightedSampler>)>>,
    /// Fallback committees drawn from those sets, shared the same way.
    pub(crate) committees: CommitteeCache,
}

impl SamplerCache {
    pub fn get(&self, set: &Arc<ValidatorSet>) -> Arc<WeightedSampler> {
        let Ok(mut sets) = self.sets.lock() else { return Arc::new(WeightedSampler::new(set)) };
        if let Some((_, s)) = sets.iter().find(|(k, _)| Arc::ptr_eq(k, set) || **k == **set) {
            return s.clone();
        }
        let sampler = Arc::new(WeightedSampler::new(set));
        if sets.len() >= CACHED_SETS {
            sets.remove(0);
        }
        sets.push((set.clone(), sampler.clone()));
        sampler
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{Keypair, Validator};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn set(weights: &[u64]) -> ValidatorSet {
        ValidatorSet::new(
            weights
                .iter()
                .enumerate()
                .map(|(i, w)| Validator { public_key: Keypair::derived("s", i as u64).public(), power: *w })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn distinct_and_excluding() {
        let s = WeightedSampler::new(&set(&[1; 30]));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let mut out = Vec::new();
            s.sample(&mut rng, 20, Some(3), &mut out);
            assert_eq!(out.len(), 20);
            assert!(!out.contains(&3));
            let mut d = out.clone();
            d.sort_unstable();
            d.dedup();
            assert_eq!(d.len(), 20);
        }
    }

    #[test]
    fn small_set_samples_everyone_else() {
        let s = WeightedSampler::new(&set(&[1; 7]));
        let mut out = Vec::new();
        s.sample(&mut ChaCha8Rng::seed_from_u64(2), 20, Some(0), &mut out);
        out.sort_unstable();
        assert_eq!(out, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn heavy_validators_are_drawn_more_and_skew_terminates() {
        let s = WeightedSampler::new(&set(&[1000, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut first = [0u32; 10];
        for _ in 0..1000 {
            let mut out = Vec::new();
            s.sample(&mut rng, 5, None, &mut out);
            assert_eq!(out.len(), 5);
            first[out[0] as usize] += 1;
        }
        let heavy = WeightedSampler::new(&set(&[1000, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(heavy.len() == 10);
        // The 1000-weight validator is almost always drawn first.
        let sorted_idx = set(&[1000, 1, 1, 1, 1, 1, 1, 1, 1, 1])
            .validators()
            .iter()
            .position(|v| v.power == 1000)
            .unwrap();
        assert!(first[sorted_idx] > 950, "{first:?}");
    }

    #[test]
    fn cache_shares_equal_sets() {
        let cache = SamplerCache::default();
        let a = Arc::new(set(&[1; 5]));
        let b = Arc::new(set(&[1; 5]));
        assert!(Arc::ptr_eq(&cache.get(&a), &cache.get(&b)));
        assert!(!Arc::ptr_eq(&cache.get(&a), &cache.get(&Arc::new(set(&[2; 5])))));
    }
}
