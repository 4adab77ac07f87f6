//! Message intake, rule by rule (`engine/intake.rs`): size limit, known senders, stale and future heights,
//! certificates from peers, vote and proposal checks. Each test is the answer to "if I delete this check, which
//! test fails?"; the drop counters are part of the engine's contract (metrics), so exact values are asserted.

mod common;

use std::sync::Arc;

use cairn_bft::{BftEngine, Config, MAX_FUTURE_MESSAGES, MAX_VIEW_AHEAD, Message};
use cairn_consensus::{
    Certificate, DropCounters, Effect, Engine, Input, MAX_MESSAGE_BYTES, PlainVerifier, Vote, VoteKind,
    WalRecord,
};
use cairn_primitives::{Hash, Height, Keypair, Validator, ValidatorSet};
use common::*;

fn only(d: DropCounters, f: impl Fn(&mut DropCounters)) {
    let mut expected = DropCounters::default();
    f(&mut expected);
    assert_eq!(d, expected);
}

fn other(f: &Fx) -> usize {
    (f.me + 1) % 4
}

fn vote_at(f: &Fx, who: usize, kind: VoteKind, height: u64, view: u64, block: Hash) -> Message {
    let vote = Vote { kind, height: Height(height), view, block };
    Message::Vote { vote, signature: vote.sign(&f.chain, &f.keys[who]) }
}

fn finalize_height_1(f: &mut Fx) {
    let c = final_cert(f, 1, block(b"A"));
    let o = other(f);
    f.from(o, Message::Certificate(c));
    assert_eq!(f.engine.status().height, Height(2));
}

/// Replaces the engine by a fresh one (same key) that knows the validator sets of `heights` only.
fn restart_with_sets(f: &mut Fx, sets: Vec<(u64, Arc<ValidatorSet>)>) {
    restart_with_wal(f, sets, vec![]);
}

/// The same, restoring our votes from `wal`.
fn restart_with_wal(f: &mut Fx, sets: Vec<(u64, Arc<ValidatorSet>)>, wal: Vec<WalRecord>) {
    f.engine = BftEngine::new(Config {
        chain_id: f.chain.clone(),
        signer: Arc::new(f.keys[f.me].clone()),
        seed: f.seed,
        leader_timeout: 500,
        verifier: Arc::new(PlainVerifier),
    });
    let mut fx = Vec::new();
    for (h, s) in sets {
        f.engine.handle(0, Input::ValidatorSet { height: Height(h), validators: s }, &mut fx);
    }
    f.engine.handle(0, Input::Start { last_finalized: (Height(0), Hash::ZERO), wal }, &mut fx);
}

fn sends(fx: &[Effect]) -> Vec<Message> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { bytes, .. } => Message::decode(bytes).ok(),
            _ => None,
        })
        .collect()
}

fn forge(mut c: Certificate) -> Certificate {
    let s = c.signers[1].1;
    c.signers[0].1 = s;
    c
}

#[test]
fn a_message_of_exactly_the_size_limit_is_decoded_not_refused_as_oversized() {
    let mut f = fixture();
    let o = other(&f);
    let from = f.keys[o].public();
    f.input(Input::Message { from, bytes: vec![0u8; MAX_MESSAGE_BYTES].into() });
    only(f.engine.dropped(), |d| d.malformed = 1);
}

#[test]
fn a_sync_request_from_outside_the_set_is_dropped_and_counted() {
    let mut f = fixture();
    finalize_height_1(&mut f);
    let outsider = Keypair::derived("outsider", 0);
    let fx = f.input(Input::Message {
        from: outsider.public(),
        bytes: Message::SyncRequest { height: Height(1) }.encode(),
    });
    assert!(sends(&fx).is_empty(), "answered an outsider: {fx:?}");
    only(f.engine.dropped(), |d| d.unknown_sender = 1);
    // A validator asking the same is answered.
    let o = other(&f);
    let fx = f.from(o, Message::SyncRequest { height: Height(1) });
    assert!(matches!(sends(&fx)[..], [Message::Certificate(_)]), "{fx:?}");
}

#[test]
fn a_vote_for_a_decided_height_is_dropped_as_stale() {
    let mut f = fixture();
    finalize_height_1(&mut f);
    let o = other(&f);
    let msg = vote_at(&f, o, VoteKind::Nullify, 1, 0, Hash::ZERO);
    let fx = f.from(o, msg);
    assert!(sends(&fx).is_empty());
    only(f.engine.dropped(), |d| d.stale = 1);
}

#[test]
fn a_sync_request_is_answered_while_waiting_for_the_next_validator_set() {
    let mut f = fixture();
    let set = f.set.clone();
    // Height 2's set is not known yet (height 3's is, so the sender is known).
    restart_with_sets(&mut f, vec![(1, set.clone()), (3, set)]);
    finalize_height_1(&mut f);
    let o = other(&f);
    let fx = f.from(o, Message::SyncRequest { height: Height(1) });
    assert!(matches!(sends(&fx)[..], [Message::Certificate(_)]), "{fx:?}");
    only(f.engine.dropped(), |_| {});
}

#[test]
fn while_waiting_for_a_set_old_heights_are_stale_and_the_current_one_is_kept() {
    let mut f = fixture();
    let set = f.set.clone();
    restart_with_sets(&mut f, vec![(1, set.clone())]);
    finalize_height_1(&mut f);
    let o = other(&f);
    let old = vote_at(&f, o, VoteKind::Nullify, 1, 0, Hash::ZERO);
    f.from(o, old);
    only(f.engine.dropped(), |d| d.stale = 1);
    // Nullify votes of height 2, view 0, from the three others: kept, then counted once the set is known.
    let others: Vec<usize> = (0..4).filter(|i| *i != f.me).collect();
    for who in others {
        let m = vote_at(&f, who, VoteKind::Nullify, 2, 0, Hash::ZERO);
        f.from(who, m);
    }
    only(f.engine.dropped(), |d| d.stale = 1);
    assert_eq!(f.engine.status().view, 0);
    f.input(Input::ValidatorSet { height: Height(2), validators: set });
    assert_eq!(f.engine.status(), cairn_consensus::Status { height: Height(2), view: 1 });
}

#[test]
fn messages_two_heights_ahead_are_kept_and_three_ahead_are_dropped() {
    let mut f = fixture();
    let o = other(&f);
    let two = vote_at(&f, o, VoteKind::Nullify, 3, 0, Hash::ZERO);
    f.from(o, two);
    only(f.engine.dropped(), |_| {});
    let three = vote_at(&f, o, VoteKind::Nullify, 4, 0, Hash::ZERO);
    f.from(o, three);
    only(f.engine.dropped(), |d| d.far_future = 1);
}

#[test]
fn the_future_buffer_holds_at_most_max_future_messages() {
    let mut f = fixture();
    let o = other(&f);
    let from = f.keys[o].public();
    let bytes = vote_at(&f, o, VoteKind::Nullify, 2, 0, Hash::ZERO).encode();
    let mut fx = Vec::new();
    for _ in 0..MAX_FUTURE_MESSAGES {
        f.engine.handle(1, Input::Message { from, bytes: bytes.clone() }, &mut fx);
    }
    only(f.engine.dropped(), |_| {});
    f.engine.handle(1, Input::Message { from, bytes }, &mut fx);
    only(f.engine.dropped(), |d| d.far_future = 1);
}

#[test]
fn a_nullification_naming_a_block_is_malformed() {
    let mut f = fixture();
    let c = f.cert(VoteKind::Nullify, 0, block(b"A"));
    let o = other(&f);
    f.from(o, Message::Certificate(c));
    assert_eq!(f.engine.status().view, 0);
    only(f.engine.dropped(), |d| d.malformed = 1);
}

#[test]
fn a_certificate_exactly_max_view_ahead_is_accepted() {
    let mut f = fixture();
    f.certificate(VoteKind::Nullify, MAX_VIEW_AHEAD, Hash::ZERO);
    assert_eq!(f.engine.status().view, MAX_VIEW_AHEAD + 1);
    only(f.engine.dropped(), |_| {});
}

#[test]
fn a_notarization_we_hold_is_dropped_as_stale() {
    let mut f = fixture();
    f.certificate(VoteKind::Notarize, 0, block(b"A"));
    only(f.engine.dropped(), |_| {});
    f.certificate(VoteKind::Notarize, 0, block(b"A"));
    only(f.engine.dropped(), |d| d.stale = 1);
}

#[test]
fn a_nullification_we_hold_and_counted_is_dropped_as_stale() {
    let mut f = fixture();
    f.certificate(VoteKind::Nullify, 0, Hash::ZERO);
    assert_eq!(f.engine.status().view, 1);
    only(f.engine.dropped(), |_| {});
    f.certificate(VoteKind::Nullify, 0, Hash::ZERO);
    only(f.engine.dropped(), |d| d.stale = 1);
}

#[test]
fn a_unanimous_notarization_with_a_bad_signature_is_dropped_and_counted() {
    let mut f = fixture();
    let b = block(b"A");
    let vote = Vote { kind: VoteKind::Notarize, height: Height(1), view: 0, block: b };
    let mut signers: Vec<_> = (0..4)
        .map(|i| (f.set.index_of(&f.keys[i].public()).unwrap() as u32, vote.sign(&f.chain, &f.keys[i])))
        .collect();
    signers.sort_by_key(|(i, _)| *i);
    let c = forge(Certificate::new(vote, signers));
    let o = other(&f);
    let fx = f.from(o, Message::Certificate(c));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Finalized(_))), "{fx:?}");
    assert_eq!(f.engine.status().height, Height(1));
    only(f.engine.dropped(), |d| d.bad_signature = 1);
}

/// A validator of the next height's set only: known (its certificates and sync requests are served), but its
/// votes at this height are not counted.
#[test]
fn a_validator_of_the_next_set_only_is_known_but_its_votes_are_not_counted() {
    let mut f = fixture();
    let newcomer = Keypair::derived("newcomer", 0);
    let mut next: Vec<Validator> =
        f.keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect();
    next.push(Validator { public_key: newcomer.public(), power: 1 });
    let next = Arc::new(ValidatorSet::new(next).unwrap());
    let set = f.set.clone();
    restart_with_sets(&mut f, vec![(1, set), (2, next)]);
    let vote = Vote { kind: VoteKind::Nullify, height: Height(1), view: 0, block: Hash::ZERO };
    let signature = vote.sign(&f.chain, &newcomer);
    f.input(Input::Message { from: newcomer.public(), bytes: Message::Vote { vote, signature }.encode() });
    only(f.engine.dropped(), |d| d.unknown_sender = 1);
    // A nullification it forwards (signed by this height's validators) is applied.
    let c = f.cert(VoteKind::Nullify, 0, Hash::ZERO);
    f.input(Input::Message { from: newcomer.public(), bytes: Message::Certificate(c).encode() });
    assert_eq!(f.engine.status().view, 1);
    only(f.engine.dropped(), |d| d.unknown_sender = 1);
}

#[test]
fn a_prefer_vote_is_malformed() {
    let mut f = fixture();
    let o = other(&f);
    let m = vote_at(&f, o, VoteKind::Prefer, 1, 0, block(b"A"));
    f.from(o, m);
    only(f.engine.dropped(), |d| d.malformed = 1);
}

#[test]
fn a_vote_exactly_max_view_ahead_is_counted() {
    let mut f = fixture();
    let o = other(&f);
    let m = vote_at(&f, o, VoteKind::Nullify, 1, MAX_VIEW_AHEAD, Hash::ZERO);
    f.from(o, m);
    only(f.engine.dropped(), |_| {});
}

fn at_view_1(f: &mut Fx) -> Certificate {
    assert!(f.leader(1) != f.me && f.leader(2) != f.me, "fixture: we lead views 1, 2");
    let null0 = f.cert(VoteKind::Nullify, 0, Hash::ZERO);
    let o = other(f);
    f.from(o, Message::Certificate(null0.clone()));
    assert_eq!(f.engine.status().view, 1);
    null0
}

#[test]
fn a_proposal_may_carry_up_to_two_certificates_per_view_ahead_plus_two() {
    let mut f = fixture();
    let null0 = at_view_1(&mut f);
    let b = block(b"B");
    let fx = f.proposal(1, b, vec![null0; 2 * MAX_VIEW_AHEAD as usize + 2]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(b), "{fx:?}");
    only(f.engine.dropped(), |_| {});
}

#[test]
fn a_proposal_with_more_certificates_than_that_is_invalid() {
    let mut f = fixture();
    let null0 = at_view_1(&mut f);
    let b = block(b"B");
    let fx = f.proposal(1, b, vec![null0; 2 * MAX_VIEW_AHEAD as usize + 3]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "{fx:?}");
    only(f.engine.dropped(), |d| d.invalid_proposal = 1);
}

#[test]
fn a_justification_of_the_proposals_own_view_is_invalid() {
    let mut f = fixture();
    let null0 = f.cert(VoteKind::Nullify, 0, Hash::ZERO);
    f.proposal(0, block(b"B"), vec![null0]);
    assert_eq!(f.engine.status().view, 0);
    only(f.engine.dropped(), |d| d.invalid_proposal = 1);
}

#[test]
fn a_finalization_in_a_justification_is_invalid_and_not_applied() {
    let mut f = fixture();
    at_view_1(&mut f);
    let fin = final_cert(&f, 1, block(b"A"));
    let fx = f.proposal(1, block(b"A"), vec![fin]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Finalized(_))), "{fx:?}");
    assert_eq!(f.engine.status().height, Height(1));
    only(f.engine.dropped(), |d| d.invalid_proposal = 1);
}

#[test]
fn a_justifying_notarization_of_another_block_is_invalid() {
    let mut f = fixture();
    at_view_1(&mut f);
    let n0 = f.cert(VoteKind::Notarize, 0, block(b"A"));
    let fx = f.proposal(1, block(b"B"), vec![n0]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "{fx:?}");
    only(f.engine.dropped(), |d| d.invalid_proposal = 1);
}

#[test]
fn a_justification_with_a_bad_signature_is_invalid() {
    // View 0 was never nullified here: a forged nullification of it is checked, and refused.
    let mut g = fixture();
    g.certificate(VoteKind::Nullify, 1, Hash::ZERO);
    assert_eq!(g.engine.status().view, 2);
    let forged0 = forge(g.cert(VoteKind::Nullify, 0, Hash::ZERO));
    let fx = g.proposal(2, block(b"B"), vec![forged0]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 2), None, "{fx:?}");
    only(g.engine.dropped(), |d| d.invalid_proposal = 1);
}

#[test]
fn a_justifying_notarization_we_hold_is_not_checked_again() {
    let mut f = fixture();
    let a = block(b"A");
    assert!(f.leader(1) != f.me);
    f.certificate(VoteKind::Notarize, 0, a);
    f.input(Input::Timer(VIEW_TIMER));
    f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(f.engine.status().view, 1);
    let forged = forge(f.cert(VoteKind::Notarize, 0, a));
    f.proposal(1, a, vec![forged]);
    only(f.engine.dropped(), |_| {});
}

#[test]
fn a_notarizer_without_a_certificate_nullifies_on_the_second_timeout() {
    let mut f = fixture();
    let a = block(b"A");
    let fx = f.proposal(0, a, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 0), Some(a));
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), None, "{fx:?}");
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), Some(a), "{fx:?}");
}

/// The nullify vote that completes a nullification moves us to the next view, whose timer (backed off: the
/// failed view's leader was heard) must not be overwritten by the old view's re-arm.
#[test]
fn the_timeout_that_completes_a_nullification_leaves_the_next_views_timer() {
    let mut f = fixture();
    let l = f.leader(0);
    let third = (0..4).find(|i| *i != f.me && *i != l).unwrap();
    for who in [l, third] {
        let m = vote_at(&f, who, VoteKind::Nullify, 1, 0, Hash::ZERO);
        f.from(who, m);
    }
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(f.engine.status().view, 1);
    assert_eq!(view_timer_at(&fx), Some(f.now + 1000), "{fx:?}");
}

/// After a restart our WAL says we voted finalize in the view, but the notarization is gone with the old
/// process: the first timeout asks peers for the finalization (a finalize `Retry`), it does not fall back to
/// re-sending the notarize vote.
#[test]
fn after_a_restart_with_our_finalize_vote_the_first_timeout_asks_for_the_finalization() {
    let mut f = fixture();
    let a = block(b"A");
    let mut all = f.proposal(0, a, vec![]);
    all.extend(f.certificate(VoteKind::Notarize, 0, a));
    assert_eq!(voted(&all, VoteKind::Finalize, 0), Some(a));
    let wal: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let set = f.set.clone();
    restart_with_wal(&mut f, vec![(1, set)], wal);
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(voted(&fx, VoteKind::Finalize, 0), Some(a), "{fx:?}");
    assert_eq!(f.engine.status().view, 0);
}
