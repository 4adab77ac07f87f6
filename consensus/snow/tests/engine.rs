//! The engine driven by hand: bad input is counted and never panics, finalizations are never contradicted, the
//! fallback certificate needs a quorum, and WAL-restored votes are not signed again.

use std::sync::Arc;

use bytes::Bytes;
use cairn_consensus::{
    Certificate, Effect, Engine, Input, PlainVerifier, TimerId, Vote, VoteKind, WalRecord,
};
use cairn_primitives::{ChainId, Hash, Height, Keypair, Validator, ValidatorSet};
use cairn_snow::{Config, Header, Message, Params, SamplerCache, SnowEngine, WalEntry};

const FALLBACK_TIMER: TimerId = TimerId(1);
const VIEW_TIMER: TimerId = TimerId(2);

struct Net {
    keys: Vec<Keypair>,
    set: Arc<ValidatorSet>,
    chain: ChainId,
}

fn net(n: u64) -> Net {
    let mut keys: Vec<Keypair> = (0..n).map(|i| Keypair::derived("snow-test", i)).collect();
    keys.sort_by_key(|k| k.public());
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    Net { keys, set, chain: "snow-test".parse().unwrap() }
}

fn engine(net: &Net, me: usize, last: (Height, Hash), wal: Vec<WalRecord>) -> (SnowEngine, Vec<Effect>) {
    let mut e = SnowEngine::new(Config {
        chain_id: net.chain.clone(),
        signer: std::sync::Arc::new(net.keys[me].clone()),
        seed: Hash::digest(b"seed"),
        params: Params::default(),
        verifier: Arc::new(PlainVerifier),
        samplers: Arc::new(SamplerCache::default()),
    })
    .unwrap();
    let mut out = Vec::new();
    for h in [last.0.next(), last.0.next().next()] {
        e.handle(0, Input::ValidatorSet { height: h, validators: net.set.clone() }, &mut out);
    }
    e.handle(0, Input::Start { last_finalized: last, wal }, &mut out);
    (e, out)
}

fn msg(net: &Net, from: usize, m: &Message) -> Input {
    Input::Message { from: net.keys[from].public(), bytes: m.encode() }
}

/// Delivers a header from validator `by` and answers the payload check.
fn add_block(e: &mut SnowEngine, net: &Net, by: usize, height: Height, parent: Hash, name: &[u8]) -> Header {
    let header = Header::sign(height, parent, Hash::digest(name), by as u32, &net.chain, &net.keys[by]);
    let mut out = Vec::new();
    e.handle(10, msg(net, by, &Message::Propose(header)), &mut out);
    assert!(out.iter().any(|f| matches!(f, Effect::VerifyPayload { .. })), "{out:?}");
    e.handle(10, Input::PayloadVerdict { height, payload: header.block, valid: true }, &mut out);
    header
}

fn finalize_cert(net: &Net, signers: &[usize], header: &Header, view: u64) -> Certificate {
    let vote = Vote { kind: VoteKind::Finalize, height: header.height, view, block: header.block };
    Certificate::new(
        vote,
        signers.iter().map(|i| (*i as u32, vote.sign(&net.chain, &net.keys[*i]))).collect(),
    )
}

fn finalized(out: &[Effect]) -> Vec<(Height, Hash, VoteKind)> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Finalized(f) => Some((f.height, f.block, f.certificate.vote.kind)),
            _ => None,
        })
        .collect()
}

#[test]
fn bad_messages_are_counted_never_fatal() {
    let n = net(4);
    let (mut e, _) = engine(&n, 0, (Height(0), Hash::ZERO), Vec::new());
    let mut out = Vec::new();
    let from = n.keys[1].public();
    for bytes in [vec![], vec![200], vec![4, 255, 255, 255, 255], vec![1; 44], vec![0u8; (1 << 20) + 1]] {
        e.handle(1, Input::Message { from, bytes: Bytes::from(bytes) }, &mut out);
    }
    let stranger = Keypair::derived("stranger", 0);
    let chit = Message::Chit { poll: 1, block: Hash::ZERO }.encode();
    e.handle(1, Input::Message { from: stranger.public(), bytes: chit }, &mut out);
    // A header signed by someone else than the proposer it names.
    let forged = Header::sign(Height(1), Hash::ZERO, Hash::digest(b"x"), 2, &n.chain, &n.keys[1]);
    e.handle(1, msg(&n, 1, &Message::Propose(forged)), &mut out);
    let d = e.dropped();
    assert_eq!((d.malformed, d.oversized, d.unknown_sender, d.bad_signature), (4, 1, 1, 1), "{d:?}");
    assert!(finalized(&out).is_empty());
}

#[test]
fn answers_never_contradict_a_persisted_finalization() {
    let n = net(4);
    let last = (Height(5), Hash::digest(b"final-5"));
    let (mut e, _) = engine(&n, 0, last, Vec::new());
    let mut out = Vec::new();
    // A competing block at height 5 is refused; polls about 5 get the finalized block, older heights nothing.
    let _ = Header::sign(Height(5), Hash::digest(b"p"), Hash::digest(b"other"), 1, &n.chain, &n.keys[1]);
    for (height, expect) in [(Height(5), last.1), (Height(3), Hash::ZERO), (Height(6), last.1)] {
        out.clear();
        e.handle(1, msg(&n, 1, &Message::Query { poll: 9, height, block: Hash::digest(b"other") }), &mut out);
        let answer = out.iter().find_map(|f| match f {
            Effect::Send { bytes, .. } => match Message::decode(bytes) {
                Ok(Message::Chit { block, .. }) => Some(block),
                _ => None,
            },
            _ => None,
        });
        assert_eq!(answer, Some(expect), "height {height:?}");
    }
}

#[test]
fn fallback_certificate_needs_more_than_two_thirds() {
    let n = net(4);
    let (mut e, _) = engine(&n, 0, (Height(0), Hash::ZERO), Vec::new());
    let header = add_block(&mut e, &n, 1, Height(1), Hash::ZERO, b"b1");
    let mut out = Vec::new();
    let weak = finalize_cert(&n, &[1, 2], &header, 1);
    e.handle(20, msg(&n, 1, &Message::FbCert { header: Some(header), certificate: weak }), &mut out);
    assert!(finalized(&out).is_empty(), "2 of 4 is not a quorum");
    assert_eq!(e.dropped().bad_signature, 1);
    let strong = finalize_cert(&n, &[1, 2, 3], &header, 1);
    e.handle(20, msg(&n, 1, &Message::FbCert { header: Some(header), certificate: strong }), &mut out);
    assert_eq!(finalized(&out), vec![(Height(1), header.block, VoteKind::Finalize)]);
}

#[test]
fn restored_fallback_votes_are_not_signed_again() {
    let n = net(4);
    let vote = Vote { kind: VoteKind::Nullify, height: Height(1), view: 1, block: Hash::ZERO };
    let signature = vote.sign(&n.chain, &n.keys[0]);
    let record = WalRecord {
        height: Height(1),
        bytes: cairn_primitives::encode(&WalEntry::Voted { vote, signature }),
    };
    for (wal, persists) in [(Vec::new(), 1), (vec![record], 0)] {
        let (mut e, _) = engine(&n, 0, (Height(0), Hash::ZERO), wal);
        let mut out = Vec::new();
        e.handle(4_000, Input::Timer(FALLBACK_TIMER), &mut out);
        out.clear();
        e.handle(5_000, Input::Timer(VIEW_TIMER), &mut out);
        let persisted = out.iter().filter(|f| matches!(f, Effect::Persist(_))).count();
        assert_eq!(persisted, persists, "{out:?}");
        assert!(out.iter().any(|f| matches!(f, Effect::Broadcast { .. })), "the nullify vote is (re)sent");
    }
}

#[test]
fn a_lone_validator_finalizes_its_own_blocks() {
    let n = net(1);
    let (mut e, out) = engine(&n, 0, (Height(0), Hash::ZERO), Vec::new());
    assert!(out.iter().any(|f| matches!(f, Effect::SetTimer { .. })));
    let mut out = Vec::new();
    e.handle(0, Input::Timer(TimerId(0)), &mut out);
    let build = out.iter().find_map(|f| match f {
        Effect::BuildPayload { height, .. } => Some(*height),
        _ => None,
    });
    assert_eq!(build, Some(Height(1)));
    out.clear();
    e.handle(0, Input::PayloadBuilt { height: Height(1), view: 0, payload: Hash::digest(b"mine") }, &mut out);
    assert_eq!(finalized(&out).len(), 1);
}
