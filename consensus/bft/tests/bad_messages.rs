//! Every kind of bad message is dropped and counted, never a panic, and never changes what the engine does.

use std::sync::Arc;

use bytes::Bytes;
use cairn_bft::{BftEngine, Config, MAX_VIEW_AHEAD, Message, leader};
use cairn_consensus::{
    Certificate, DropCounters, Effect, Engine, Input, MAX_MESSAGE_BYTES, PlainVerifier, Vote, VoteKind,
};
use cairn_primitives::{ChainId, Hash, Height, Keypair, Signature, Validator, ValidatorSet};
use proptest::prelude::*;

struct Fixture {
    keys: Vec<Keypair>,
    set: Arc<ValidatorSet>,
    chain: ChainId,
    seed: Hash,
    engine: BftEngine,
}

fn fixture() -> Fixture {
    let mut keys: Vec<Keypair> = (0..4).map(|i| Keypair::derived("bad", i)).collect();
    keys.sort_by_key(|k| k.public());
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    let chain: ChainId = "bad-msgs".parse().unwrap();
    let seed = Hash::digest(b"seed");
    let mut engine = BftEngine::new(Config {
        chain_id: chain.clone(),
        signer: std::sync::Arc::new(keys[0].clone()),
        seed,
        leader_timeout: 500,
        verifier: Arc::new(PlainVerifier),
    });
    let mut fx = Vec::new();
    for h in [1, 2] {
        engine.handle(0, Input::ValidatorSet { height: Height(h), validators: set.clone() }, &mut fx);
    }
    engine.handle(0, Input::Start { last_finalized: (Height(0), Hash::ZERO), wal: vec![] }, &mut fx);
    Fixture { keys, set, chain, seed, engine }
}

impl Fixture {
    fn deliver(&mut self, from: usize, bytes: impl Into<Bytes>) -> Vec<Effect> {
        self.deliver_as(self.keys[from].clone(), bytes)
    }

    fn deliver_as(&mut self, from: Keypair, bytes: impl Into<Bytes>) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.engine.handle(10, Input::Message { from: from.public(), bytes: bytes.into() }, &mut fx);
        fx
    }

    fn vote(&self, signer: usize, kind: VoteKind, view: u64, block: Hash) -> (Vote, Signature) {
        let vote = Vote { kind, height: Height(1), view, block };
        (vote, vote.sign(&self.chain, &self.keys[signer]))
    }

    fn non_leader(&self, view: u64) -> usize {
        let l = leader(&self.set, &self.seed, Height(1), view);
        (1..4).find(|i| self.keys[*i].public() != l).unwrap()
    }
}

fn only(d: DropCounters, f: impl Fn(&mut DropCounters)) -> DropCounters {
    let mut expected = DropCounters::default();
    f(&mut expected);
    assert_eq!(d, expected);
    d
}

fn sends_nothing(fx: &[Effect]) {
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Broadcast { .. } | Effect::Send { .. } | Effect::Persist(_))),
        "{fx:?}"
    );
}

#[test]
fn malformed_bytes() {
    let mut t = fixture();
    sends_nothing(&t.deliver(1, vec![0xff, 1, 2, 3]));
    sends_nothing(&t.deliver(1, Vec::<u8>::new()));
    only(t.engine.dropped(), |d| d.malformed = 2);
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut t = fixture();
    let (vote, signature) = t.vote(1, VoteKind::Nullify, 0, Hash::ZERO);
    let mut bytes = Message::Vote { vote, signature }.encode().to_vec();
    bytes.push(0);
    sends_nothing(&t.deliver(1, bytes));
    only(t.engine.dropped(), |d| d.malformed = 1);
}

#[test]
fn oversized() {
    let mut t = fixture();
    sends_nothing(&t.deliver(1, vec![0u8; MAX_MESSAGE_BYTES + 1]));
    only(t.engine.dropped(), |d| d.oversized = 1);
}

#[test]
fn wrong_signature() {
    let mut t = fixture();
    // Validator 2's signature presented by validator 1.
    let (vote, _) = t.vote(1, VoteKind::Nullify, 0, Hash::ZERO);
    let (_, other) = t.vote(2, VoteKind::Nullify, 0, Hash::ZERO);
    sends_nothing(&t.deliver(1, Message::Vote { vote, signature: other }.encode()));
    // A signature from another chain.
    let foreign = vote.sign(&"other-chain".parse().unwrap(), &t.keys[1]);
    sends_nothing(&t.deliver(1, Message::Vote { vote, signature: foreign }.encode()));
    only(t.engine.dropped(), |d| d.bad_signature = 2);
}

#[test]
fn forged_certificate() {
    let mut t = fixture();
    let (vote, _) = t.vote(1, VoteKind::Nullify, 0, Hash::ZERO);
    let signers = (0..3).map(|i| (i as u32, t.vote(1, VoteKind::Nullify, 0, Hash::ZERO).1)).collect();
    let fx = t.deliver(1, Message::Certificate(Certificate::new(vote, signers)).encode());
    sends_nothing(&fx);
    assert_eq!(t.engine.status().view, 0, "a forged nullification must not move the view");
    only(t.engine.dropped(), |d| d.bad_signature = 1);
}

#[test]
fn non_validator_sender() {
    let mut t = fixture();
    let outsider = Keypair::derived("outsider", 0);
    let vote = Vote { kind: VoteKind::Nullify, height: Height(1), view: 0, block: Hash::ZERO };
    let signature = vote.sign(&t.chain, &outsider);
    sends_nothing(&t.deliver_as(outsider, Message::Vote { vote, signature }.encode()));
    only(t.engine.dropped(), |d| d.unknown_sender = 1);
}

#[test]
fn far_future_view_and_height() {
    let mut t = fixture();
    let (vote, signature) = t.vote(1, VoteKind::Nullify, MAX_VIEW_AHEAD + 1, Hash::ZERO);
    sends_nothing(&t.deliver(1, Message::Vote { vote, signature }.encode()));
    let far = Vote { kind: VoteKind::Nullify, height: Height(50), view: 0, block: Hash::ZERO };
    let signature = far.sign(&t.chain, &t.keys[1]);
    sends_nothing(&t.deliver(1, Message::Vote { vote: far, signature }.encode()));
    only(t.engine.dropped(), |d| d.far_future = 2);
}

#[test]
fn proposal_from_non_leader() {
    let mut t = fixture();
    let who = t.non_leader(0);
    let (vote, signature) = t.vote(who, VoteKind::Notarize, 0, Hash::digest(b"block"));
    let fx = t.deliver(who, Message::Proposal { vote, signature, justify: vec![] }.encode());
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::VerifyPayload { .. })),
        "must not verify a non-leader's block"
    );
    only(t.engine.dropped(), |d| d.invalid_proposal = 1);
}

/// A nullification's claims are signed too: one that credits a signer with a claim it did not sign, or names a
/// claim for someone who is not a signer, is refused and does not move the view.
#[test]
fn nullification_with_forged_claims() {
    let mut t = fixture();
    let zero = Vote { kind: VoteKind::Nullify, height: Height(1), view: 0, block: Hash::ZERO };
    let signers: Vec<(u32, Signature)> =
        (0..3).map(|i| (i as u32, t.vote(i, VoteKind::Nullify, 0, Hash::ZERO).1)).collect();
    let mut forged = Certificate::new(zero, signers.clone());
    forged.claims = vec![(1, Hash::digest(b"x"))];
    sends_nothing(&t.deliver(1, Message::Certificate(forged).encode()));
    let mut stray = Certificate::new(zero, signers[..3].to_vec());
    stray.claims = vec![(3, Hash::digest(b"x"))];
    sends_nothing(&t.deliver(1, Message::Certificate(stray).encode()));
    assert_eq!(t.engine.status().view, 0);
    only(t.engine.dropped(), |d| d.bad_signature = 2);
}

#[test]
fn good_votes_still_work_after_garbage() {
    let mut t = fixture();
    t.deliver(1, vec![1, 2, 3]);
    // Two nullify votes from peers + our own on timeout = 3 of 4: a nullification, and view 1.
    for who in [1, 2] {
        let (vote, signature) = t.vote(who, VoteKind::Nullify, 0, Hash::ZERO);
        t.deliver(who, Message::Vote { vote, signature }.encode());
    }
    let mut fx = Vec::new();
    t.engine.handle(500, Input::Timer(cairn_consensus::TimerId(0)), &mut fx);
    assert_eq!(t.engine.status().view, 1);
    // The nullify vote was persisted before it was broadcast.
    let persist = fx.iter().position(|e| matches!(e, Effect::Persist(_))).unwrap();
    let send = fx.iter().position(|e| matches!(e, Effect::Broadcast { .. })).unwrap();
    assert!(persist < send);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Arbitrary bytes from a validator never panic and never make the engine sign anything.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut t = fixture();
        let fx = t.deliver(1, bytes);
        prop_assert!(!fx.iter().any(|e| matches!(e, Effect::Persist(_))));
    }
}

#[test]
fn far_future_certificate_does_not_jump_views() {
    let mut t = fixture();
    // Even a properly signed quorum certificate is refused this far ahead (it bounds view arithmetic and loops).
    let vote = Vote { kind: VoteKind::Nullify, height: Height(1), view: u64::MAX, block: Hash::ZERO };
    let signers = (0..3).map(|i| (i as u32, vote.sign(&t.chain, &t.keys[i]))).collect();
    sends_nothing(&t.deliver(1, Message::Certificate(Certificate::new(vote, signers)).encode()));
    assert_eq!(t.engine.status().view, 0);
    only(t.engine.dropped(), |d| d.far_future = 1);
}
