//! The liveness rules on one engine: what ends a view or a height, how timeouts grow and shrink, what is
//! re-sent and to whom. Each test checks the exact timer or message the rule implies, so it can fail.

mod common;

use cairn_bft::{Message, leader};
use cairn_consensus::{Effect, Engine, Input, Vote, VoteKind};
use cairn_primitives::{Hash, Height};
use common::*;

#[test]
fn finalization_far_ahead_in_views_is_accepted() {
    let mut f = fixture();
    let fx = f.certificate(VoteKind::Finalize, 1_000, block(b"A"));
    assert!(fx.iter().any(|e| matches!(e, Effect::Finalized(d) if d.height == Height(1))), "{fx:?}");
    assert_eq!(f.engine.status().height, Height(2));
    // A notarization that far ahead is still refused (it would let a peer grow our vote book).
    let mut g = fixture();
    g.certificate(VoteKind::Notarize, 1_000, block(b"A"));
    assert_eq!(g.engine.dropped().far_future, 1);
}

#[test]
fn timeouts_back_off_per_failed_view_and_reset_on_progress() {
    let mut f = fixture();
    let mut waits = Vec::new();
    for view in 0..6 {
        // The view's leader is alive (we hear its nullify), so the failure says our timeout is too short.
        let l = f.leader(view);
        if l != f.me {
            let (v, s) = f.signed(l, VoteKind::Nullify, view, Hash::ZERO);
            f.from(l, Message::Vote { vote: v, signature: s });
        }
        let fx = f.certificate(VoteKind::Nullify, view, Hash::ZERO);
        waits.push(view_timer_at(&fx).unwrap() - f.now);
    }
    assert_eq!(waits, vec![1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    // A notarization is progress: the next view is back at one leader timeout.
    f.certificate(VoteKind::Notarize, 6, block(b"A"));
    let l = f.leader(6);
    if l != f.me {
        let (v, s) = f.signed(l, VoteKind::Nullify, 6, Hash::ZERO);
        f.from(l, Message::Vote { vote: v, signature: s });
    }
    let fx = f.certificate(VoteKind::Nullify, 6, Hash::ZERO);
    assert_eq!(view_timer_at(&fx).unwrap() - f.now, 1_000, "one failed view since the notarization");
}

#[test]
fn views_of_leaders_never_heard_from_do_not_back_off() {
    let mut f = fixture();
    for view in 0..4 {
        let fx = f.certificate(VoteKind::Nullify, view, Hash::ZERO);
        assert_eq!(view_timer_at(&fx).unwrap() - f.now, 500, "view {view}");
    }
}

#[test]
fn after_nullifying_a_view_its_notarization_moves_us_on_at_once() {
    let mut f = fixture();
    let a = block(b"A");
    f.proposal(0, a, vec![]);
    for _ in 0..3 {
        if f.engine.status().view > 0
            || voted(&f.input(Input::Timer(VIEW_TIMER)), VoteKind::Nullify, 0).is_some()
        {
            break;
        }
    }
    assert_eq!(f.engine.status().view, 0);
    f.certificate(VoteKind::Notarize, 0, a);
    assert_eq!(f.engine.status().view, 1, "we cannot finalize view 0; wait in view 1 instead");
    // The re-proposal of A in view 1 is notarized and, once notarized, finalized.
    let just = f.cert(VoteKind::Notarize, 0, a);
    assert_eq!(voted(&f.proposal(1, a, vec![just]), VoteKind::Notarize, 1), Some(a));
    assert_eq!(voted(&f.certificate(VoteKind::Notarize, 1, a), VoteKind::Finalize, 1), Some(a));
}

#[test]
fn leaders_unheard_for_two_heights_get_a_zero_timeout() {
    let mut f = fixture();
    let leader_at = |f: &Fx, h: u64| key_index(&f.keys, leader(&f.set, &f.seed, Height(h), 0));
    // At height 1 we hear every validator except the leader of height 2's view 0.
    let unheard = leader_at(&f, 2);
    let mut heard = [None; 4];
    let me = f.me;
    for who in (0..4).filter(|w| *w != me && *w != unheard) {
        let (v, s) = f.signed(who, VoteKind::Nullify, 0, Hash::ZERO);
        f.from(who, Message::Vote { vote: v, signature: s });
        heard[who] = Some(1u64);
    }
    let mut checked = (false, false);
    for h in 1..10u64 {
        let other = (f.me + 1) % 4;
        let fx = f.from(other, Message::Certificate(final_cert(&f, h, block(&h.to_le_bytes()))));
        let next = h + 1;
        assert_eq!(f.engine.status().height, Height(next));
        let l = leader_at(&f, next);
        let silent = l != f.me && next > 2 && heard[l].is_none_or(|at| at + 2 < next);
        let expected = if silent { 0 } else { 500 };
        assert_eq!(
            view_timer_at(&fx).unwrap() - f.now,
            expected,
            "height {next}, leader {l}, heard {heard:?}"
        );
        if silent {
            checked.0 = true;
        } else if l != f.me && heard[l].is_some() {
            checked.1 = true;
        }
    }
    assert!(checked.0 && checked.1, "the schedule exercised both cases: {checked:?}");
}

#[test]
fn a_certificate_goes_once_to_helped_validators_that_did_not_vote_for_it() {
    // y's late vote: none, its notarize, or a finalize (which only the notarization allows).
    for late_vote in [None, Some(VoteKind::Notarize), Some(VoteKind::Finalize)] {
        let mut f = fixture();
        let a = block(b"A");
        let l = f.leader(0);
        // The validator whose vote is missing: one we help, other than the leader.
        // We help two of the three others, so at least one that is not the leader.
        let y = (0..4).find(|w| *w != f.me && *w != l && helped_by(&f, *w)).expect("a helped non-leader");
        let third = (0..4).find(|w| *w != f.me && *w != l && *w != y).unwrap();
        f.proposal(0, a, vec![]);
        let (v, s) = f.signed(third, VoteKind::Notarize, 0, a);
        let fx = f.from(third, Message::Vote { vote: v, signature: s });
        assert!(sent_certificates(&fx).is_empty(), "nothing is sent the moment it forms");
        assert!(fx.iter().any(|e| matches!(e, Effect::SetTimer { id, .. } if *id == GOSSIP_TIMER)));
        if let Some(kind) = late_vote {
            let (v, s) = f.signed(y, kind, 0, a);
            f.from(y, Message::Vote { vote: v, signature: s });
        }
        // Fired early, nothing is due yet; a quarter timeout (125 ms) after forming, it is.
        assert!(sent_certificates(&f.input(Input::Timer(GOSSIP_TIMER))).is_empty());
        f.now += 125;
        let fx = f.input(Input::Timer(GOSSIP_TIMER));
        let to_y: Vec<_> =
            sent_certificates(&fx).into_iter().filter(|(to, _)| *to == f.keys[y].public()).collect();
        let expected =
            if late_vote.is_some() { vec![] } else { vec![(f.keys[y].public(), VoteKind::Notarize)] };
        assert_eq!(to_y, expected, "late vote: {late_vote:?}");
        // Never to someone whose vote is in it, and only once.
        assert!(
            sent_certificates(&fx)
                .iter()
                .all(|(to, _)| *to != f.keys[third].public() && *to != f.keys[l].public())
        );
        assert!(sent_certificates(&f.input(Input::Timer(GOSSIP_TIMER))).is_empty());
    }
}

/// Lost messages: half a timeout after each vote, the latest one is re-sent as a `Retry` (as the proposal
/// itself by the leader before its view is notarized), until the certificate it should lead to arrives.
#[test]
fn the_latest_vote_is_resent_half_a_timeout_later() {
    for lead in [false, true] {
        let mut f = if lead { fixture_as(|keys, leaders| key_index(keys, leaders[0])) } else { fixture() };
        let a = block(b"A");
        let fx = if lead {
            f.input(Input::PayloadBuilt { height: Height(1), view: 0, payload: a })
        } else {
            f.proposal(0, a, vec![])
        };
        assert_eq!(voted(&fx, VoteKind::Notarize, 0), Some(a), "lead {lead}");
        assert_eq!(timer_at(&fx, RETRY_TIMER), Some(f.now + 250));
        let fx = f.input(Input::Timer(RETRY_TIMER));
        match broadcasts(&fx).as_slice() {
            [Message::Proposal { vote, .. }] if lead => assert_eq!(vote.block, a),
            [Message::Retry { vote, .. }] if !lead => {
                assert_eq!((vote.kind, vote.block), (VoteKind::Notarize, a))
            }
            other => panic!("lead {lead}: {other:?}"),
        }
        // Notarized: now the finalize vote is what we re-send, as a plain retry even by the leader.
        f.certificate(VoteKind::Notarize, 0, a);
        let fx = f.input(Input::Timer(RETRY_TIMER));
        match broadcasts(&fx).as_slice() {
            [Message::Retry { vote, .. }] => assert_eq!((vote.kind, vote.block), (VoteKind::Finalize, a)),
            other => panic!("lead {lead}: {other:?}"),
        }
    }
    // Nothing to re-send before we voted.
    let mut f = fixture();
    assert!(broadcasts(&f.input(Input::Timer(RETRY_TIMER))).is_empty());
}

/// The view timer's schedule: a view we voted in gets one more timeout (re-sending our vote) before we nullify
/// it; a finalized-but-not-final view asks for its finalization once, then moves on; after nullifying, the timer
/// keeps running (re-sending the nullify).
#[test]
fn view_timer_schedule() {
    let a = block(b"A");
    let mut f = fixture();
    f.proposal(0, a, vec![]);
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), None, "first timeout after voting: wait once more");
    assert!(
        matches!(broadcasts(&fx).as_slice(), [Message::Retry { vote, .. }] if vote.kind == VoteKind::Notarize)
    );
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert!(voted(&fx, VoteKind::Nullify, 0).is_some(), "second timeout: nullify");
    assert!(timer_at(&fx, VIEW_TIMER).is_some(), "the timer keeps running after a nullify");
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert!(
        matches!(broadcasts(&fx).as_slice(), [.., Message::Retry { vote, .. }] if vote.kind == VoteKind::Nullify)
    );

    let mut f = fixture();
    f.proposal(0, a, vec![]);
    let fx = f.certificate(VoteKind::Notarize, 0, a);
    assert_eq!(timer_at(&fx, VIEW_TIMER), Some(f.now + 500), "a notarization re-arms the view timer");
    let fx = f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(f.engine.status().view, 0, "first timeout after finalizing: ask for the finalization");
    assert!(
        matches!(broadcasts(&fx).as_slice(), [Message::Retry { vote, .. }] if vote.kind == VoteKind::Finalize)
    );
    f.input(Input::Timer(VIEW_TIMER));
    assert_eq!(f.engine.status().view, 1, "then move on");
}

#[test]
fn a_notarization_of_a_later_view_takes_us_there() {
    let mut f = fixture();
    let a = block(b"A");
    let fx = f.certificate(VoteKind::Notarize, 2, a);
    assert_eq!(f.engine.status().view, 2);
    assert_eq!(voted(&fx, VoteKind::Finalize, 2), Some(a));
}

#[test]
fn a_finalization_goes_to_helped_validators_not_heard_from_at_a_later_height() {
    for y_moved_on in [false, true] {
        let mut f = fixture();
        let a = block(b"A");
        let l = f.leader(0);
        let y = (0..4).find(|w| *w != f.me && *w != l && helped_by(&f, *w)).expect("a helped non-leader");
        let third = (0..4).find(|w| *w != f.me && *w != l && *w != y).unwrap();
        f.proposal(0, a, vec![]);
        let (v, s) = f.signed(third, VoteKind::Notarize, 0, a);
        f.from(third, Message::Vote { vote: v, signature: s });
        for w in [l, third] {
            let (v, s) = f.signed(w, VoteKind::Finalize, 0, a);
            f.from(w, Message::Vote { vote: v, signature: s });
        }
        assert_eq!(f.engine.status().height, Height(2), "finalized from votes, y's missing");
        if y_moved_on {
            let vote = Vote { kind: VoteKind::Nullify, height: Height(2), view: 0, block: Hash::ZERO };
            let signature = vote.sign(&f.chain, &f.keys[y]);
            f.from(y, Message::Vote { vote, signature });
        }
        f.now += 300;
        let fx = f.input(Input::Timer(GOSSIP_TIMER));
        let sent = sent_certificates(&fx);
        // The notarization of the decided height is never sent; the finalization only to a y not heard since.
        let expected = if y_moved_on { vec![] } else { vec![(f.keys[y].public(), VoteKind::Finalize)] };
        assert_eq!(sent, expected, "y moved on: {y_moved_on}");
    }
}
