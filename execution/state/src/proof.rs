//! Inclusion and exclusion proofs, and the verifier light clients run.

use borsh::io::{Error as IoError, ErrorKind, Read};
use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::Hash;

use crate::ProofError;
use crate::tree::{MAX_DEPTH, bit, common_prefix_bits, internal_hash, key_hash, leaf_hash, value_hash};

/// Largest encoded proof: sibling count, 256 siblings, the optional leaf.
pub const MAX_PROOF_BYTES: usize = 4 + MAX_DEPTH * 32 + 1 + 64;

/// The leaf a proof's path ends at: the key itself (inclusion) or another key occupying its path (exclusion).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProofLeaf {
    pub key_hash: Hash,
    pub value_hash: Hash,
}

/// A Merkle path for one key at one version: the sibling hashes from the root down, and what the path ends at
/// (`None`: an empty subtree, so the key is absent).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize)]
pub struct Proof {
    pub siblings: Vec<Hash>,
    pub leaf: Option<ProofLeaf>,
}

// Hand-written so a hostile length prefix is rejected before anything is allocated, however the proof is embedded.
impl BorshDeserialize for Proof {
    fn deserialize_reader<R: Read>(reader: &mut R) -> borsh::io::Result<Self> {
        let n = u32::deserialize_reader(reader)? as usize;
        if n > MAX_DEPTH {
            return Err(IoError::new(
                ErrorKind::InvalidData,
                format!("proof has {n} siblings, max {MAX_DEPTH}"),
            ));
        }
        let mut siblings = Vec::with_capacity(n);
        for _ in 0..n {
            siblings.push(Hash::deserialize_reader(reader)?);
        }
        let leaf = Option::<ProofLeaf>::deserialize_reader(reader)?;
        Ok(Proof { siblings, leaf })
    }
}

impl Proof {
    /// Canonical (borsh) bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.siblings.len() * 32 + 65);
        // Writing to a Vec cannot fail.
        let _ = self.serialize(&mut out);
        out
    }

    /// Decodes bytes from an untrusted source: bounded, and trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Proof, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::TooLarge { len: bytes.len(), max: MAX_PROOF_BYTES });
        }
        borsh::from_slice(bytes).map_err(|e| ProofError::Decode(e.to_string()))
    }
}

/// Checks that, in the tree with root `root`, `key` maps to `value` (`None`: the key is absent).
///
/// The root is recomputed from the proof first, so a proof that does not belong to `root` is reported as
/// [`ProofError::RootMismatch`] whatever it claims; then the claim is checked against what the proof shows.
pub fn verify_proof(root: &Hash, key: &[u8], value: Option<&[u8]>, proof: &Proof) -> Result<(), ProofError> {
    let depth = proof.siblings.len();
    if depth > MAX_DEPTH {
        return Err(ProofError::TooDeep { depth, max: MAX_DEPTH });
    }
    let kh = key_hash(key);
    let mut acc = match &proof.leaf {
        Some(l) => leaf_hash(&l.key_hash, &l.value_hash),
        None => Hash::ZERO,
    };
    for (i, sibling) in proof.siblings.iter().enumerate().rev() {
        acc = if bit(&kh, i) == 0 { internal_hash(&acc, sibling) } else { internal_hash(sibling, &acc) };
    }
    if acc != *root {
        return Err(ProofError::RootMismatch { expected: *root, computed: acc });
    }
    match (&proof.leaf, value) {
        (Some(l), _) if l.key_hash != kh && common_prefix_bits(&l.key_hash, &kh) < depth => {
            Err(ProofError::LeafOffPath)
        }
        (Some(l), Some(v)) if l.key_hash == kh => {
            if l.value_hash == value_hash(v) {
                Ok(())
            } else {
                Err(ProofError::ValueMismatch)
            }
        }
        (Some(l), None) if l.key_hash == kh => Err(ProofError::KeyPresent),
        (_, Some(_)) => Err(ProofError::KeyAbsent),
        (_, None) => Ok(()),
    }
}
