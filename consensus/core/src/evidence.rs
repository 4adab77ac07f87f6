//! Evidence of misbehaviour: two signed votes by one validator that an honest validator never signs together —
//! two votes of one kind for different blocks in one slot (two proposals, notarizes or finalizes), or a
//! `Nullify` and a `Finalize` for the same view (what the Simplex safety argument rests on).

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{ChainId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::{Error, PlainVerifier, SignedVote, VoteKind};

/// What a piece of evidence proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceKind {
    /// Two votes of one kind for different blocks in one (height, view).
    Equivocation,
    /// `Nullify(v)` and `Finalize(v)`: "skip this view" and "this view's block is final".
    NullifyFinalize,
}

/// Proof that `offender` signed two conflicting votes. Self-contained: anyone with the chain id can verify it
/// (whether `offender` was a validator at `first.vote.height` is for the slashing module to check).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Evidence {
    pub first: SignedVote,
    pub second: SignedVote,
}

impl Evidence {
    /// Builds evidence if the two votes really conflict (signatures are not checked here; see `verify`).
    pub fn equivocation(first: SignedVote, second: SignedVote) -> Option<Evidence> {
        let conflicting = first.signer == second.signer
            && first.vote.same_slot(&second.vote)
            && first.vote.block != second.vote.block
            && first.vote.kind.is_equivocable();
        // Canonical order so the same pair always yields identical evidence bytes.
        let (first, second) =
            if first.vote.block <= second.vote.block { (first, second) } else { (second, first) };
        conflicting.then_some(Evidence { first, second })
    }

    /// Builds evidence from a `Nullify` and a `Finalize` of one view by one signer, in either order (the
    /// nullify comes first in the evidence, so the same pair always yields identical bytes).
    pub fn nullify_finalize(a: SignedVote, b: SignedVote) -> Option<Evidence> {
        let (first, second) = if a.vote.kind == VoteKind::Nullify { (a, b) } else { (b, a) };
        let ok = first.signer == second.signer
            && first.vote.kind == VoteKind::Nullify
            && second.vote.kind == VoteKind::Finalize
            && first.vote.height == second.vote.height
            && first.vote.view == second.vote.view;
        ok.then_some(Evidence { first, second })
    }

    /// Which rule the pair breaks, or `None` if it breaks none (signatures aside).
    pub fn kind(&self) -> Option<EvidenceKind> {
        let (a, b) = (&self.first.vote, &self.second.vote);
        if a.height != b.height || a.view != b.view {
            return None;
        }
        if a.kind == b.kind {
            (a.kind.is_equivocable() && a.block != b.block).then_some(EvidenceKind::Equivocation)
        } else {
            (a.kind == VoteKind::Nullify && b.kind == VoteKind::Finalize)
                .then_some(EvidenceKind::NullifyFinalize)
        }
    }

    pub fn offender(&self) -> PublicKey {
        self.first.signer
    }

    pub fn verify(&self, chain_id: &ChainId) -> Result<(), Error> {
        let (a, b) = (&self.first, &self.second);
        if a.signer != b.signer || a.vote.height != b.vote.height || a.vote.view != b.vote.view {
            return Err(Error::DifferentSlots);
        }
        if a.vote.kind != b.vote.kind {
            if self.kind() != Some(EvidenceKind::NullifyFinalize) {
                return Err(Error::DifferentSlots);
            }
        } else if !a.vote.kind.is_equivocable() {
            return Err(Error::NotEquivocable(a.vote.kind));
        } else if a.vote.block == b.vote.block {
            return Err(Error::SameBlock);
        }
        for v in [a, b] {
            if !v.verify(chain_id, &PlainVerifier) {
                return Err(Error::BadSignature { signer: v.signer.to_hex() });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{Hash, Height, Keypair};

    use super::*;
    use crate::Vote;

    #[test]
    fn double_notarize_is_evidence() {
        let chain: ChainId = "t".parse().unwrap();
        let k = Keypair::derived("ev", 0);
        let v =
            |b: &[u8]| Vote { kind: VoteKind::Notarize, height: Height(1), view: 0, block: Hash::digest(b) };
        let e = Evidence::equivocation(
            SignedVote::new(v(b"a"), &chain, &k),
            SignedVote::new(v(b"b"), &chain, &k),
        )
        .unwrap();
        assert!(e.verify(&chain).is_ok());
        assert_eq!(e.offender(), k.public());
        assert!(
            Evidence::equivocation(
                SignedVote::new(v(b"a"), &chain, &k),
                SignedVote::new(v(b"a"), &chain, &k)
            )
            .is_none()
        );
        let mut forged = e.clone();
        forged.second.signature = forged.first.signature;
        assert!(forged.verify(&chain).is_err());
    }

    #[test]
    fn nullify_and_finalize_of_one_view_is_evidence() {
        let chain: ChainId = "t".parse().unwrap();
        let k = Keypair::derived("ev", 0);
        let v = |kind, view, block| Vote { kind, height: Height(2), view, block };
        let null = SignedVote::new(v(VoteKind::Nullify, 3, Hash::ZERO), &chain, &k);
        let fin = SignedVote::new(v(VoteKind::Finalize, 3, Hash::digest(b"a")), &chain, &k);
        let e = Evidence::nullify_finalize(fin, null).unwrap();
        assert_eq!(e, Evidence::nullify_finalize(null, fin).unwrap(), "canonical order");
        assert_eq!(e.kind(), Some(EvidenceKind::NullifyFinalize));
        assert!(e.verify(&chain).is_ok());
        // Another view, another signer, or notarize + nullify (legal) are not evidence.
        let other_view = SignedVote::new(v(VoteKind::Finalize, 4, Hash::digest(b"a")), &chain, &k);
        assert!(Evidence::nullify_finalize(null, other_view).is_none());
        let other =
            SignedVote::new(v(VoteKind::Finalize, 3, Hash::digest(b"a")), &chain, &Keypair::derived("ev", 1));
        assert!(Evidence::nullify_finalize(null, other).is_none());
        let notarize = SignedVote::new(v(VoteKind::Notarize, 3, Hash::digest(b"a")), &chain, &k);
        assert!(Evidence::nullify_finalize(null, notarize).is_none());
        let forged = Evidence { first: null, second: notarize };
        assert!(forged.verify(&chain).is_err());
        let forged = Evidence { first: null, second: other_view };
        assert!(forged.verify(&chain).is_err());
    }
}
