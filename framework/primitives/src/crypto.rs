//! ed25519 keys and domain-separated signatures.
//!
//! A signature never covers bare bytes: it covers `cairn/v1 ‖ chain id ‖ purpose ‖ message` (each part
//! length-prefixed). The same key therefore cannot be tricked into a signature that verifies for another purpose
//! (a vote replayed as a tx) or on another chain (a tx replayed on a spin-off).

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::hash::parse_hex32;
use crate::{ChainId, Error};

/// What a signature is for. The tag is part of the signed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A transaction envelope.
    Tx,
    /// A consensus proposal.
    Proposal,
    /// A consensus vote (notarize, nullify, finalize, poll answer).
    Vote,
    /// A p2p handshake binding a network identity to a consensus key.
    Handshake,
}

impl Purpose {
    pub fn tag(self) -> &'static str {
        match self {
            Purpose::Tx => "tx",
            Purpose::Proposal => "proposal",
            Purpose::Vote => "vote",
            Purpose::Handshake => "handshake",
        }
    }
}

/// The exact bytes that get signed.
pub(crate) fn signing_bytes(chain_id: &ChainId, purpose: Purpose, message: &[u8]) -> Vec<u8> {
    const PREFIX: &[u8] = b"cairn/v1";
    let mut out = Vec::with_capacity(PREFIX.len() + 24 + chain_id.as_str().len() + message.len() + 16);
    for part in [PREFIX, chain_id.as_str().as_bytes(), purpose.tag().as_bytes(), message] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// An ed25519 public key (32 compressed bytes). Ordered, so validator sets sort deterministically.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Verifies `signature` over `message` for `purpose` on `chain_id`.
    pub fn verify(
        &self,
        chain_id: &ChainId,
        purpose: Purpose,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), Error> {
        self.check(chain_id, purpose, message, signature, false)
    }

    /// Like [`PublicKey::verify`], with ed25519-dalek's strict checks: small-order (weak) keys and non-canonical
    /// signature points are refused. A weak key "signs" any message with a fixed signature, so one would let
    /// anyone send txs as that account; txs (and the host's `ed25519_verify`) use this.
    pub fn verify_strict(
        &self,
        chain_id: &ChainId,
        purpose: Purpose,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), Error> {
        self.check(chain_id, purpose, message, signature, true)
    }

    fn check(
        &self,
        chain_id: &ChainId,
        purpose: Purpose,
        message: &[u8],
        signature: &Signature,
        strict: bool,
    ) -> Result<(), Error> {
        let bad = || Error::BadSignature { chain_id: chain_id.to_string(), purpose: purpose.tag() };
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| bad())?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        let bytes = signing_bytes(chain_id, purpose, message);
        let checked = if strict { key.verify_strict(&bytes, &sig) } else { key.verify(&bytes, &sig) };
        checked.map_err(|_| bad())
    }

    /// Checks the bytes are a valid curve point (a key that could ever verify anything).
    pub fn validate(&self) -> Result<(), Error> {
        VerifyingKey::from_bytes(&self.0).map(|_| ()).map_err(|_| Error::PublicKey)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<PublicKey, Error> {
        parse_hex32(s, "public key").map(PublicKey)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", &self.to_hex()[..10])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub const EMPTY: Signature = Signature([0; 64]);
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", &hex::encode(self.0)[..10])
    }
}

/// A signing key. Deliberately not `Debug`/`Serialize`: secrets leave only through [`Keypair::secret_hex`].
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh key from the OS random source (key generation only; never used in consensus code).
    pub fn generate() -> Keypair {
        Keypair { signing: SigningKey::generate(&mut rand_core::OsRng) }
    }

    /// A key from a 32-byte seed: deterministic keys for tests, the simulator and devnets.
    pub fn from_seed(seed: [u8; 32]) -> Keypair {
        Keypair { signing: SigningKey::from_bytes(&seed) }
    }

    /// Deterministic key number `i` of a named devnet/simulation: `blake3(label ‖ i)` as the seed.
    pub fn derived(label: &str, i: u64) -> Keypair {
        Keypair::from_seed(crate::Hash::digest_parts(&[label.as_bytes(), &i.to_le_bytes()]).0)
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    pub fn sign(&self, chain_id: &ChainId, purpose: Purpose, message: &[u8]) -> Signature {
        Signature(self.signing.sign(&signing_bytes(chain_id, purpose, message)).to_bytes())
    }

    pub fn secret_hex(&self) -> String {
        hex::encode(self.signing.to_bytes())
    }

    pub fn from_secret_hex(s: &str) -> Result<Keypair, Error> {
        parse_hex32(s, "secret key").map(Keypair::from_seed)
    }
}

macro_rules! hex_serde {
    ($ty:ident, $from:expr) => {
        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as Deserialize>::deserialize(d)?;
                $from(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_serde!(PublicKey, PublicKey::from_hex);
hex_serde!(Signature, |s: &str| -> Result<Signature, String> {
    let v = hex::decode(s).map_err(|e| e.to_string())?;
    let arr: [u8; 64] = v.try_into().map_err(|_| "signature must be 64 bytes".to_string())?;
    Ok(Signature(arr))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_separation() {
        let k = Keypair::derived("test", 0);
        let a: ChainId = "alpha".parse().unwrap();
        let b: ChainId = "beta".parse().unwrap();
        let s = k.sign(&a, Purpose::Vote, b"m");
        assert!(k.public().verify(&a, Purpose::Vote, b"m", &s).is_ok());
        assert!(k.public().verify(&a, Purpose::Tx, b"m", &s).is_err());
        assert!(k.public().verify(&b, Purpose::Vote, b"m", &s).is_err());
        assert!(k.public().verify(&a, Purpose::Vote, b"n", &s).is_err());
    }

    #[test]
    fn secret_round_trip() {
        let k = Keypair::derived("test", 7);
        let k2 = Keypair::from_secret_hex(&k.secret_hex()).unwrap();
        assert_eq!(k.public(), k2.public());
    }
}
