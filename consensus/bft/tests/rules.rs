//! The voting rules the safety argument rests on, attacked one at a time on a single engine: each test sets up
//! the state in which a broken rule would make the engine sign, and checks that it does not (and, as a
//! control, that it does sign when the rule allows it, so the test can fail).

mod common;

use cairn_bft::{Message, leader};
use cairn_consensus::{Effect, Engine, EvidenceKind, Input, VoteKind};
use cairn_primitives::{Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};
use common::*;

#[test]
fn fresh_proposal_that_skips_a_notarized_view_is_not_notarized() {
    let mut f = fixture();
    let (a, c) = (block(b"A"), block(b"C"));
    f.certificate(VoteKind::Notarize, 0, a);
    f.timeout_into(1);
    // View 0 is notarized and not nullified: a fresh block (no justification) in view 1 is unjustified.
    let fx = f.proposal(1, c, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "notarized an unjustified proposal: {fx:?}");
    // Control: the re-proposal of A, justified by view 0's notarization, is notarized.
    let mut g = fixture();
    g.certificate(VoteKind::Notarize, 0, a);
    g.timeout_into(1);
    let just = g.cert(VoteKind::Notarize, 0, a);
    let fx = g.proposal(1, a, vec![just]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(a));
}

#[test]
fn fresh_proposal_is_notarized_only_once_every_earlier_view_is_nullified() {
    let mut f = fixture();
    let c = block(b"C");
    // A proposal for view 1 while view 0 is undecided: not justified (and not our view yet).
    let fx = f.proposal(1, c, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None);
    // The nullification of view 0 arrives: we enter view 1 and the fresh block is justified.
    let fx = f.certificate(VoteKind::Nullify, 0, Hash::ZERO);
    assert_eq!(f.engine.status().view, 1);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), Some(c), "{fx:?}");
}

#[test]
fn reproposal_must_cover_every_view_since_its_notarization() {
    let mut f = fixture();
    let (a, c) = (block(b"A"), block(b"C"));
    f.certificate(VoteKind::Notarize, 0, a);
    f.certificate(VoteKind::Nullify, 1, Hash::ZERO);
    assert_eq!(f.engine.status().view, 2);
    // View 2 justified by view 0's notarization (view 1 nullified): A, not C.
    let just = f.cert(VoteKind::Notarize, 0, a);
    let fx = f.proposal(2, c, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 2), None, "C skips the notarized A");
    let mut g = fixture();
    g.certificate(VoteKind::Notarize, 0, a);
    g.certificate(VoteKind::Nullify, 1, Hash::ZERO);
    let fx = g.proposal(2, a, vec![just]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 2), Some(a));
}

#[test]
fn no_finalize_after_nullify() {
    let mut f = fixture();
    let a = block(b"A");
    let fx = f.proposal(0, a, vec![]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 0), Some(a));
    // Time out until we nullify view 0 (without its notarization).
    let mut fx = Vec::new();
    for _ in 0..3 {
        fx.extend(f.input(Input::Timer(VIEW_TIMER)));
        if voted(&fx, VoteKind::Nullify, 0).is_some() {
            break;
        }
    }
    assert!(voted(&fx, VoteKind::Nullify, 0).is_some(), "never nullified: {fx:?}");
    // The notarization arrives late: we must not finalize the view we nullified.
    let fx = f.certificate(VoteKind::Notarize, 0, a);
    assert_eq!(voted(&fx, VoteKind::Finalize, 0), None, "finalized a nullified view: {fx:?}");
}

#[test]
fn no_nullify_after_finalize() {
    let mut f = fixture();
    let a = block(b"A");
    f.proposal(0, a, vec![]);
    let fx = f.certificate(VoteKind::Notarize, 0, a);
    assert_eq!(voted(&fx, VoteKind::Finalize, 0), Some(a), "control: finalize on notarization");
    let mut fx = Vec::new();
    for _ in 0..6 {
        fx.extend(f.input(Input::Timer(VIEW_TIMER)));
    }
    assert_eq!(voted(&fx, VoteKind::Nullify, 0), None, "nullified a view we finalized: {fx:?}");
}

#[test]
fn no_second_notarize_in_a_view() {
    let mut f = fixture();
    let (a, b) = (block(b"A"), block(b"B"));
    assert_eq!(voted(&f.proposal(0, a, vec![]), VoteKind::Notarize, 0), Some(a));
    let fx = f.proposal(0, b, vec![]);
    assert!(votes(&fx).iter().all(|v| v.block != b), "{fx:?}");
}

fn evidence(fx: &[Effect]) -> Vec<EvidenceKind> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Evidence(ev) => {
                assert!(ev.verify(&"rules".parse().unwrap()).is_ok());
                ev.kind()
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_forbidden_pair_is_evidence() {
    let (a, b) = (block(b"A"), block(b"B"));
    let pairs = [
        ((VoteKind::Notarize, a), (VoteKind::Notarize, b), EvidenceKind::Equivocation),
        ((VoteKind::Finalize, a), (VoteKind::Finalize, b), EvidenceKind::Equivocation),
        ((VoteKind::Nullify, Hash::ZERO), (VoteKind::Finalize, a), EvidenceKind::NullifyFinalize),
        ((VoteKind::Finalize, a), (VoteKind::Nullify, Hash::ZERO), EvidenceKind::NullifyFinalize),
    ];
    for ((k1, b1), (k2, b2), kind) in pairs {
        let mut f = fixture();
        let who = (f.me + 1) % 4;
        let (v, s) = f.signed(who, k1, 0, b1);
        let mut fx = f.from(who, Message::Vote { vote: v, signature: s });
        let (v, s) = f.signed(who, k2, 0, b2);
        fx.extend(f.from(who, Message::Vote { vote: v, signature: s }));
        assert_eq!(evidence(&fx), vec![kind], "{k1:?} then {k2:?}");
    }
    // Two proposals by the leader: its two notarize votes.
    let mut f = fixture();
    let mut fx = f.proposal(0, a, vec![]);
    fx.extend(f.proposal(0, b, vec![]));
    assert_eq!(evidence(&fx), vec![EvidenceKind::Equivocation]);
    // Notarize + nullify is legal (a notarized view may still time out).
    let mut f = fixture();
    let who = (f.me + 1) % 4;
    let (v, s) = f.signed(who, VoteKind::Notarize, 0, a);
    let mut fx = f.from(who, Message::Vote { vote: v, signature: s });
    let (v, s) = f.signed(who, VoteKind::Nullify, 0, Hash::ZERO);
    fx.extend(f.from(who, Message::Vote { vote: v, signature: s }));
    assert!(evidence(&fx).is_empty());
}

#[test]
fn certificate_signers_are_checked_for_evidence_too() {
    let mut f = fixture();
    let who = (f.me + 1) % 4;
    let (v, s) = f.signed(who, VoteKind::Nullify, 0, Hash::ZERO);
    f.from(who, Message::Vote { vote: v, signature: s });
    // `who` also signed the finalization of view 0.
    let fx = f.certificate(VoteKind::Finalize, 0, block(b"A"));
    assert_eq!(evidence(&fx), vec![EvidenceKind::NullifyFinalize]);
}

#[test]
fn a_stored_notarization_of_another_block_does_not_justify() {
    // Two notarizations of one view need more than a third of Byzantine weight; even then the proposal's
    // pointer must name the block we hold as notarized.
    let mut f = fixture();
    let (a, c) = (block(b"A"), block(b"C"));
    f.certificate(VoteKind::Notarize, 0, a);
    f.timeout_into(1);
    let forged = f.cert(VoteKind::Notarize, 0, c);
    let fx = f.proposal(1, c, vec![forged]);
    assert_eq!(voted(&fx, VoteKind::Notarize, 1), None, "{fx:?}");
}

/// As leader of view 2: what we propose depends on what ended views 0 and 1 (the Simplex justification rule).
#[test]
fn leader_extends_the_latest_notarization_or_builds_fresh() {
    let lead2 = |keys: &[Keypair], _: &[PublicKey]| {
        let set =
            ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
                .unwrap();
        let l = leader(&set, &Hash::digest(b"rules"), Height(1), 2);
        keys.iter().position(|k| k.public() == l).unwrap()
    };
    let (a, b) = (block(b"A"), block(b"B"));
    let null = |v| (VoteKind::Nullify, v, Hash::ZERO);
    /// Certificates delivered; the block re-proposed (if any) and its justification; whether a fresh block is built.
    type Case = (Vec<(VoteKind, u64, Hash)>, Option<Hash>, Vec<(VoteKind, u64)>, bool);
    let cases: Vec<Case> = vec![
        // Both views nullified: a fresh block.
        (vec![null(0), null(1)], None, vec![], true),
        // View 0 notarized A (not nullified), view 1 nullified: re-propose A with both certificates.
        (
            vec![(VoteKind::Notarize, 0, a), null(1)],
            Some(a),
            vec![(VoteKind::Notarize, 0), (VoteKind::Nullify, 1)],
            false,
        ),
        // A notarized in 0, B in 1: the latest one, B.
        (
            vec![(VoteKind::Notarize, 0, a), null(0), (VoteKind::Notarize, 1, b), null(1)],
            Some(b),
            vec![(VoteKind::Notarize, 1)],
            false,
        ),
    ];
    for (certs, expect, justify, fresh) in cases {
        let mut f = fixture_as(lead2);
        let mut fx = Vec::new();
        for (k, v, blk) in &certs {
            fx.extend(f.certificate(*k, *v, *blk));
        }
        assert_eq!(f.engine.status().view, 2, "{certs:?}");
        assert_eq!(builds(&fx, 2), fresh, "{certs:?}: {fx:?}");
        match expect {
            Some(blk) => assert_eq!(proposed(&fx), Some((blk, justify)), "{certs:?}"),
            None => assert_eq!(proposed(&fx), None, "{certs:?}"),
        }
    }
    // Once we proposed, nothing asks for a second block in the view (e.g. when the view's notarization comes).
    let mut f = fixture_as(lead2);
    f.certificate(VoteKind::Nullify, 0, Hash::ZERO);
    assert!(builds(&f.certificate(VoteKind::Nullify, 1, Hash::ZERO), 2));
    let c = block(b"C");
    let fx = f.input(Input::PayloadBuilt { height: Height(1), view: 2, payload: c });
    assert_eq!(proposed(&fx).map(|p| p.0), Some(c));
    let fx = f.certificate(VoteKind::Notarize, 2, c);
    assert!(!builds(&fx, 2) && proposed(&fx).is_none(), "{fx:?}");
    // Only view 1 is known nullified (view 0 undecided): nothing may be proposed in view 2.
    let mut f = fixture_as(lead2);
    let fx = f.certificate(VoteKind::Nullify, 1, Hash::ZERO);
    assert_eq!(f.engine.status().view, 2);
    assert!(!builds(&fx, 2) && proposed(&fx).is_none(), "{fx:?}");
}
