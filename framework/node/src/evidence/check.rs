//! What every validator checks of a proposal's last commit and evidence before voting for it. A block that
//! fails is refused (no vote), never a panic: everything here came from a peer.

use std::collections::BTreeSet;

use cairn_consensus::{Evidence, EvidenceKind, PlainVerifier, SignedVote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, ValidatorSet};

use super::{
    LastCommit, MAX_EVIDENCE_AGE, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_ITEM_BYTES, MAX_EVIDENCE_PER_BLOCK,
    MAX_LAST_COMMIT_BYTES,
};

/// The id of an evidence item: the hash of its canonical bytes (one pair of votes has one encoding, see
/// `check_evidence` on order).
pub fn evidence_id(bytes: &[u8]) -> Hash {
    Hash::digest(bytes)
}

/// The last commit of a block at `parent_height + 1`. `parent_set` is the set that decided the parent when it was
/// decided by a quorum certificate (BFT), `None` when it was not (the first block, or a sampling engine): then
/// the block must carry none.
///
/// A full quorum is required, not merely some valid signatures: the proposer finalized the parent with a quorum
/// certificate, so it always has one to include, and a smaller list would let it mark honest validators as
/// absent (downtime) beyond what any proposer can (CometBFT requires +2/3 likewise). Which quorum it includes is
/// its choice; the application must treat "not a signer" as a weak signal, counted over a window.
pub fn check_last_commit(
    bytes: &[u8],
    parent_height: Height,
    parent_id: Hash,
    parent_set: Option<&ValidatorSet>,
    chain_id: &ChainId,
) -> Result<Option<LastCommit>, String> {
    let Some(set) = parent_set else {
        return if bytes.is_empty() {
            Ok(None)
        } else {
            Err("carries a last commit, but the parent was not finalized by a quorum certificate".into())
        };
    };
    if bytes.is_empty() {
        return Err(format!("carries no last commit for the parent at height {parent_height}"));
    }
    let commit: LastCommit = cairn_primitives::decode(bytes, MAX_LAST_COMMIT_BYTES)
        .map_err(|e| format!("last commit does not decode: {e}"))?;
    let vote = commit.vote;
    // BFT finalizes by a quorum of `Finalize` votes, or on its fast path by `Notarize` votes of all the weight.
    if !vote.kind.can_finalize() || vote.height != parent_height || vote.block != parent_id {
        return Err(format!(
            "last commit is a {:?} vote for {:?} at height {}, not a finalization of the parent {parent_id:?} \
             at height {parent_height}",
            vote.kind, vote.block, vote.height
        ));
    }
    let mut weight = 0u64;
    let mut previous = None;
    for (signer, signature) in &commit.signatures {
        if previous.is_some_and(|p| p >= signer) {
            return Err("last commit signers are not sorted or repeat a key".into());
        }
        previous = Some(signer);
        let power = set.power_of(signer);
        if power == 0 {
            return Err(format!("last commit signer {signer} was not a validator at height {parent_height}"));
        }
        let signed = SignedVote { vote, signer: *signer, signature: *signature };
        if !signed.verify(chain_id, &PlainVerifier) {
            return Err(format!("last commit signature of {signer} is invalid"));
        }
        weight = weight.saturating_add(power);
    }
    if !set.is_quorum(weight) {
        return Err(format!(
            "last commit signers hold {weight} of {} power at height {parent_height}: not a quorum",
            set.total_power()
        ));
    }
    if vote.kind == VoteKind::Notarize && weight != set.total_power() {
        return Err(format!(
            "last commit of notarize votes holds {weight} of {} power at height {parent_height}: a fast \
             finalization needs all of it",
            set.total_power()
        ));
    }
    Ok(Some(commit))
}

/// The evidence of a block at `height`. `set_at` gives the validator set of a recent height (`None` if unknown:
/// too old); `committed` says whether an evidence id is already on the chain. Each item must be: within the
/// bounds, canonical, two valid signatures of one validator of the offence's height over votes that really
/// conflict (`Evidence::kind`), from an offence at most `MAX_EVIDENCE_AGE` heights back, neither committed nor
/// repeated in the block.
pub fn check_evidence<'a>(
    items: &[Vec<u8>],
    height: Height,
    chain_id: &ChainId,
    set_at: impl Fn(Height) -> Option<&'a ValidatorSet>,
    committed: impl Fn(&Hash) -> bool,
) -> Result<Vec<Evidence>, String> {
    if items.len() > MAX_EVIDENCE_PER_BLOCK {
        return Err(format!("{} evidence items, at most {MAX_EVIDENCE_PER_BLOCK}", items.len()));
    }
    let total: usize = items.iter().map(Vec::len).sum();
    if total > MAX_EVIDENCE_BYTES {
        return Err(format!("{total} bytes of evidence, at most {MAX_EVIDENCE_BYTES}"));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, bytes) in items.iter().enumerate() {
        let e = check_one(bytes, height, chain_id, &set_at, &committed)
            .map_err(|r| format!("evidence {i}: {r}"))?;
        if !seen.insert(evidence_id(bytes)) {
            return Err(format!("evidence {i}: repeated in the block"));
        }
        out.push(e);
    }
    Ok(out)
}

/// One item of `check_evidence` (also what the proposer runs on its pool before including an item).
pub(super) fn check_one<'a>(
    bytes: &[u8],
    height: Height,
    chain_id: &ChainId,
    set_at: &impl Fn(Height) -> Option<&'a ValidatorSet>,
    committed: &impl Fn(&Hash) -> bool,
) -> Result<Evidence, String> {
    let e: Evidence = cairn_primitives::decode(bytes, MAX_EVIDENCE_ITEM_BYTES)
        .map_err(|e| format!("does not decode: {e}"))?;
    let kind = e.kind().ok_or("the two votes do not conflict")?;
    // One pair, one encoding: else the same offence could be committed twice under two ids.
    if kind == EvidenceKind::Equivocation && e.first.vote.block >= e.second.vote.block {
        return Err("equivocation votes are not in canonical order".into());
    }
    e.verify(chain_id).map_err(|err| err.to_string())?;
    let offence = e.first.vote.height;
    if offence > height {
        return Err(format!("offence at height {offence} is after the block's height {height}"));
    }
    if height.0 - offence.0 > MAX_EVIDENCE_AGE {
        return Err(format!("offence at height {offence} is more than {MAX_EVIDENCE_AGE} heights old"));
    }
    let set = set_at(offence).ok_or_else(|| format!("validator set of height {offence} is unknown"))?;
    if !set.contains(&e.offender()) {
        return Err(format!("{} was not a validator at height {offence}", e.offender()));
    }
    if committed(&evidence_id(bytes)) {
        return Err("already committed".into());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use cairn_consensus::{Certificate, Vote};
    use cairn_primitives::{Keypair, Validator};

    use super::*;

    fn chain() -> ChainId {
        "t".parse().unwrap()
    }

    fn key(i: u64) -> Keypair {
        Keypair::derived("ev", i)
    }

    fn set() -> ValidatorSet {
        ValidatorSet::new((0..4).map(|i| Validator { public_key: key(i).public(), power: 1 }).collect())
            .unwrap()
    }

    fn vote(kind: VoteKind, height: u64, view: u64, block: &[u8]) -> Vote {
        Vote { kind, height: Height(height), view, block: Hash::digest(block) }
    }

    fn double_notarize(k: &Keypair, height: u64) -> Evidence {
        Evidence::equivocation(
            SignedVote::new(vote(VoteKind::Notarize, height, 0, b"a"), &chain(), k),
            SignedVote::new(vote(VoteKind::Notarize, height, 0, b"b"), &chain(), k),
        )
        .unwrap()
    }

    fn check(items: &[Vec<u8>], height: u64, committed: &[Hash]) -> Result<Vec<Evidence>, String> {
        let s = set();
        check_evidence(
            items,
            Height(height),
            &chain(),
            |h| (h.0 >= 1).then_some(&s),
            |id| committed.contains(id),
        )
    }

    #[test]
    fn genuine_evidence_passes() {
        let e = cairn_primitives::encode(&double_notarize(&key(1), 5));
        assert_eq!(check(&[e], 6, &[]).unwrap().len(), 1);
        let null = SignedVote::new(vote(VoteKind::Nullify, 5, 2, b""), &chain(), &key(2));
        let fin = SignedVote::new(vote(VoteKind::Finalize, 5, 2, b"a"), &chain(), &key(2));
        let nf = cairn_primitives::encode(&Evidence::nullify_finalize(fin, null).unwrap());
        assert!(check(&[nf], 5, &[]).is_ok());
    }

    #[test]
    fn forged_evidence_is_refused_naming_the_cause() {
        let good = double_notarize(&key(1), 5);
        let mut bad_sig = good.clone();
        bad_sig.second.signature = bad_sig.first.signature;
        let err = check(&[cairn_primitives::encode(&bad_sig)], 6, &[]).unwrap_err();
        assert!(err.contains("signature"), "{err}");

        let mut not_conflicting = good.clone();
        not_conflicting.second = not_conflicting.first;
        let err = check(&[cairn_primitives::encode(&not_conflicting)], 6, &[]).unwrap_err();
        assert!(err.contains("do not conflict"), "{err}");

        let outsider = double_notarize(&key(9), 5);
        let err = check(&[cairn_primitives::encode(&outsider)], 6, &[]).unwrap_err();
        assert!(err.contains("was not a validator"), "{err}");

        let bytes = cairn_primitives::encode(&good);
        let err = check(std::slice::from_ref(&bytes), 6, &[evidence_id(&bytes)]).unwrap_err();
        assert!(err.contains("already committed"), "{err}");

        let err = check(std::slice::from_ref(&bytes), 6 + MAX_EVIDENCE_AGE, &[]).unwrap_err();
        assert!(err.contains("heights old"), "{err}");
        assert!(check(std::slice::from_ref(&bytes), 5 + MAX_EVIDENCE_AGE, &[]).is_ok(), "at the bound");

        let err = check(std::slice::from_ref(&bytes), 4, &[]).unwrap_err();
        assert!(err.contains("after the block's height"), "{err}");

        let err = check(&[bytes.clone(), bytes.clone()], 6, &[]).unwrap_err();
        assert!(err.contains("repeated"), "{err}");

        let mut swapped = good.clone();
        std::mem::swap(&mut swapped.first, &mut swapped.second);
        let err = check(&[cairn_primitives::encode(&swapped)], 6, &[]).unwrap_err();
        assert!(err.contains("canonical order"), "{err}");

        let mut other_signer = good.clone();
        other_signer.second = SignedVote::new(other_signer.second.vote, &chain(), &key(2));
        assert!(check(&[cairn_primitives::encode(&other_signer)], 6, &[]).is_err());

        let err = check(&[vec![1, 2, 3]], 6, &[]).unwrap_err();
        assert!(err.contains("does not decode"), "{err}");
        let many = vec![bytes; MAX_EVIDENCE_PER_BLOCK + 1];
        assert!(check(&many, 6, &[]).unwrap_err().contains("at most"));
    }

    /// The fast path finalizes on notarize votes of all the weight: such a last commit passes, and notarize
    /// votes of a mere quorum (a notarization, not a finalization) do not.
    #[test]
    fn a_unanimous_notarization_is_a_last_commit_and_a_quorum_of_notarizes_is_not() {
        let all: Vec<u64> = (0..set().len() as u64).collect();
        let c = commit_of_kind(VoteKind::Notarize, 4, b"p", &all);
        assert_eq!(check_commit(&c).unwrap().unwrap().signers().count(), all.len());
        let err = check_commit(&commit_of_kind(VoteKind::Notarize, 4, b"p", &all[1..])).unwrap_err();
        assert!(err.contains("needs all of it"), "{err}");
        let nullification = Certificate::new(vote(VoteKind::Nullify, 4, 0, b"p"), Vec::new());
        assert!(LastCommit::from_certificate(&nullification, &set()).is_none());
    }

    fn commit_of(height: u64, block: &[u8], signers: &[u64]) -> LastCommit {
        commit_of_kind(VoteKind::Finalize, height, block, signers)
    }

    fn commit_of_kind(kind: VoteKind, height: u64, block: &[u8], signers: &[u64]) -> LastCommit {
        let v = vote(kind, height, 0, block);
        let cert = Certificate::new(
            v,
            signers
                .iter()
                .map(|i| (set().index_of(&key(*i).public()).unwrap() as u32, v.sign(&chain(), &key(*i))))
                .collect(),
        );
        LastCommit::from_certificate(&cert, &set()).unwrap()
    }

    fn check_commit(c: &LastCommit) -> Result<Option<LastCommit>, String> {
        let s = set();
        check_last_commit(&cairn_primitives::encode(c), Height(4), Hash::digest(b"p"), Some(&s), &chain())
    }

    #[test]
    fn a_quorum_of_valid_signatures_of_the_parent_passes() {
        let c = commit_of(4, b"p", &[0, 1, 2]);
        assert_eq!(check_commit(&c).unwrap().unwrap().signers().count(), 3);
        // A parent finalized without a quorum certificate: the block carries none, and may not carry one.
        assert_eq!(check_last_commit(&[], Height(4), Hash::digest(b"p"), None, &chain()), Ok(None));
        assert!(check_last_commit(&[1], Height(4), Hash::digest(b"p"), None, &chain()).is_err());
    }

    #[test]
    fn forged_last_commits_are_refused() {
        let s = set();
        let err = check_last_commit(&[], Height(4), Hash::digest(b"p"), Some(&s), &chain()).unwrap_err();
        assert!(err.contains("no last commit"), "{err}");

        let err = check_commit(&commit_of(4, b"p", &[0, 1])).unwrap_err();
        assert!(err.contains("not a quorum"), "{err}");

        let err = check_commit(&commit_of(4, b"other", &[0, 1, 2])).unwrap_err();
        assert!(err.contains("not a finalization of the parent"), "{err}");
        let err = check_commit(&commit_of(3, b"p", &[0, 1, 2])).unwrap_err();
        assert!(err.contains("not a finalization of the parent"), "{err}");

        let mut bad_sig = commit_of(4, b"p", &[0, 1, 2]);
        bad_sig.signatures[1].1 = bad_sig.signatures[0].1;
        let err = check_commit(&bad_sig).unwrap_err();
        assert!(err.contains("signature"), "{err}");

        let mut outsider = commit_of(4, b"p", &[0, 1, 2]);
        let v = outsider.vote;
        outsider.signatures[0] = (key(9).public(), v.sign(&chain(), &key(9)));
        outsider.signatures.sort_by_key(|s| s.0);
        let err = check_commit(&outsider).unwrap_err();
        assert!(err.contains("not a validator"), "{err}");

        let mut repeated = commit_of(4, b"p", &[0, 1]);
        let first = repeated.signatures[0];
        repeated.signatures.insert(0, first);
        let err = check_commit(&repeated).unwrap_err();
        assert!(err.contains("repeat"), "{err}");

        let err = check_last_commit(&[7; 3], Height(4), Hash::digest(b"p"), Some(&s), &chain()).unwrap_err();
        assert!(err.contains("does not decode"), "{err}");
    }
}
