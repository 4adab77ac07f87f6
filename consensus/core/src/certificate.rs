//! Certificates: one statement signed by strictly more than 2/3 of a height's validator weight.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{ChainId, Hash, PublicKey, Signature, ValidatorSet};
use serde::{Deserialize, Serialize};

use crate::{Error, PlainVerifier, SignatureVerifier, Vote, VoteKind};

/// Most signers a certificate may list (bounds decoding and verification work).
pub const MAX_CERTIFICATE_SIGNERS: usize = 10_000;

/// `vote` signed by the validators at `signers` (indices into the validator set of `vote.height`, strictly
/// increasing). Anyone holding that validator set can check it; nothing else is trusted.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Certificate {
    pub vote: Vote,
    pub signers: Vec<(u32, Signature)>,
    /// Only in a nullification (`Nullify` of `Hash::ZERO`): the signers whose `Nullify` names the block they
    /// had notarized in the view, which BFT's fast path needs to know (strictly increasing, each one of
    /// `signers`, none `Hash::ZERO`). Every other signer signed `vote` itself. Empty in every other certificate.
    #[serde(default)]
    pub claims: Vec<(u32, Hash)>,
}

impl Certificate {
    /// A certificate in which every signer signed `vote` itself.
    pub fn new(vote: Vote, signers: Vec<(u32, Signature)>) -> Certificate {
        Certificate { vote, signers, claims: Vec::new() }
    }

    /// The vote signer `index` signed: `vote`, or for a nullification its claim.
    pub fn vote_of(&self, index: u32) -> Vote {
        match self.claims.binary_search_by_key(&index, |(i, _)| *i) {
            Ok(at) => Vote { block: self.claims[at].1, ..self.vote },
            Err(_) => self.vote,
        }
    }

    /// Checks that this certificate proves `vote.block` final at `vote.height`: a quorum of `Finalize` votes, or
    /// `Notarize` votes of *all* the weight (BFT's two-round fast path; see cairn-bft's README).
    pub fn verify_finality(
        &self,
        validators: &ValidatorSet,
        chain_id: &ChainId,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), Error> {
        match self.vote.kind {
            VoteKind::Finalize => self.verify_with(validators, chain_id, verifier),
            VoteKind::Notarize => {
                let (weight, _) = self.verify_signers(validators, chain_id, verifier)?;
                if weight != validators.total_power() {
                    return Err(Error::NotUnanimous { weight, total: validators.total_power() });
                }
                Ok(())
            }
            kind => Err(Error::NotFinality(kind)),
        }
    }

    /// Whether this could prove finality by its kind (what [`Certificate::verify_finality`] then checks).
    pub fn is_finality_kind(&self) -> bool {
        self.vote.kind.can_finalize()
    }
    /// Checks every signature against `validators` (the set of `vote.height`) and that the signers hold a quorum.
    pub fn verify(&self, validators: &ValidatorSet, chain_id: &ChainId) -> Result<(), Error> {
        self.verify_with(validators, chain_id, &PlainVerifier)
    }

    /// [`Certificate::verify`] with a chosen signature verifier (the simulator's shared cache).
    pub fn verify_with(
        &self,
        validators: &ValidatorSet,
        chain_id: &ChainId,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(), Error> {
        let (weight, _) = self.verify_signers(validators, chain_id, verifier)?;
        if !validators.is_quorum(weight) {
            return Err(Error::NoQuorum { weight, total: validators.total_power() });
        }
        Ok(())
    }

    /// Checks the structure and every signature, quorum or not, and returns the signers' weight and keys (a
    /// sampling engine's attestation is signed by one validator; a syncing node adds several up).
    pub fn verify_signers(
        &self,
        validators: &ValidatorSet,
        chain_id: &ChainId,
        verifier: &dyn SignatureVerifier,
    ) -> Result<(u64, Vec<PublicKey>), Error> {
        let weight = self.check_structure(validators)?;
        let purpose = self.vote.kind.purpose();
        let mut keys = Vec::with_capacity(self.signers.len());
        for (index, signature) in &self.signers {
            // check_structure proved every index is in range.
            let Some(v) = validators.validators().get(*index as usize) else {
                return Err(Error::UnknownSigner { index: *index, len: validators.len() });
            };
            let message = self.vote_of(*index).signing_bytes();
            if !verifier.verify(chain_id, purpose, &v.public_key, &message, signature) {
                return Err(Error::BadSignature { signer: v.public_key.to_hex() });
            }
            keys.push(v.public_key);
        }
        Ok((weight, keys))
    }

    /// Checks indices (sorted, unique, in range) and returns the signers' total weight, without signatures.
    pub fn check_structure(&self, validators: &ValidatorSet) -> Result<u64, Error> {
        if self.signers.is_empty() {
            return Err(Error::EmptyCertificate);
        }
        if self.signers.len() > MAX_CERTIFICATE_SIGNERS {
            return Err(Error::TooManySigners { count: self.signers.len(), max: MAX_CERTIFICATE_SIGNERS });
        }
        let mut weight: u64 = 0;
        let mut previous: Option<u32> = None;
        for (index, _) in &self.signers {
            if previous.is_some_and(|p| p >= *index) {
                return Err(Error::UnsortedSigners { index: *index });
            }
            previous = Some(*index);
            let v = validators
                .validators()
                .get(*index as usize)
                .ok_or(Error::UnknownSigner { index: *index, len: validators.len() })?;
            weight = weight.saturating_add(v.power);
        }
        if !self.claims.is_empty() {
            if self.vote.kind != VoteKind::Nullify || self.vote.block != Hash::ZERO {
                return Err(Error::BadClaims("only a nullification names claims"));
            }
            let mut previous: Option<u32> = None;
            for (index, block) in &self.claims {
                if previous.is_some_and(|p| p >= *index) || *block == Hash::ZERO {
                    return Err(Error::BadClaims("claims must be strictly increasing and name a block"));
                }
                previous = Some(*index);
                if self.signers.binary_search_by_key(index, |(i, _)| *i).is_err() {
                    return Err(Error::BadClaims("a claim names an index that is not a signer"));
                }
            }
        }
        Ok(weight)
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{Hash, Height, Keypair, Validator};

    use super::*;
    use crate::VoteKind;

    fn setup(n: u64) -> (Vec<Keypair>, ValidatorSet, ChainId) {
        let keys: Vec<Keypair> = (0..n).map(|i| Keypair::derived("cert", i)).collect();
        let set =
            ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
                .unwrap();
        let mut keys = keys;
        keys.sort_by_key(|k| k.public());
        (keys, set, "test".parse().unwrap())
    }

    fn cert(keys: &[Keypair], who: &[usize], chain: &ChainId) -> Certificate {
        let vote = Vote { kind: VoteKind::Finalize, height: Height(3), view: 1, block: Hash::digest(b"b") };
        Certificate::new(vote, who.iter().map(|&i| (i as u32, vote.sign(chain, &keys[i]))).collect())
    }

    #[test]
    fn quorum_certificate_verifies() {
        let (keys, set, chain) = setup(4);
        assert!(cert(&keys, &[0, 1, 2], &chain).verify(&set, &chain).is_ok());
    }

    #[test]
    fn two_of_four_is_no_quorum() {
        let (keys, set, chain) = setup(4);
        assert!(matches!(cert(&keys, &[0, 2], &chain).verify(&set, &chain), Err(Error::NoQuorum { .. })));
    }

    #[test]
    fn duplicate_or_unsorted_signers_rejected() {
        let (keys, set, chain) = setup(4);
        let mut c = cert(&keys, &[0, 1, 2], &chain);
        c.signers[2] = c.signers[1];
        assert!(matches!(c.verify(&set, &chain), Err(Error::UnsortedSigners { .. })));
    }

    #[test]
    fn out_of_range_signer_rejected() {
        let (keys, set, chain) = setup(4);
        let mut c = cert(&keys, &[0, 1, 2], &chain);
        c.signers[2].0 = 9;
        assert!(matches!(c.verify(&set, &chain), Err(Error::UnknownSigner { .. })));
    }

    #[test]
    fn wrong_chain_or_statement_rejected() {
        let (keys, set, chain) = setup(4);
        let c = cert(&keys, &[0, 1, 2], &chain);
        let other: ChainId = "other".parse().unwrap();
        assert!(matches!(c.verify(&set, &other), Err(Error::BadSignature { .. })));
        let mut moved = c.clone();
        moved.vote.view = 2;
        assert!(matches!(moved.verify(&set, &chain), Err(Error::BadSignature { .. })));
    }
}
