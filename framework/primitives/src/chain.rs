use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::hash::parse_hex32;
use crate::{Error, Hash, PublicKey};

/// A chain's name, signed into every signature. 1–64 characters of `[A-Za-z0-9._-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, Serialize)]
pub struct ChainId(String);

impl ChainId {
    pub const MAX_LEN: usize = 64;

    pub fn new(id: impl Into<String>) -> Result<ChainId, Error> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("must not be empty")
        } else if id.len() > Self::MAX_LEN {
            Some("longer than 64 characters")
        } else if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            Some("only letters, digits, '.', '_' and '-' are allowed")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::ChainId { id, reason }),
            None => Ok(ChainId(id)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ChainId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ChainId::new(s)
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl BorshDeserialize for ChainId {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        // Bound the length before allocating: borsh would otherwise trust the 4-byte prefix.
        let len = u32::deserialize_reader(reader)? as usize;
        if len > Self::MAX_LEN {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "chain id too long"));
        }
        let mut buf = vec![0u8; len];
        reader.read_exact(&mut buf)?;
        let s =
            String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        ChainId::new(s).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
    }
}

impl<'de> Deserialize<'de> for ChainId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ChainId::new(<String as Deserialize>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A block height. Genesis state is height 0; the first block is height 1.
#[derive(
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

impl Height {
    pub const GENESIS: Height = Height(0);

    pub fn next(self) -> Height {
        Height(self.0.saturating_add(1))
    }

    /// The height at which a validator-set update returned by `FinalizeBlock(self)` takes effect.
    pub fn activation_of_update(self) -> Height {
        Height(self.0.saturating_add(2))
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}", self.0)
    }
}

/// A 32-byte account or module address. An account's address is its public key's bytes; a module instance's
/// address is derived from its code and creator (see `Address::for_instance`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// Address of a module instance: `blake3("instance" ‖ code id ‖ creator ‖ creator's instance counter)`.
    pub fn for_instance(code_id: &Hash, creator: &Address, counter: u64) -> Address {
        Address(Hash::digest_parts(&[b"instance", code_id.as_bytes(), &creator.0, &counter.to_le_bytes()]).0)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Address, Error> {
        parse_hex32(s, "address").map(Address)
    }
}

impl From<PublicKey> for Address {
    fn from(pk: PublicKey) -> Address {
        Address(pk.0)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "addr:{}", &self.to_hex()[..10])
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Address::from_hex(&<String as Deserialize>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
