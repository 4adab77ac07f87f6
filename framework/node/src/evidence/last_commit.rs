//! The parent's finalization certificate as a block carries it.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_consensus::{Certificate, Vote};
use cairn_primitives::{PublicKey, Signature, ValidatorSet};

/// A finalization certificate keyed by public key instead of by index into the validator set: the block alone
/// then says who signed (what `FinalizeBlock` reports), while every validator still verifies each signature
/// against the set of `vote.height`. Signatures are sorted by key, one per key.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LastCommit {
    pub vote: Vote,
    pub signatures: Vec<(PublicKey, Signature)>,
}

impl LastCommit {
    /// The block form of a finalization certificate for a height `validators` decided; `None` for any other
    /// kind of certificate than BFT's finalizations (`Finalize` quorum, or fast-path unanimous `Notarize`; a
    /// sampling engine's attestation proves no quorum) or an index outside the set.
    pub fn from_certificate(cert: &Certificate, validators: &ValidatorSet) -> Option<LastCommit> {
        if !cert.is_finality_kind() {
            return None;
        }
        let mut signatures = Vec::with_capacity(cert.signers.len());
        for (index, signature) in &cert.signers {
            let v = validators.validators().get(*index as usize)?;
            signatures.push((v.public_key, *signature));
        }
        signatures.sort_by_key(|s| s.0);
        signatures.dedup_by(|a, b| a.0 == b.0);
        Some(LastCommit { vote: cert.vote, signatures })
    }

    pub fn signers(&self) -> impl Iterator<Item = &PublicKey> {
        self.signatures.iter().map(|(k, _)| k)
    }
}
