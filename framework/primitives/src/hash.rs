use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A blake3 digest. Ordered so it can key a `BTreeMap` deterministically.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// blake3 of raw bytes.
    pub fn digest(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// blake3 of several byte strings, each length-prefixed so `("ab","c")` and `("a","bc")` differ.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let mut h = blake3::Hasher::new();
        for p in parts {
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Hash(*h.finalize().as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Hash, Error> {
        parse_hex32(s, "hash").map(Hash)
    }
}

pub(crate) fn parse_hex32(s: &str, what: &'static str) -> Result<[u8; 32], Error> {
    let v = hex::decode(s.trim()).map_err(|e| Error::Hex { what, reason: e.to_string() })?;
    v.try_into()
        .map_err(|v: Vec<u8>| Error::Hex { what, reason: format!("expected 32 bytes, got {}", v.len()) })
}

/// Hash of a value's canonical (borsh) encoding.
pub fn hash_of<T: BorshSerialize>(value: &T) -> Hash {
    Hash::digest(&crate::encode(value))
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..12])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        Hash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
