//! The kvstore's state and its app hash (specified in the README; the Python kvstore must reproduce it bit for bit).

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{Hash, PublicKey, Validator};

use crate::tx::{Tx, TxError, code};

/// Domain tag that starts the hashed bytes, so a kvstore app hash can never equal any other cairn hash.
pub const HASH_TAG: &[u8; 16] = b"cairn-kvstore/v1";

/// Everything the app knows after a block. Ordered maps: iteration order is the hash order.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct State {
    /// Height of the last finalized block (`initial_height - 1` at genesis).
    pub height: u64,
    pub kv: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Validator public key → power (never 0: removal deletes the entry).
    pub validators: BTreeMap<PublicKey, u64>,
}

impl State {
    /// The app hash: blake3 over the tag, the height, then every key/value pair and every validator in ascending
    /// byte order, each length-prefixed (see the README for the byte layout).
    pub fn app_hash(&self) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(HASH_TAG);
        h.update(&self.height.to_be_bytes());
        h.update(&(self.kv.len() as u64).to_be_bytes());
        for (k, v) in &self.kv {
            h.update(&(k.len() as u32).to_be_bytes());
            h.update(k);
            h.update(&(v.len() as u32).to_be_bytes());
            h.update(v);
        }
        h.update(&(self.validators.len() as u64).to_be_bytes());
        for (pk, power) in &self.validators {
            h.update(&pk.0);
            h.update(&power.to_be_bytes());
        }
        Hash(*h.finalize().as_bytes())
    }

    /// Applies one parsed tx; the error is a state rejection (code 3) and leaves the state unchanged.
    pub fn apply(&mut self, tx: Tx) -> Result<(), TxError> {
        match tx {
            Tx::Set { key, value } => {
                self.kv.insert(key, value);
                Ok(())
            }
            Tx::Validator { public_key, power: 0 } => {
                if !self.validators.contains_key(&public_key) {
                    return Err(TxError {
                        code: code::REJECTED,
                        reason: format!("{} is not a validator", public_key.to_hex()),
                    });
                }
                if self.validators.len() == 1 {
                    return Err(TxError {
                        code: code::REJECTED,
                        reason: "cannot remove the last validator".into(),
                    });
                }
                self.validators.remove(&public_key);
                Ok(())
            }
            Tx::Validator { public_key, power } => {
                self.validators.insert(public_key, power);
                Ok(())
            }
        }
    }

    /// The validator updates that turn `before`'s set into this one: every key whose power changed, with its new
    /// power (0 if removed), ascending by key. A key added and removed within the block produces nothing.
    pub fn validator_updates_since(&self, before: &State) -> Vec<Validator> {
        let mut keys: Vec<&PublicKey> = self.validators.keys().chain(before.validators.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter_map(|pk| {
                let old = before.validators.get(pk).copied().unwrap_or(0);
                let new = self.validators.get(pk).copied().unwrap_or(0);
                (old != new).then_some(Validator { public_key: *pk, power: new })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's test vector; the Python implementation checks the same one.
    pub(crate) fn vector_state() -> State {
        let mut s = State { height: 7, ..State::default() };
        s.kv.insert(b"b".to_vec(), b"2".to_vec());
        s.kv.insert(b"a".to_vec(), b"1".to_vec());
        s.kv.insert(vec![0xff, 0x00], vec![]);
        s.validators.insert(PublicKey([1; 32]), 10);
        s.validators.insert(PublicKey([0; 32]), 5);
        s
    }

    #[test]
    fn empty_state_hash_is_pinned() {
        assert_eq!(
            State::default().app_hash().to_hex(),
            "59f37b82ac5cce79e7297fd92f635e03dc7d3c161f9b2bb6200c704fd178d0d7"
        );
    }

    #[test]
    fn vector_state_hash_is_pinned() {
        assert_eq!(
            vector_state().app_hash().to_hex(),
            "c73b056ea1dbee3a95d30ac8b5b2546a7cd844b9af84d84832770c9b7fef9f23"
        );
    }

    #[test]
    fn hash_depends_on_every_part() {
        let base = vector_state().app_hash();
        let mut s = vector_state();
        s.height += 1;
        assert_ne!(s.app_hash(), base);
        let mut s = vector_state();
        s.kv.insert(b"a".to_vec(), b"1x".to_vec());
        assert_ne!(s.app_hash(), base);
        let mut s = vector_state();
        s.validators.insert(PublicKey([0; 32]), 6);
        assert_ne!(s.app_hash(), base);
        // Length prefixes: moving a byte from key to value changes the hash.
        let mut s1 = State::default();
        s1.kv.insert(b"ab".to_vec(), b"c".to_vec());
        let mut s2 = State::default();
        s2.kv.insert(b"a".to_vec(), b"bc".to_vec());
        assert_ne!(s1.app_hash(), s2.app_hash());
    }

    #[test]
    fn updates_report_net_changes_only() {
        let before = vector_state();
        let mut after = before.clone();
        after.apply(Tx::Validator { public_key: PublicKey([9; 32]), power: 3 }).unwrap();
        after.apply(Tx::Validator { public_key: PublicKey([9; 32]), power: 0 }).unwrap();
        after.apply(Tx::Validator { public_key: PublicKey([1; 32]), power: 11 }).unwrap();
        after.apply(Tx::Validator { public_key: PublicKey([0; 32]), power: 0 }).unwrap();
        assert_eq!(
            after.validator_updates_since(&before),
            vec![
                Validator { public_key: PublicKey([0; 32]), power: 0 },
                Validator { public_key: PublicKey([1; 32]), power: 11 },
            ]
        );
    }

    #[test]
    fn cannot_remove_unknown_or_last_validator() {
        let mut s = State::default();
        s.validators.insert(PublicKey([1; 32]), 1);
        let e = s.apply(Tx::Validator { public_key: PublicKey([2; 32]), power: 0 }).unwrap_err();
        assert_eq!(e.code, code::REJECTED);
        let e = s.apply(Tx::Validator { public_key: PublicKey([1; 32]), power: 0 }).unwrap_err();
        assert_eq!(e.reason, "cannot remove the last validator");
        assert_eq!(s.validators.len(), 1);
    }
}
