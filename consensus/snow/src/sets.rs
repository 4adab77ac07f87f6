//! The validator set of a height with what every message needs from it, computed once when the set arrives:
//! our own index and the scaled thresholds. Looking them up per message was a binary search over 32-byte keys
//! (the largest single cost of a 10,000-node simulation).

use std::sync::Arc;

use cairn_primitives::{PublicKey, ValidatorSet};

use crate::params::{Params, Scaled};
use crate::sampler::WeightedSampler;

/// One height's validator set, its shared sampler, and the values derived from them for this node.
#[derive(Clone, Debug)]
pub(crate) struct HeightSet {
    pub set: Arc<ValidatorSet>,
    pub sampler: Arc<WeightedSampler>,
    /// Our index in `set`, if we are a member.
    pub me: Option<u32>,
    /// The thresholds for `set.len()` minus ourselves (`Params::scaled`).
    pub scaled: Scaled,
}

impl HeightSet {
    pub fn new(
        set: Arc<ValidatorSet>,
        sampler: Arc<WeightedSampler>,
        me: &PublicKey,
        params: &Params,
    ) -> Self {
        let my_index = sampler.index_of(me);
        let scaled = params.scaled(set.len() - usize::from(my_index.is_some()));
        HeightSet { set, sampler, me: my_index, scaled }
    }

    /// The index of `key` in the set (a hash-map lookup), if it is a member.
    pub fn index_of(&self, key: &PublicKey) -> Option<u32> {
        self.sampler.index_of(key)
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{Keypair, Validator};

    use super::*;

    fn set(n: u64) -> Arc<ValidatorSet> {
        let v =
            (0..n).map(|i| Validator { public_key: Keypair::derived("hs", i).public(), power: 1 }).collect();
        Arc::new(ValidatorSet::new(v).unwrap())
    }

    #[test]
    fn derived_values_match_a_direct_computation() {
        let params = Params::default();
        let s = set(7);
        let member = Keypair::derived("hs", 3).public();
        let h = HeightSet::new(s.clone(), Arc::new(WeightedSampler::new(&s)), &member, &params);
        assert_eq!(h.me, s.index_of(&member).map(|i| i as u32));
        assert_eq!(h.scaled, params.scaled(6));
        // A non-member samples all 7 others.
        let outsider = Keypair::derived("hs", 99).public();
        let h = HeightSet::new(s.clone(), Arc::new(WeightedSampler::new(&s)), &outsider, &params);
        assert_eq!((h.me, h.scaled), (None, params.scaled(7)));
    }
}
