//! A hash map from public keys to node indices with a cheap hash: the simulator looks up the destination of
//! every message sent, and SipHash over 32 bytes was a visible share of a 10,000-node run.
//!
//! The keys are the simulator's own derived ed25519 keys (uniformly distributed bytes), so the first eight bytes
//! are already a good hash; nothing adversarial chooses them. The map is only looked up, never iterated, so its
//! order cannot reach results.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use cairn_primitives::PublicKey;

/// Key → node index.
pub(crate) type KeyMap = HashMap<PublicKey, usize, BuildHasherDefault<PrefixHasher>>;

/// Hashes bytes by folding them eight at a time (for 32-byte keys: four multiply-xor rounds).
#[derive(Default)]
pub(crate) struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::Keypair;

    use super::*;

    #[test]
    fn finds_every_key_and_only_those() {
        let keys: Vec<PublicKey> = (0..2_000).map(|i| Keypair::derived("km", i).public()).collect();
        let map: KeyMap = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(k), Some(&i));
        }
        assert_eq!(map.get(&Keypair::derived("km", 5_000).public()), None);
    }
}
