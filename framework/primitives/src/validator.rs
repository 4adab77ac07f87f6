//! Weighted validator sets and their quorum arithmetic, exact in integers.
//!
//! With total weight `T`, the set tolerates faulty weight `f` as long as `3f < T`; a *quorum* is weight `w`
//! with `3w > 2T`. Any two quorums then overlap in weight `> T/3 > f`, i.e. in at least one honest validator —
//! the fact every safety argument in cairn's engines rests on. All products are taken in `u128`, so no weight
//! vector can overflow or round its way into a wrong answer.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Error, Hash, PublicKey, hash_of};

/// Most validators a set may hold; bounds every per-validator allocation.
pub const MAX_VALIDATORS: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Validator {
    pub public_key: PublicKey,
    /// Voting weight. In an update, 0 removes the validator.
    pub power: u64,
}

/// Validators sorted by public key, with no duplicates and no zero weights.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, Serialize)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total: u64,
}

impl ValidatorSet {
    pub fn new(mut validators: Vec<Validator>) -> Result<ValidatorSet, Error> {
        if validators.is_empty() {
            return Err(Error::ValidatorSet("a validator set needs at least one validator".into()));
        }
        if validators.len() > MAX_VALIDATORS {
            return Err(Error::ValidatorSet(format!(
                "{} validators exceed the limit of {MAX_VALIDATORS}",
                validators.len()
            )));
        }
        validators.sort_by_key(|v| v.public_key);
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if v.power == 0 {
                return Err(Error::ValidatorSet(format!("validator {} has power 0", v.public_key)));
            }
            if i > 0 && validators[i - 1].public_key == v.public_key {
                return Err(Error::ValidatorSet(format!("validator {} appears twice", v.public_key)));
            }
            total = total
                .checked_add(v.power)
                .ok_or_else(|| Error::ValidatorSet("total power overflows u64".into()))?;
        }
        Ok(ValidatorSet { validators, total })
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    pub fn total_power(&self) -> u64 {
        self.total
    }

    /// Position of a validator in the sorted set (stable index for bitmaps and leader schedules).
    pub fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.validators.binary_search_by_key(key, |v| v.public_key).ok()
    }

    pub fn get(&self, key: &PublicKey) -> Option<&Validator> {
        self.index_of(key).map(|i| &self.validators[i])
    }

    /// Weight of `key`, 0 if it is not a member.
    pub fn power_of(&self, key: &PublicKey) -> u64 {
        self.get(key).map_or(0, |v| v.power)
    }

    pub fn contains(&self, key: &PublicKey) -> bool {
        self.index_of(key).is_some()
    }

    /// `3w > 2T`: strictly more than two thirds of the total weight.
    pub fn is_quorum(&self, weight: u64) -> bool {
        3 * weight as u128 > 2 * self.total as u128
    }

    /// The smallest weight that is a quorum: `⌊2T/3⌋ + 1`.
    pub fn quorum_threshold(&self) -> u64 {
        (2 * self.total as u128 / 3) as u64 + 1
    }

    /// The largest faulty weight the set tolerates: the largest `f` with `3f < T`, i.e. `⌊(T-1)/3⌋`.
    pub fn max_faulty(&self) -> u64 {
        (self.total - 1) / 3
    }

    /// Weight `w > f`: enough that at least one honest validator is among the signers.
    pub fn exceeds_faulty(&self, weight: u64) -> bool {
        weight > self.max_faulty()
    }

    /// The set after applying `updates` in order (power 0 removes; otherwise insert or replace).
    pub fn apply_updates(&self, updates: &[Validator]) -> Result<ValidatorSet, Error> {
        let mut map: std::collections::BTreeMap<PublicKey, u64> =
            self.validators.iter().map(|v| (v.public_key, v.power)).collect();
        for u in updates {
            if u.power == 0 {
                map.remove(&u.public_key);
            } else {
                u.public_key.validate()?;
                map.insert(u.public_key, u.power);
            }
        }
        ValidatorSet::new(
            map.into_iter().map(|(public_key, power)| Validator { public_key, power }).collect(),
        )
    }

    /// Commitment to the set; goes into headers as `validators_hash`.
    pub fn hash(&self) -> Hash {
        hash_of(self)
    }
}

impl BorshDeserialize for ValidatorSet {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let validators = Vec::<Validator>::deserialize_reader(reader)?;
        let total = u64::deserialize_reader(reader)?;
        let set = ValidatorSet::new(validators)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        if set.total != total {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "validator set total mismatch"));
        }
        Ok(set)
    }
}

impl<'de> Deserialize<'de> for ValidatorSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            validators: Vec<Validator>,
        }
        let raw = Raw::deserialize(d)?;
        ValidatorSet::new(raw.validators).map_err(serde::de::Error::custom)
    }
}
