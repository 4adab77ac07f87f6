//! Evidence of equivocation: two signed votes by one validator for different blocks in one slot.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{ChainId, PublicKey};
use serde::{Deserialize, Serialize};

use crate::{Error, PlainVerifier, SignedVote};

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

    pub fn offender(&self) -> PublicKey {
        self.first.signer
    }

    pub fn verify(&self, chain_id: &ChainId) -> Result<(), Error> {
        let (a, b) = (&self.first, &self.second);
        if a.signer != b.signer || !a.vote.same_slot(&b.vote) {
            return Err(Error::DifferentSlots);
        }
        if !a.vote.kind.is_equivocable() {
            return Err(Error::NotEquivocable(a.vote.kind));
        }
        if a.vote.block == b.vote.block {
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
    use crate::{Vote, VoteKind};

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
}
