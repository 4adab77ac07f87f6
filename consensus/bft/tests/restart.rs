//! A validator restarted from its WAL never signs a vote that conflicts with one it signed before the crash.

use std::sync::Arc;

use bytes::Bytes;
use cairn_bft::{BftEngine, Config, Message, leader};
use cairn_consensus::{Certificate, Effect, Engine, Input, PlainVerifier, Vote, VoteKind, WalRecord};
use cairn_primitives::{ChainId, Hash, Height, Keypair, Validator, ValidatorSet};

fn keys() -> Vec<Keypair> {
    let mut keys: Vec<Keypair> = (0..4).map(|i| Keypair::derived("restart", i)).collect();
    keys.sort_by_key(|k| k.public());
    keys
}

fn boot(me: &Keypair, set: &Arc<ValidatorSet>, wal: Vec<WalRecord>) -> (BftEngine, Vec<Effect>) {
    let mut e = BftEngine::new(Config {
        chain_id: "restart".parse().unwrap(),
        signer: std::sync::Arc::new(me.clone()),
        seed: Hash::digest(b"s"),
        leader_timeout: 500,
        verifier: Arc::new(PlainVerifier),
    });
    let mut fx = Vec::new();
    for h in [1, 2] {
        e.handle(0, Input::ValidatorSet { height: Height(h), validators: set.clone() }, &mut fx);
    }
    e.handle(0, Input::Start { last_finalized: (Height(0), Hash::ZERO), wal }, &mut fx);
    (e, fx)
}

fn proposal(chain: &ChainId, leader_key: &Keypair, block: &[u8]) -> Bytes {
    let vote = Vote { kind: VoteKind::Notarize, height: Height(1), view: 0, block: Hash::digest(block) };
    Message::Proposal { vote, signature: vote.sign(chain, leader_key), justify: vec![] }.encode()
}

fn notarize_votes(fx: &[Effect]) -> Vec<Vote> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Broadcast { bytes } => match Message::decode(bytes) {
                Ok(Message::Vote { vote, .. }) if vote.kind == VoteKind::Notarize => Some(vote),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn restarted_validator_does_not_notarize_twice() {
    let keys = keys();
    let chain: ChainId = "restart".parse().unwrap();
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    let lead = leader(&set, &Hash::digest(b"s"), Height(1), 0);
    let leader_key = keys.iter().find(|k| k.public() == lead).unwrap();
    let me = keys.iter().find(|k| k.public() != lead).unwrap();

    let (mut e, mut wal_fx) = boot(me, &set, vec![]);
    let mut fx = Vec::new();
    e.handle(10, Input::Message { from: lead, bytes: proposal(&chain, leader_key, b"A") }, &mut fx);
    e.handle(
        10,
        Input::PayloadVerdict { height: Height(1), payload: Hash::digest(b"A"), valid: true },
        &mut fx,
    );
    assert_eq!(notarize_votes(&fx).len(), 1, "voted for A once");
    wal_fx.extend(fx);
    let wal: Vec<WalRecord> = wal_fx
        .into_iter()
        .filter_map(|e| match e {
            Effect::Persist(r) => Some(r),
            _ => None,
        })
        .collect();
    assert!(!wal.is_empty());

    // Crash, restart from the WAL, and see the leader (equivocating) propose B in the same view.
    let (mut e, _) = boot(me, &set, wal);
    let mut fx = Vec::new();
    e.handle(20, Input::Message { from: lead, bytes: proposal(&chain, leader_key, b"B") }, &mut fx);
    e.handle(
        20,
        Input::PayloadVerdict { height: Height(1), payload: Hash::digest(b"B"), valid: true },
        &mut fx,
    );
    assert!(notarize_votes(&fx).is_empty(), "must not notarize B after voting A: {fx:?}");

    // Without the WAL the same node would have voted for B: the test can fail.
    let (mut fresh, _) = boot(me, &set, vec![]);
    let mut fx = Vec::new();
    fresh.handle(20, Input::Message { from: lead, bytes: proposal(&chain, leader_key, b"B") }, &mut fx);
    fresh.handle(
        20,
        Input::PayloadVerdict { height: Height(1), payload: Hash::digest(b"B"), valid: true },
        &mut fx,
    );
    assert_eq!(notarize_votes(&fx).len(), 1);
}

fn fin_cert(chain: &ChainId, set: &ValidatorSet, keys: &[Keypair], height: u64, block: Hash) -> Certificate {
    let vote = Vote { kind: VoteKind::Finalize, height: Height(height), view: 0, block };
    let mut signers: Vec<(u32, cairn_primitives::Signature)> = keys
        .iter()
        .take(3)
        .map(|k| (set.index_of(&k.public()).unwrap() as u32, vote.sign(chain, k)))
        .collect();
    signers.sort_by_key(|(i, _)| *i);
    Certificate::new(vote, signers)
}

fn proposal_at(chain: &ChainId, leader_key: &Keypair, height: u64, block: &[u8]) -> Bytes {
    let vote = Vote { kind: VoteKind::Notarize, height: Height(height), view: 0, block: Hash::digest(block) };
    Message::Proposal { vote, signature: vote.sign(chain, leader_key), justify: vec![] }.encode()
}

fn persisted(fx: &[Effect]) -> Vec<WalRecord> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The crash hole: the engine finalized height 1 and voted at height 2 while the node had not yet executed
/// height 1. A restart starts the engine from the *executed* height 0 with the WAL of heights 1 and 2; once it
/// re-learns the finalization of 1 it must still remember its height-2 vote.
#[test]
fn votes_above_the_executed_height_survive_a_restart() {
    let keys = keys();
    let chain: ChainId = "restart".parse().unwrap();
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    let seed = Hash::digest(b"s");
    let (l1, l2) = (leader(&set, &seed, Height(1), 0), leader(&set, &seed, Height(2), 0));
    let key_of = |pk| keys.iter().find(|k| k.public() == pk).unwrap();
    let me = keys.iter().find(|k| k.public() != l1 && k.public() != l2).unwrap();
    let a = Hash::digest(b"A");
    let fin1 = Message::Certificate(fin_cert(&chain, &set, &keys, 1, a)).encode();
    let verdict =
        |h: u64, b: &[u8]| Input::PayloadVerdict { height: Height(h), payload: Hash::digest(b), valid: true };

    let (mut e, mut all) = boot(me, &set, vec![]);
    let mut fx = Vec::new();
    e.handle(10, Input::Message { from: l1, bytes: proposal_at(&chain, key_of(l1), 1, b"A") }, &mut fx);
    e.handle(10, verdict(1, b"A"), &mut fx);
    e.handle(20, Input::Message { from: l1, bytes: fin1.clone() }, &mut fx);
    e.handle(20, Input::ValidatorSet { height: Height(3), validators: set.clone() }, &mut fx);
    e.handle(30, Input::Message { from: l2, bytes: proposal_at(&chain, key_of(l2), 2, b"B") }, &mut fx);
    e.handle(30, verdict(2, b"B"), &mut fx);
    assert!(notarize_votes(&fx).iter().any(|v| v.height == Height(2)), "voted B at height 2: {fx:?}");
    all.extend(fx);
    let wal = persisted(&all);
    assert!(wal.iter().any(|r| r.height == Height(2)));

    // Restart from the executed height 0 (height 1 was finalized but not yet executed).
    let (mut e, _) = boot(me, &set, wal);
    let mut fx = Vec::new();
    e.handle(40, Input::Message { from: l1, bytes: fin1 }, &mut fx);
    e.handle(40, Input::ValidatorSet { height: Height(3), validators: set.clone() }, &mut fx);
    assert_eq!(e.status().height, Height(2));
    let mut fx = Vec::new();
    e.handle(50, Input::Message { from: l2, bytes: proposal_at(&chain, key_of(l2), 2, b"C") }, &mut fx);
    e.handle(50, verdict(2, b"C"), &mut fx);
    assert!(notarize_votes(&fx).is_empty(), "must not notarize C at height 2 after voting B: {fx:?}");
}
