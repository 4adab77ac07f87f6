//! The voting rules the safety argument rests on, attacked one at a time on a single engine: each test sets up
//! the state in which a broken rule would make the engine sign, and checks that it does not (and, as a
//! control, that it does sign when the rule allows it, so the test can fail).

use std::sync::Arc;

use cairn_bft::{BftEngine, Config, Message, leader};
use cairn_consensus::{
    Certificate, Effect, Engine, EvidenceKind, Input, PlainVerifier, TimerId, Vote, VoteKind,
};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};

const VIEW_TIMER: TimerId = TimerId(0);

struct Fx {
    keys: Vec<Keypair>,
    set: Arc<ValidatorSet>,
    chain: ChainId,
    seed: Hash,
    me: usize,
    engine: BftEngine,
    now: u64,
}

fn key_index(keys: &[Keypair], pk: PublicKey) -> usize {
    keys.iter().position(|k| k.public() == pk).unwrap()
}

/// Four equal validators; we are one that leads none of views 0..=3 of height 1 if there is one.
fn fixture() -> Fx {
    fixture_as(|keys, leaders| {
        (0..4).find(|i| !leaders.contains(&keys[*i].public())).unwrap_or_else(|| {
            (0..4)
                .find(|i| !leaders[..2].contains(&keys[*i].public()))
                .expect("someone leads neither of views 0, 1")
        })
    })
}

/// Four equal validators; `pick` chooses which one we are, given the keys and the leaders of views 0..4 of
/// height 1. Validator sets are known up to height 12.
fn fixture_as(pick: impl Fn(&[Keypair], &[PublicKey]) -> usize) -> Fx {
    let mut keys: Vec<Keypair> = (0..4).map(|i| Keypair::derived("rules", i)).collect();
    keys.sort_by_key(|k| k.public());
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    let seed = Hash::digest(b"rules");
    let leaders: Vec<PublicKey> = (0..4).map(|v| leader(&set, &seed, Height(1), v)).collect();
    let me = pick(&keys, &leaders);
    let chain: ChainId = "rules".parse().unwrap();
    let mut engine = BftEngine::new(Config {
        chain_id: chain.clone(),
        key: keys[me].clone(),
        seed,
        leader_timeout: 500,
        verifier: Arc::new(PlainVerifier),
    });
    let mut fx = Vec::new();
    for h in 1..=12 {
        engine.handle(0, Input::ValidatorSet { height: Height(h), validators: set.clone() }, &mut fx);
    }
    engine.handle(0, Input::Start { last_finalized: (Height(0), Hash::ZERO), wal: vec![] }, &mut fx);
    Fx { keys, set, chain, seed, me, engine, now: 0 }
}

fn block(name: &[u8]) -> Hash {
    Hash::digest(name)
}

impl Fx {
    fn input(&mut self, input: Input) -> Vec<Effect> {
        self.now += 10;
        let mut fx = Vec::new();
        self.engine.handle(self.now, input, &mut fx);
        // Answer payload checks at once (every payload is valid here).
        let verdicts: Vec<Input> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::VerifyPayload { height, payload, .. } => {
                    Some(Input::PayloadVerdict { height: *height, payload: *payload, valid: true })
                }
                _ => None,
            })
            .collect();
        for v in verdicts {
            self.engine.handle(self.now, v, &mut fx);
        }
        fx
    }

    fn leader(&self, view: u64) -> usize {
        key_index(&self.keys, leader(&self.set, &self.seed, Height(1), view))
    }

    fn from(&mut self, who: usize, msg: Message) -> Vec<Effect> {
        let from = self.keys[who].public();
        self.input(Input::Message { from, bytes: msg.encode() })
    }

    fn signed(
        &self,
        who: usize,
        kind: VoteKind,
        view: u64,
        block: Hash,
    ) -> (Vote, cairn_primitives::Signature) {
        let vote = Vote { kind, height: Height(1), view, block };
        (vote, vote.sign(&self.chain, &self.keys[who]))
    }

    fn proposal(&mut self, view: u64, b: Hash, justify: Vec<Certificate>) -> Vec<Effect> {
        let l = self.leader(view);
        let (vote, signature) = self.signed(l, VoteKind::Notarize, view, b);
        self.from(l, Message::Proposal { vote, signature, justify })
    }

    /// A certificate of `kind` for `block` in `view`, signed by the three validators other than us.
    fn cert(&self, kind: VoteKind, view: u64, block: Hash) -> Certificate {
        let vote = Vote { kind, height: Height(1), view, block };
        let mut signers: Vec<(u32, cairn_primitives::Signature)> = (0..4)
            .filter(|i| *i != self.me)
            .map(|i| {
                (
                    self.set.index_of(&self.keys[i].public()).unwrap() as u32,
                    vote.sign(&self.chain, &self.keys[i]),
                )
            })
            .collect();
        signers.sort_by_key(|(i, _)| *i);
        Certificate { vote, signers }
    }

    fn certificate(&mut self, kind: VoteKind, view: u64, block: Hash) -> Vec<Effect> {
        let c = self.cert(kind, view, block);
        let other = (self.me + 1) % 4;
        self.from(other, Message::Certificate(c))
    }

    /// Fires the view timer until the engine is in `view` (at most a few times).
    fn timeout_into(&mut self, view: u64) -> Vec<Effect> {
        let mut all = Vec::new();
        for _ in 0..4 {
            if self.engine.status().view >= view {
                break;
            }
            all.extend(self.input(Input::Timer(VIEW_TIMER)));
        }
        assert_eq!(self.engine.status().view, view, "could not time out into view {view}");
        all
    }
}

/// Our own votes in `fx` (proposals count as notarize votes).
fn votes(fx: &[Effect]) -> Vec<Vote> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Broadcast { bytes } => match Message::decode(bytes) {
                Ok(
                    Message::Vote { vote, .. } | Message::Proposal { vote, .. } | Message::Retry { vote, .. },
                ) => Some(vote),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn voted(fx: &[Effect], kind: VoteKind, view: u64) -> Option<Hash> {
    votes(fx).into_iter().find(|v| v.kind == kind && v.view == view).map(|v| v.block)
}

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

// ---------------------------------------------------------------- liveness rules

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

fn view_timer_at(fx: &[Effect]) -> Option<u64> {
    fx.iter().rev().find_map(|e| match e {
        Effect::SetTimer { id, at } if *id == VIEW_TIMER => Some(*at),
        _ => None,
    })
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

fn proposed(fx: &[Effect]) -> Option<(Hash, Vec<(VoteKind, u64)>)> {
    fx.iter().find_map(|e| match e {
        Effect::Broadcast { bytes } => match Message::decode(bytes) {
            Ok(Message::Proposal { vote, justify, .. }) => {
                Some((vote.block, justify.iter().map(|c| (c.vote.kind, c.vote.view)).collect()))
            }
            _ => None,
        },
        _ => None,
    })
}

fn builds(fx: &[Effect], view: u64) -> bool {
    fx.iter().any(|e| matches!(e, Effect::BuildPayload { view: v, .. } if *v == view))
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

/// A finalization certificate for `height` (view 0) signed by the three validators other than us.
fn final_cert(f: &Fx, height: u64, b: Hash) -> Certificate {
    let vote = Vote { kind: VoteKind::Finalize, height: Height(height), view: 0, block: b };
    let mut signers: Vec<(u32, cairn_primitives::Signature)> = (0..4)
        .filter(|i| *i != f.me)
        .map(|i| (f.set.index_of(&f.keys[i].public()).unwrap() as u32, vote.sign(&f.chain, &f.keys[i])))
        .collect();
    signers.sort_by_key(|(i, _)| *i);
    Certificate { vote, signers }
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

const GOSSIP_TIMER: TimerId = TimerId(2);

fn sent_certificates(fx: &[Effect]) -> Vec<(PublicKey, VoteKind)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send { to, bytes } => match Message::decode(bytes) {
                Ok(Message::Certificate(c)) => Some((*to, c.vote.kind)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// We help the two validators just before us in the set (window 0 of the ring).
fn helped_by(f: &Fx, who: usize) -> bool {
    let me = f.set.index_of(&f.keys[f.me].public()).unwrap();
    let p = f.set.index_of(&f.keys[who].public()).unwrap();
    matches!((me + 4 - p) % 4, 1 | 2)
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

const RETRY_TIMER: TimerId = TimerId(1);

fn broadcasts(fx: &[Effect]) -> Vec<Message> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Broadcast { bytes } => Message::decode(bytes).ok(),
            _ => None,
        })
        .collect()
}

fn timer_at(fx: &[Effect], timer: TimerId) -> Option<u64> {
    fx.iter().rev().find_map(|e| match e {
        Effect::SetTimer { id, at } if *id == timer => Some(*at),
        _ => None,
    })
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
