//! Weighted, rotating leader schedule.

use cairn_primitives::{Hash, Height, PublicKey, ValidatorSet};

/// The leader of (`height`, `view`): a validator drawn with probability proportional to its weight, by a hash
/// of the chain's seed, the height and the view. Every node computes the same answer; nobody can choose it.
pub fn leader(validators: &ValidatorSet, seed: &Hash, height: Height, view: u64) -> PublicKey {
    let h = Hash::digest_parts(&[b"cairn/bft/leader", &seed.0, &height.0.to_le_bytes(), &view.to_le_bytes()]);
    let mut wide = [0u8; 16];
    wide.copy_from_slice(&h.0[..16]);
    // u128 modulo keeps the bias below 2^-64 for any u64 total.
    let mut point = (u128::from_le_bytes(wide) % u128::from(validators.total_power().max(1))) as u64;
    for v in validators.validators() {
        if point < v.power {
            return v.public_key;
        }
        point -= v.power;
    }
    // Unreachable for a valid set (point < total); fall back to the first validator rather than panic.
    validators.validators().first().map(|v| v.public_key).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{Keypair, Validator};

    use super::*;

    #[test]
    fn weight_proportional() {
        let a = Keypair::derived("l", 0).public();
        let b = Keypair::derived("l", 1).public();
        let set = ValidatorSet::new(vec![
            Validator { public_key: a, power: 3 },
            Validator { public_key: b, power: 1 },
        ])
        .unwrap();
        let seed = Hash::digest(b"seed");
        let picks_a = (0..4000).filter(|&v| leader(&set, &seed, Height(1), v) == a).count();
        assert!((2700..3300).contains(&picks_a), "a led {picks_a} of 4000 views");
    }
}
