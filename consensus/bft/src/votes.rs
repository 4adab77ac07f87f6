//! Vote bookkeeping for one height: tallies per view, certificates when a quorum forms, evidence for every pair
//! of votes an honest validator never signs (two blocks of one kind in a view; nullify + finalize of a view).
//! Pure data structure (signatures are checked by the caller before `add`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cairn_consensus::{Certificate, Evidence, SignedVote, Vote, VoteKind};
use cairn_primitives::{Hash, Height, Signature, ValidatorSet};

#[derive(Default, Debug)]
struct Tally {
    weight: u64,
    signatures: BTreeMap<u32, Signature>,
    certified: bool,
}

#[derive(Default, Debug)]
struct KindVotes {
    per_block: BTreeMap<Hash, Tally>,
    /// The first vote of each signer: only it counts, a second one for another block is evidence.
    first: BTreeMap<u32, (Hash, Signature)>,
    /// Signers already reported, so each equivocation yields one piece of evidence.
    reported: BTreeMap<u32, ()>,
}

#[derive(Default, Debug)]
struct ViewVotes {
    notarize: KindVotes,
    nullify: KindVotes,
    finalize: KindVotes,
    /// Signers already reported for signing both `Nullify` and `Finalize` in this view.
    reported_nullify_finalize: BTreeSet<u32>,
    /// The block each nullify signer says it notarized in this view (signers that name none are absent).
    claims: BTreeMap<u32, Hash>,
}

impl ViewVotes {
    /// The votes of `kind` (`None` for kinds this engine does not count). Exhaustive on purpose: a new kind
    /// must be placed here, not fall into another kind's tally.
    fn of_kind(&mut self, kind: VoteKind) -> Option<&mut KindVotes> {
        match kind {
            VoteKind::Notarize => Some(&mut self.notarize),
            VoteKind::Finalize => Some(&mut self.finalize),
            VoteKind::Nullify => Some(&mut self.nullify),
            VoteKind::Propose | VoteKind::Prefer => None,
        }
    }
}

/// What adding one vote produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Added {
    /// The vote was new (not a repeat of one already counted).
    pub counted: bool,
    /// The vote completed a quorum: the certificate for its statement.
    pub certificate: Option<Certificate>,
    /// The vote conflicts with an earlier one by the same signer.
    pub evidence: Option<Evidence>,
    /// The vote completed `Notarize` votes of *all* the weight for one block: the fast path's finalization.
    pub unanimous: Option<Certificate>,
}

/// All votes of one height, counted against that height's validator set.
#[derive(Debug)]
pub struct VoteBook {
    validators: Arc<ValidatorSet>,
    views: BTreeMap<u64, ViewVotes>,
}

impl VoteBook {
    pub fn new(validators: Arc<ValidatorSet>) -> VoteBook {
        VoteBook { validators, views: BTreeMap::new() }
    }

    pub fn validators(&self) -> &Arc<ValidatorSet> {
        &self.validators
    }

    /// Counts `vote` (already signature-checked) by validator `index`. A `Nullify` names the block its signer
    /// notarized in the view (its *claim*, `Hash::ZERO` for none): all nullify votes of a view count towards one
    /// nullification, which keeps each signer's claim. Out-of-range indices and `Propose`/`Prefer` kinds are
    /// ignored.
    pub fn add(&mut self, index: u32, vote: Vote, signature: Signature) -> Added {
        let Some(validator) = self.validators.validators().get(index as usize).copied() else {
            return Added::default();
        };
        let claim = vote.block;
        let mut vote = vote;
        if vote.kind == VoteKind::Nullify {
            vote.block = Hash::ZERO;
        }
        let view = self.views.entry(vote.view).or_default();
        let Some(kind) = view.of_kind(vote.kind) else { return Added::default() };
        let mut added = Added::default();
        if let Some((block, first_sig)) = kind.first.get(&index).copied() {
            // Two nullify votes with different claims are not reported: a false claim cannot break safety
            // (README, "The fast path"), and the first one counts.
            if block != vote.block && !kind.reported.contains_key(&index) {
                kind.reported.insert(index, ());
                let earlier = SignedVote {
                    vote: Vote { block, ..vote },
                    signer: validator.public_key,
                    signature: first_sig,
                };
                let later = SignedVote { vote, signer: validator.public_key, signature };
                added.evidence = Evidence::equivocation(earlier, later);
            }
            return added;
        }
        kind.first.insert(index, (vote.block, signature));
        if vote.kind == VoteKind::Nullify && claim != Hash::ZERO {
            view.claims.insert(index, claim);
        }
        let claims: Vec<(u32, Hash)> = match vote.kind {
            VoteKind::Nullify => view.claims.iter().map(|(i, b)| (*i, *b)).collect(),
            _ => Vec::new(),
        };
        let kind = view.of_kind(vote.kind).expect("kind counted above");
        added.counted = true;
        let tally = kind.per_block.entry(vote.block).or_default();
        tally.weight = tally.weight.saturating_add(validator.power);
        tally.signatures.insert(index, signature);
        let signers = |t: &Tally| t.signatures.iter().map(|(i, s)| (*i, *s)).collect::<Vec<_>>();
        if !tally.certified && self.validators.is_quorum(tally.weight) {
            tally.certified = true;
            added.certificate = Some(Certificate { vote, signers: signers(tally), claims });
        }
        let tally =
            view.of_kind(vote.kind).and_then(|k| k.per_block.get(&vote.block)).expect("tallied above");
        if vote.kind == VoteKind::Notarize
            && vote.block != Hash::ZERO
            && tally.weight == self.validators.total_power()
        {
            added.unanimous = Some(Certificate::new(vote, signers(tally)));
        }
        added.evidence = Self::nullify_finalize(view, index, &vote, signature, validator.public_key);
        added
    }

    /// The fullest nullification of `view` we can build: every nullify vote counted so far (from votes and from
    /// certificates), each with its signed claim; `None` below a quorum. A fuller one binds less (the fast
    /// path: `crate::binds`), and every validator that has seen the same votes computes the same one.
    pub fn nullification(&self, height: Height, view: u64) -> Option<Certificate> {
        let votes = &self.views.get(&view)?.nullify;
        let tally = votes.per_block.get(&Hash::ZERO)?;
        if !self.validators.is_quorum(tally.weight) {
            return None;
        }
        let vote = Vote { kind: VoteKind::Nullify, height, view, block: Hash::ZERO };
        let signers = tally.signatures.iter().map(|(i, s)| (*i, *s)).collect();
        let claims = self.views[&view].claims.iter().map(|(i, b)| (*i, *b)).collect();
        Some(Certificate { vote, signers, claims })
    }

    /// Whether every vote in `cert` is the vote we counted for its signer (same block, and for a nullification
    /// the same claim), so the certificate tells us nothing new.
    pub fn counted_all(&self, cert: &Certificate) -> bool {
        let Some(view) = self.views.get(&cert.vote.view) else { return false };
        let votes = match cert.vote.kind {
            VoteKind::Notarize => &view.notarize,
            VoteKind::Finalize => &view.finalize,
            VoteKind::Nullify => &view.nullify,
            VoteKind::Propose | VoteKind::Prefer => return false,
        };
        cert.signers.iter().all(|(i, _)| {
            let same_claim = cert.vote.kind != VoteKind::Nullify
                || view.claims.get(i).copied().unwrap_or(Hash::ZERO) == cert.vote_of(*i).block;
            votes.first.get(i).is_some_and(|(b, _)| *b == cert.vote.block) && same_claim
        })
    }

    /// Whether validator `index` has a counted vote of `kind` in `view` (any block).
    pub fn voted(&self, view: u64, kind: VoteKind, index: u32) -> bool {
        let Some(v) = self.views.get(&view) else { return false };
        let k = match kind {
            VoteKind::Notarize => &v.notarize,
            VoteKind::Finalize => &v.finalize,
            VoteKind::Nullify => &v.nullify,
            VoteKind::Propose | VoteKind::Prefer => return false,
        };
        k.first.contains_key(&index)
    }

    /// Evidence if `vote` (a first vote of its kind) is a `Nullify` and the signer already finalized this view,
    /// or the reverse: the pair the safety argument rests on no honest validator signing.
    fn nullify_finalize(
        view: &mut ViewVotes,
        index: u32,
        vote: &Vote,
        signature: Signature,
        signer: cairn_primitives::PublicKey,
    ) -> Option<Evidence> {
        let other = match vote.kind {
            VoteKind::Nullify => view.finalize.first.get(&index).map(|(b, s)| (VoteKind::Finalize, *b, *s)),
            VoteKind::Finalize => view.nullify.first.get(&index).map(|(b, s)| (VoteKind::Nullify, *b, *s)),
            _ => None,
        };
        let (kind, block, other_sig) = other?;
        if !view.reported_nullify_finalize.insert(index) {
            return None;
        }
        let earlier = SignedVote { vote: Vote { kind, block, ..*vote }, signer, signature: other_sig };
        Evidence::nullify_finalize(earlier, SignedVote { vote: *vote, signer, signature })
    }
}

#[cfg(test)]
mod tests {
    use cairn_primitives::{ChainId, Height, Keypair, Validator};
    use proptest::prelude::*;

    use super::*;

    fn keys(n: usize) -> (Vec<Keypair>, Arc<ValidatorSet>) {
        let mut ks: Vec<Keypair> = (0..n as u64).map(|i| Keypair::derived("book", i)).collect();
        ks.sort_by_key(|k| k.public());
        let set = ValidatorSet::new(
            ks.iter()
                .enumerate()
                .map(|(i, k)| Validator { public_key: k.public(), power: 1 + i as u64 % 3 })
                .collect(),
        )
        .unwrap();
        (ks, Arc::new(set))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Certificates form exactly when the distinct first votes for a statement reach a quorum, once, and
        /// verify; every signer who votes two blocks of one kind in one view yields exactly one evidence.
        #[test]
        fn tallies_certificates_and_evidence(
            votes in proptest::collection::vec((0usize..7, 0u64..2, 0u8..3, 0u8..3), 0..60)
        ) {
            let chain: ChainId = "prop".parse().unwrap();
            let (ks, set) = keys(7);
            let mut book = VoteBook::new(set.clone());
            let mut firsts: BTreeMap<(u64, u8, usize), Hash> = BTreeMap::new();
            let mut certs: BTreeMap<(u64, u8, Hash), Certificate> = BTreeMap::new();
            let mut evidence = 0usize;
            let mut expected_evidence = std::collections::BTreeSet::new();
            for (who, view, kind, block) in votes {
                let kind_v = [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize][kind as usize];
                let block = if kind_v == VoteKind::Nullify { Hash::ZERO } else { Hash::digest(&[block]) };
                let vote = Vote { kind: kind_v, height: Height(1), view, block };
                let added = book.add(who as u32, vote, vote.sign(&chain, &ks[who]));
                match firsts.get(&(view, kind, who)) {
                    None => { firsts.insert((view, kind, who), block); prop_assert!(added.counted); }
                    Some(b) => {
                        prop_assert!(!added.counted);
                        if *b != block { expected_evidence.insert((view, kind, who)); }
                    }
                }
                if let Some(e) = added.evidence {
                    prop_assert!(e.verify(&chain).is_ok());
                    evidence += 1;
                }
                if let Some(c) = added.certificate {
                    prop_assert!(c.verify(&set, &chain).is_ok());
                    prop_assert!(certs.insert((view, kind, block), c).is_none(), "certificate formed twice");
                }
            }
            // A Nullify and a Finalize by one signer in one view is evidence too, once.
            let nullify_finalize = firsts
                .keys()
                .filter(|(view, kind, who)| *kind == 1 && firsts.contains_key(&(*view, 2, *who)))
                .count();
            prop_assert_eq!(evidence, expected_evidence.len() + nullify_finalize);
            // Recompute every tally from the first votes and compare with the certificates formed.
            let mut weights: BTreeMap<(u64, u8, Hash), u64> = BTreeMap::new();
            for ((view, kind, who), block) in &firsts {
                *weights.entry((*view, *kind, *block)).or_default() += set.validators()[*who].power;
            }
            for (key, w) in weights {
                prop_assert_eq!(set.is_quorum(w), certs.contains_key(&key));
            }
        }
    }

    /// Nullify votes name what their signer notarized: the nullification keeps each claim, so it verifies (every
    /// signature is over the signer's own claim), and the fullest one grows with every later vote.
    #[test]
    fn nullifications_keep_claims_and_grow() {
        let chain: ChainId = "t".parse().unwrap();
        let (ks, set) = keys(4);
        let mut book = VoteBook::new(set.clone());
        let a = Hash::digest(b"a");
        let nullify = |block| Vote { kind: VoteKind::Nullify, height: Height(1), view: 0, block };
        let claims = [a, Hash::ZERO, a, Hash::ZERO];
        let mut formed = None;
        for (i, claim) in claims.iter().enumerate().take(3) {
            assert!(book.nullification(Height(1), 0).is_none() || formed.is_some(), "no quorum yet");
            let v = nullify(*claim);
            if let Some(c) = book.add(i as u32, v, v.sign(&chain, &ks[i])).certificate {
                formed = Some(c);
            }
        }
        let formed = formed.expect("three of four nullify votes form a nullification");
        let with_claims: Vec<u32> = formed.claims.iter().map(|(i, _)| *i).collect();
        assert_eq!(with_claims, vec![0, 2]);
        formed.verify(&set, &chain).expect("the claims are what was signed");
        assert!(book.counted_all(&formed));
        // The fourth vote comes after the quorum: only the fullest nullification has it.
        let v = nullify(claims[3]);
        book.add(3, v, v.sign(&chain, &ks[3]));
        let full = book.nullification(Height(1), 0).unwrap();
        assert_eq!(full.signers.len(), 4);
        full.verify(&set, &chain).unwrap();
        assert!(!VoteBook::new(set.clone()).counted_all(&full), "nothing counted in a fresh book");
        // The same signers with another claim is news.
        let mut other = formed.clone();
        other.claims.clear();
        assert!(!book.counted_all(&other));
    }

    #[test]
    fn counted_all_compares_blocks() {
        let chain: ChainId = "t".parse().unwrap();
        let (ks, set) = keys(4);
        let mut book = VoteBook::new(set);
        let v =
            |b: &[u8]| Vote { kind: VoteKind::Notarize, height: Height(1), view: 0, block: Hash::digest(b) };
        let mut cert = None;
        for (i, k) in ks.iter().enumerate().take(3) {
            cert = book.add(i as u32, v(b"a"), v(b"a").sign(&chain, k)).certificate.or(cert);
        }
        let cert = cert.unwrap();
        assert!(book.counted_all(&cert));
        let mut other_block = cert.clone();
        other_block.vote.block = Hash::digest(b"b");
        assert!(!book.counted_all(&other_block));
    }

    #[test]
    fn two_blocks_cannot_both_certify_without_equivocation() {
        let chain: ChainId = "t".parse().unwrap();
        let (ks, set) = keys(4);
        let mut book = VoteBook::new(set);
        let v =
            |b: &[u8]| Vote { kind: VoteKind::Notarize, height: Height(1), view: 0, block: Hash::digest(b) };
        let mut certs = 0;
        for (i, k) in ks.iter().enumerate() {
            let block = if i % 2 == 0 { v(b"a") } else { v(b"b") };
            certs += book.add(i as u32, block, block.sign(&chain, k)).certificate.is_some() as usize;
        }
        assert_eq!(certs, 0);
    }
}
