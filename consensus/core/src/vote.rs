//! The one signed statement of every engine.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Purpose, Signature};
use serde::{Deserialize, Serialize};

use crate::SignatureVerifier;

/// What a vote says. One enum for all engines so certificates and evidence are verified the same way everywhere.
#[derive(
    Clone,
    Copy,
    Debug,
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
pub enum VoteKind {
    /// A leader's proposal of `block` (signed with `Purpose::Proposal`).
    Propose,
    /// "`block` is a valid proposal for this view" (Simplex notarize).
    Notarize,
    /// "nothing was notarized in time in this view; skip it" (Simplex nullify). `block` is `Hash::ZERO`.
    Nullify,
    /// "`block` is final" — what certificates in `Effect::Finalized` consist of.
    Finalize,
    /// A sampling engine's answer to a poll: "I prefer `block`".
    Prefer,
}

impl VoteKind {
    /// The signature domain of this kind.
    pub fn purpose(self) -> Purpose {
        match self {
            VoteKind::Propose => Purpose::Proposal,
            _ => Purpose::Vote,
        }
    }

    /// Whether a certificate of this kind can prove a block final: a `Finalize` quorum, or BFT's fast path
    /// (`Notarize` votes of all the weight; see `Certificate::verify_finality`).
    pub fn can_finalize(self) -> bool {
        matches!(self, VoteKind::Finalize | VoteKind::Notarize)
    }

    /// Whether two votes of this kind for different blocks in one (height, view) is misbehaviour.
    pub fn is_equivocable(self) -> bool {
        matches!(self, VoteKind::Propose | VoteKind::Notarize | VoteKind::Finalize)
    }
}

/// The signed statement: `kind` about `block` at (`height`, `view`). 49 bytes of borsh.
#[derive(
    Clone,
    Copy,
    Debug,
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
pub struct Vote {
    pub kind: VoteKind,
    pub height: Height,
    /// Engine-defined round within the height (a Simplex view; 0 for engines without views).
    pub view: u64,
    pub block: Hash,
}

impl Vote {
    /// The exact bytes that are signed (the domain tag is added by the key: chain id ‖ purpose).
    pub fn signing_bytes(&self) -> [u8; 49] {
        let mut out = [0u8; 49];
        out[0] = self.kind as u8;
        out[1..9].copy_from_slice(&self.height.0.to_le_bytes());
        out[9..17].copy_from_slice(&self.view.to_le_bytes());
        out[17..49].copy_from_slice(&self.block.0);
        out
    }

    pub fn sign(&self, chain_id: &ChainId, key: &Keypair) -> Signature {
        key.sign(chain_id, self.kind.purpose(), &self.signing_bytes())
    }

    pub fn verify(
        &self,
        chain_id: &ChainId,
        signer: &PublicKey,
        signature: &Signature,
        verifier: &dyn SignatureVerifier,
    ) -> bool {
        verifier.verify(chain_id, self.kind.purpose(), signer, &self.signing_bytes(), signature)
    }

    /// Same kind, height and view: the "slot" in which an honest validator signs at most one block.
    pub fn same_slot(&self, other: &Vote) -> bool {
        self.kind == other.kind && self.height == other.height && self.view == other.view
    }
}

/// A vote with its signer and signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedVote {
    pub vote: Vote,
    pub signer: PublicKey,
    pub signature: Signature,
}

impl SignedVote {
    pub fn new(vote: Vote, chain_id: &ChainId, key: &Keypair) -> SignedVote {
        SignedVote { vote, signer: key.public(), signature: vote.sign(chain_id, key) }
    }

    pub fn verify(&self, chain_id: &ChainId, verifier: &dyn SignatureVerifier) -> bool {
        self.vote.verify(chain_id, &self.signer, &self.signature, verifier)
    }
}
