//! How much of a bounded resource each peer holds (queued messages, cached bodies, requests in service), so each
//! bound can give one peer only its share. A key that holds nothing is forgotten, so the map never outgrows the
//! resource it counts.

use std::collections::BTreeMap;

use cairn_primitives::PublicKey;

#[derive(Debug, Default)]
pub(crate) struct PerKey(BTreeMap<PublicKey, usize>);

impl PerKey {
    /// What `key` holds now.
    pub fn get(&self, key: &PublicKey) -> usize {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn add(&mut self, key: PublicKey, n: usize) {
        *self.0.entry(key).or_default() += n;
    }

    /// Gives back `n` of what `key` holds (never below zero).
    pub fn sub(&mut self, key: &PublicKey, n: usize) {
        if let Some(held) = self.0.get_mut(key) {
            *held = held.saturating_sub(n);
            if *held == 0 {
                self.0.remove(key);
            }
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
