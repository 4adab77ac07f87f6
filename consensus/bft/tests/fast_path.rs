//! The two-delay fast path (README, "The fast path"), attacked on one engine: finality only on the notarize
//! votes of *all* the weight, nullify votes that name what was notarized, and nullifications that bind a view
//! to the block that may have been finalized fast, so no later proposal can skip it.

mod common;

use cairn_bft::Message;
use cairn_consensus::{Certificate, Effect, Engine, Input, Vote, VoteKind};
use cairn_primitives::{Hash, Height, Signature};
use common::*;

fn finalized(fx: &[Effect]) -> Option<(Hash, VoteKind)> {
    fx.iter().find_map(|e| match e {
        Effect::Finalized(f) => Some((f.block, f.certificate.vote.kind)),
        _ => None,
    })
}

/// A nullification of `view` by the three validators other than us; `claims[k]` is what the k-th of them
/// (in set order) says it notarized (`None`: nothing). Each signs its own claim.
fn nullification(f: &Fx, view: u64, claims: [Option<Hash>; 3]) -> Certificate {
    let zero = Vote { kind: VoteKind::Nullify, height: Height(1), view, block: Hash::ZERO };
    let mut others: Vec<(u32, usize)> = (0..4)
        .filter(|i| *i != f.me)
        .map(|i| (f.set.index_of(&f.keys[i].public()).unwrap() as u32, i))
        .collect();
    others.sort();
    let mut cert = Certificate::new(zero, Vec::new());
    for ((index, who), claim) in others.into_iter().zip(claims) {
        let vote = Vote { block: claim.unwrap_or(Hash::ZERO), ..zero };
        cert.signers.push((index, vote.sign(&f.chain, &f.keys[who])));
        if let Some(b) = claim {
            cert.claims.push((index, b));
        }
    }
    cert
}

fn notarize_from(f: &mut Fx, who: usize, view: u64, b: Hash) -> Vec<Effect> {
    let (vote, signature) = f.signed(who, VoteKind::Notarize, view, b);
    f.from(who, Message::Vote { vote, signature })
}

#[test]
fn notarize_votes_of_all_the_weight_finalize_and_three_quarters_do_not() {
    let mut f = fixture();
    let a = block(b"A");
    let mut fx = f.proposal(0, a, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 0), Some(a));
    let others: Vec<usize> = (0..4).filter(|i| *i != f.me && *i != f.leader(0)).collect();
    fx.extend(notarize_from(&mut f, others[0], 0, a));
    // Leader, us and one more: 3 of 4 is a notarization (we vote finalize), not a finalization.
    assert_eq!(voted(&fx, VoteKind::Finalize, 0), Some(a));
    assert_eq!(finalized(&fx), None, "finalized on 3 of 4 notarize votes: {fx:?}");
    let fx = notarize_from(&mut f, others[1], 0, a);
    assert_eq!(finalized(&fx), Some((a, VoteKind::Notarize)), "{fx:?}");
    assert_eq!(f.engine.status().height, Height(2));
}

#[test]
fn a_unanimous_notarization_from_a_peer_finalizes_at_any_view_and_a_partial_one_does_not() {
    let mut f = fixture();
    let a = block(b"A");
    let vote = Vote { kind: VoteKind::Notarize, height: Height(1), view: 90, block: a };
    let all: Vec<(u32, Signature)> = {
        let mut s: Vec<(u32, Signature)> = (0..4)
            .map(|i| (f.set.index_of(&f.keys[i].public()).unwrap() as u32, vote.sign(&f.chain, &f.keys[i])))
            .collect();
        s.sort_by_key(|(i, _)| *i);
        s
    };
    let other = (f.me + 1) % 4;
    let fx = f.from(other, Message::Certificate(Certificate::new(vote, all[..3].to_vec())));
    assert_eq!(finalized(&fx), None, "three of four notarize votes 90 views ahead finalized");
    let fx = f.from(other, Message::Certificate(Certificate::new(vote, all)));
    assert_eq!(finalized(&fx), Some((a, VoteKind::Notarize)), "{fx:?}");
}

#[test]
fn nullify_names_the_block_we_notarized() {
    let mut f = fixture();
    let a = block(b"A");
    f.proposal(0, a, vec![]);
    let mut fx = Vec::new();
    for _ in 0..3 {
        fx.extend(f.input(Input::Timer(VIEW_TIMER)));
    }
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), Some(a), "{fx:?}");
    // Without a proposal, a nullify names nothing.
    let mut g = fixture();
    let fx = g.input(Input::Timer(VIEW_TIMER));
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), Some(Hash::ZERO), "{fx:?}");
}

/// The attack the binding rule stops: `A` may have been finalized fast in view 0 (every validator we hear from
/// claims it), yet the view was nullified. A fresh block `C` in view 1 justified by that nullification must not
/// be notarized; the re-proposal of `A` is.
#[test]
fn a_nullification_that_binds_a_block_forbids_skipping_it() {
    let (a, c) = (block(b"A"), block(b"C"));
    let mut f = fixture();
    let binding = nullification(&f, 0, [Some(a), Some(a), None]);
    assert_eq!(cairn_bft::binds(&binding, &f.set), Some(a));
    f.from((f.me + 1) % 4, Message::Certificate(binding.clone()));
    assert_eq!(f.engine.status().view, 1);
    let fx = f.proposal(1, c, vec![binding.clone()]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "skipped a view bound to A: {fx:?}");
    // Control: the re-proposal of A is justified by the binding nullification alone.
    let mut g = fixture();
    let fx = g.proposal(1, a, vec![binding]);
    assert_eq!(g.engine.status().view, 1);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(a), "{fx:?}");
}

/// The leader's side: holding a binding nullification of view 0, the leader of view 1 re-proposes the bound
/// block with that nullification as justification, instead of building a fresh one.
#[test]
fn the_leader_reproposes_the_bound_block() {
    let a = block(b"A");
    let mut f = fixture_as(|keys, leaders| key_index(keys, leaders[1]));
    let binding = nullification(&f, 0, [Some(a), Some(a), Some(a)]);
    let fx = f.from((f.me + 1) % 4, Message::Certificate(binding));
    assert!(!builds(&fx, 1), "built a fresh block past a view bound to A");
    assert_eq!(proposed(&fx), Some((a, vec![(VoteKind::Nullify, 0)])), "{fx:?}");
}

/// A nullification in which a third of the weight claims something else binds nothing: some honest validator
/// did not notarize `A`, so it was not finalized fast, and a fresh block may follow. A later such nullification
/// replaces a binding one we hold.
#[test]
fn a_nullification_that_binds_nothing_allows_a_fresh_block() {
    let (a, c) = (block(b"A"), block(b"C"));
    let mut f = fixture();
    let loose = nullification(&f, 0, [Some(a), None, None]);
    assert_eq!(cairn_bft::binds(&loose, &f.set), None);
    let binding = nullification(&f, 0, [Some(a), Some(a), None]);
    f.from((f.me + 1) % 4, Message::Certificate(binding));
    let fx = f.proposal(1, c, vec![loose]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(c), "{fx:?}");
}

/// Two nullifications of one view that bind different blocks prove that neither was finalized fast (it would be
/// bound by every nullification), so the view binds nothing: a fresh block may follow, and a leader attaches
/// both as the proof.
#[test]
fn two_nullifications_binding_different_blocks_free_the_view() {
    let (a, b, c) = (block(b"A"), block(b"B"), block(b"C"));
    let mut f = fixture();
    let to_a = nullification(&f, 0, [Some(a), Some(a), None]);
    let to_b = nullification(&f, 0, [Some(b), Some(b), None]);
    assert_eq!((cairn_bft::binds(&to_a, &f.set), cairn_bft::binds(&to_b, &f.set)), (Some(a), Some(b)));
    f.from((f.me + 1) % 4, Message::Certificate(to_a.clone()));
    let fx = f.proposal(1, c, vec![to_a.clone()]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "view 0 still binds A for all we know");
    let fx = f.proposal(1, c, vec![to_a, to_b]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(c), "{fx:?}");
}

/// What a view binds is judged on every nullify vote counted, not only on the quorum that formed first: here the
/// first quorum (us, claiming nothing, and two claiming `A`) binds `A`, and the late fourth vote (claiming
/// nothing) shows that half the weight did not notarize `A`, so a fresh block may follow.
#[test]
fn a_late_nullify_vote_can_free_a_view() {
    let (a, c) = (block(b"A"), block(b"C"));
    let mut f = fixture();
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), Some(Hash::ZERO));
    let others: Vec<usize> = (0..4).filter(|i| *i != f.me).collect();
    for (who, claim) in others.iter().zip([a, a, Hash::ZERO]) {
        let (vote, signature) = f.signed(*who, VoteKind::Nullify, 0, claim);
        f.from(*who, Message::Vote { vote, signature });
        if claim == a && f.engine.status().view == 1 {
            let (vote, signature) = f.signed(f.leader(1), VoteKind::Notarize, 1, c);
            let fx = f.from(f.leader(1), Message::Proposal { vote, signature, justify: vec![] });
            assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "the first quorum binds A");
        }
    }
    assert_eq!(f.engine.status().view, 1);
    let fx = f.proposal(1, c, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(c), "{fx:?}");
}
