//! A full child list must still take the block peers name. At 10,000 nodes under `balance`, dozens of validators
//! proposed at once, `MAX_CHILDREN` kept the first 8 each node saw, and for many nodes the block the network went
//! on to finalize was not among them: answers naming it counted for nothing and every poll failed for good
//! (issue 11). A block named by poll answers or by a certificate now replaces the least supported child that is
//! not the preference.

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use cairn_consensus::{Certificate, Effect, Engine, Input, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};
use cairn_snow::{Header, MAX_CHILDREN, Message, Params, SnowEngine};

struct Net {
    keys: Vec<Keypair>,
    set: Arc<ValidatorSet>,
    chain: ChainId,
}

fn net(n: u64) -> Net {
    let mut keys: Vec<Keypair> = (0..n).map(|i| Keypair::derived("slots-test", i)).collect();
    keys.sort_by_key(|k| k.public());
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    Net { keys, set, chain: "slots-test".parse().unwrap() }
}

fn msg(net: &Net, from: usize, m: &Message) -> Input {
    Input::Message { from: net.keys[from].public(), bytes: m.encode() }
}

fn header(net: &Net, by: usize, name: &str) -> Header {
    Header::sign(Height(1), Hash::ZERO, Hash::digest(name.as_bytes()), by as u32, &net.chain, &net.keys[by])
}

/// Validator 0's engine with `MAX_CHILDREN` proposals of height 1 (by validators 1..=8) in its tree; the first,
/// `blocks[0]`, is its preference.
fn full_engine(net: &Net) -> (SnowEngine, Vec<Header>, Vec<Effect>) {
    let params = Params::default();
    let mut e = common::started_engine(&net.chain, &net.keys[0], Hash::digest(b"seed"), params, &net.set);
    let mut out = Vec::new();
    let mut blocks = Vec::new();
    for by in 1..=MAX_CHILDREN {
        let h = header(net, by, &format!("burst-{by}"));
        e.handle(10, msg(net, by, &Message::Propose(h)), &mut out);
        e.handle(10, Input::PayloadVerdict { height: Height(1), payload: h.block, valid: true }, &mut out);
        blocks.push(h);
    }
    (e, blocks, out)
}

/// Feeds back every header the engine asks the application to check, as valid.
fn approve(e: &mut SnowEngine, out: &mut Vec<Effect>) {
    let checks: Vec<(Height, Hash)> = out
        .iter()
        .filter_map(|f| match f {
            Effect::VerifyPayload { height, payload, .. } => Some((*height, *payload)),
            _ => None,
        })
        .collect();
    for (height, payload) in checks {
        e.handle(20, Input::PayloadVerdict { height, payload, valid: true }, out);
    }
}

/// Queries the engine sent: poll id → (polled block, peers asked).
fn queries(out: &[Effect], net: &Net) -> BTreeMap<u32, (Hash, Vec<usize>)> {
    let index = |pk: &PublicKey| net.keys.iter().position(|k| k.public() == *pk).unwrap();
    let mut polls: BTreeMap<u32, (Hash, Vec<usize>)> = BTreeMap::new();
    for f in out {
        if let Effect::Send { to, bytes } = f
            && let Ok(Message::Query { poll, block, .. }) = Message::decode(bytes)
        {
            polls.entry(poll).or_insert((block, Vec::new())).1.push(index(to));
        }
    }
    polls
}

fn finalized(out: &[Effect]) -> Vec<Hash> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Finalized(f) => Some(f.block),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_child_list_accepts_a_block_named_by_a_certificate() {
    let net = net(10);
    let (mut e, _, _) = full_engine(&net);
    let late = header(&net, 9, "finalized-elsewhere");
    let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: 1, block: late.block };
    let signers = (1..=7u32).map(|i| (i, vote.sign(&net.chain, &net.keys[i as usize]))).collect();
    let certificate = Certificate::new(vote, signers);
    let mut out = Vec::new();
    e.handle(30, msg(&net, 9, &Message::FbCert { header: Some(late), certificate }), &mut out);
    approve(&mut e, &mut out);
    assert_eq!(
        finalized(&out),
        vec![late.block],
        "the certified block entered the full list and was finalized"
    );
    assert_eq!(e.height(), Height(2));
}

#[test]
fn a_full_child_list_accepts_the_block_poll_answers_name_and_keeps_the_preference() {
    let net = net(10);
    let (mut e, blocks, mut out) = full_engine(&net);
    let preferred = blocks[0].block;
    let late = header(&net, 9, "finalized-elsewhere");
    // An unnamed ninth proposal is still refused.
    let mut more = Vec::new();
    e.handle(12, msg(&net, 9, &Message::Propose(late)), &mut more);
    approve(&mut e, &mut more);
    out.extend(more);

    // Every peer answers every poll with the late block; the engine fetches it, and it must enter the tree.
    let mut done = Vec::new();
    let mut polled_after_eviction = Vec::new();
    let mut now = 100;
    for _ in 0..100 {
        let polls = queries(&out, &net);
        let fetches: Vec<usize> = out
            .iter()
            .filter_map(|f| match f {
                Effect::Send { to, bytes } if matches!(Message::decode(bytes), Ok(Message::Fetch { .. })) => {
                    net.keys.iter().position(|k| k.public() == *to)
                }
                _ => None,
            })
            .collect();
        out.clear();
        now += 100;
        for from in fetches {
            e.handle(now, msg(&net, from, &Message::Headers(vec![late])), &mut out);
            approve(&mut e, &mut out);
        }
        for (poll, (block, peers)) in polls {
            polled_after_eviction.push(block);
            for p in peers {
                e.handle(now, msg(&net, p, &Message::Chit { poll, block: late.block }), &mut out);
            }
        }
        done.extend(finalized(&out));
        if !done.is_empty() {
            break;
        }
    }
    assert_eq!(done, vec![late.block], "the named block entered the full list and sampling finalized it");
    // Until the answers moved the preference, the engine kept polling its first block: it was never evicted.
    assert_eq!(polled_after_eviction.first(), Some(&preferred));
}
