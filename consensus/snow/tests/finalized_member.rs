//! A committee member that finalized a height still votes in that height's fallback for the members left in it,
//! as a member locked on its block forever (`help.rs`): `Nullify` so they can change view, `Notarize` only for its
//! block and never against its own earlier vote in the view. At 10,000 nodes under `balance` half of a height's
//! honest seats had finalized by sampling and left, and without these votes the other half could never gather
//! more than 2/3 of the seats for anything (issue 11).

use std::sync::Arc;

mod common;

use common::{Net, msg, net};

use cairn_bft::leader;
use cairn_consensus::{Certificate, Effect, Engine, Input, TimerId, Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey, Signature};
use cairn_snow::{Header, Message, Params, SnowEngine};

const FALLBACK_TIMER: TimerId = TimerId(1);

fn propose(e: &mut SnowEngine, net: &Net, header: Header, out: &mut Vec<Effect>) {
    e.handle(10, msg(net, header.proposer as usize, &Message::Propose(header)), out);
    e.handle(10, Input::PayloadVerdict { height: header.height, payload: header.block, valid: true }, out);
}

/// Finalizes `header` at height 1 with a certificate of `Finalize` votes of `view` from validators other than `me`.
fn finalize(e: &mut SnowEngine, net: &Net, me: usize, header: Header, view: u64) {
    let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view, block: header.block };
    let signers =
        (0..4u32).filter(|i| *i as usize != me).map(|i| (i, vote.sign(&net.chain, &net.keys[i as usize])));
    let certificate = Certificate::new(vote, signers.collect());
    let mut out = Vec::new();
    e.handle(5_000, msg(net, (me + 1) % 4, &Message::FbCert { header: Some(header), certificate }), &mut out);
    assert_eq!(e.height(), Height(2), "height 1 finalized: {out:?}");
}

/// What `e` answers the straggler's vote with: (kind, view, block) of the fallback votes sent back to it.
fn answer(e: &mut SnowEngine, net: &Net, straggler: usize, vote: Vote) -> Vec<(VoteKind, u64, Hash)> {
    let mut out = Vec::new();
    let signature = vote.sign(&net.chain, &net.keys[straggler]);
    e.handle(6_000, msg(net, straggler, &Message::FbVote { vote, signature }), &mut out);
    let to: PublicKey = net.keys[straggler].public();
    out.iter()
        .filter_map(|f| match f {
            Effect::Send { to: t, bytes } if *t == to => match Message::decode(bytes) {
                Ok(Message::FbVote { vote, signature }) => {
                    assert!(vote.verify(
                        &net.chain,
                        &e.public_key(),
                        &signature,
                        &cairn_consensus::PlainVerifier
                    ));
                    Some((vote.kind, vote.view, vote.block))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn vote(kind: VoteKind, view: u64, block: Hash) -> Vote {
    Vote { kind, height: Height(1), view, block }
}

#[test]
fn a_member_that_finalized_nullifies_with_a_straggler_once_and_notarizes_only_its_block() {
    let net = net("member-test");
    let me = 0;
    let mut e = common::started_engine(&net.chain, &net.keys[me], net.seed, Params::default(), &net.set);
    let b = Header::sign(Height(1), Hash::ZERO, Hash::digest(b"b"), 1, &net.chain, &net.keys[1]);
    let mut out = Vec::new();
    propose(&mut e, &net, b, &mut out);
    finalize(&mut e, &net, me, b, 1);
    let other = Hash::digest(b"other");
    let (s, zero) = (3, Hash::ZERO);

    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Nullify, 4, zero)),
        vec![(VoteKind::Finalize, 4, b.block), (VoteKind::Nullify, 4, zero)],
        "a straggler's nullify is answered with ours, so the stuck members can change view"
    );
    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Nullify, 4, zero)),
        vec![(VoteKind::Finalize, 4, b.block)],
        "once per (view, peer): two finalized nodes cannot keep nullifying at each other"
    );
    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Notarize, 5, b.block)),
        vec![(VoteKind::Finalize, 5, b.block), (VoteKind::Notarize, 5, b.block)],
        "a straggler's notarize of our finalized block is answered with ours"
    );
    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Notarize, 6, other)),
        vec![(VoteKind::Finalize, 6, b.block)],
        "never a notarize for another block than the finalized one"
    );
    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Finalize, 7, b.block)),
        vec![],
        "a finalize is not answered"
    );
}

#[test]
fn help_never_notarizes_against_our_own_vote_in_the_view() {
    let net = net("member-test");
    // A validator that is not the leader of view 1 of height 1, and that leader.
    let lead = leader(&net.set, &net.seed, Height(1), 1);
    let lead = net.keys.iter().position(|k| k.public() == lead).unwrap();
    let me = (lead + 1) % 4;
    let mut e = common::started_engine(&net.chain, &net.keys[me], net.seed, Params::default(), &net.set);
    let x = Header::sign(Height(1), Hash::ZERO, Hash::digest(b"x"), lead as u32, &net.chain, &net.keys[lead]);
    let by = (me + 2) % 4;
    let b = Header::sign(Height(1), Hash::ZERO, Hash::digest(b"b"), by as u32, &net.chain, &net.keys[by]);
    let mut out = Vec::new();
    propose(&mut e, &net, x, &mut out);
    propose(&mut e, &net, b, &mut out);
    // Our own fallback: view 1's leader proposes x, and we notarize it (x is our preference).
    e.handle(4_000, Input::Timer(FALLBACK_TIMER), &mut out);
    out.clear();
    let n1 = vote(VoteKind::Notarize, 1, x.block);
    let signature: Signature = n1.sign(&net.chain, &net.keys[lead]);
    e.handle(
        4_100,
        msg(&net, lead, &Message::FbPropose { view: 1, header: x, signature, lock: None }),
        &mut out,
    );
    let notarized_x = out.iter().any(|f| match f {
        Effect::Broadcast { bytes } => {
            matches!(Message::decode(bytes), Ok(Message::FbVote { vote, .. }) if vote == n1)
        }
        _ => false,
    });
    assert!(notarized_x, "we notarized x in view 1: {out:?}");
    // Then b is finalized by a certificate of view 2.
    finalize(&mut e, &net, me, b, 2);

    let s = (me + 3) % 4;
    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Notarize, 1, b.block)),
        vec![(VoteKind::Finalize, 1, b.block)],
        "we notarized x in view 1: no notarize of b there"
    );
    assert_eq!(
        answer(&mut e, &net, s, vote(VoteKind::Notarize, 3, b.block)),
        vec![(VoteKind::Finalize, 3, b.block), (VoteKind::Notarize, 3, b.block)],
        "a view we did not vote in"
    );
}

#[test]
fn after_a_restart_a_finalized_height_gets_no_notarize_help() {
    let net = net("member-test");
    let b = Hash::digest(b"b");
    let me = 0;
    // Restarted with height 1 finalized: our votes of its fallback views are no longer known.
    let mut e = SnowEngine::new(cairn_snow::Config {
        chain_id: net.chain.clone(),
        signer: Arc::new(net.keys[me].clone()),
        seed: net.seed,
        params: Params::default(),
        verifier: Arc::new(cairn_consensus::PlainVerifier),
        samplers: Arc::new(cairn_snow::SamplerCache::default()),
    })
    .unwrap();
    let mut out = Vec::new();
    for h in 1..=3 {
        e.handle(0, Input::ValidatorSet { height: Height(h), validators: net.set.clone() }, &mut out);
    }
    e.handle(0, Input::Start { last_finalized: (Height(1), b), wal: Vec::new() }, &mut out);
    assert_eq!(
        answer(&mut e, &net, 3, vote(VoteKind::Notarize, 2, b)),
        vec![(VoteKind::Finalize, 2, b)],
        "no notarize without the record of our own votes"
    );
    assert_eq!(
        answer(&mut e, &net, 3, vote(VoteKind::Nullify, 2, Hash::ZERO)),
        vec![(VoteKind::Finalize, 2, b), (VoteKind::Nullify, 2, Hash::ZERO)]
    );
}
