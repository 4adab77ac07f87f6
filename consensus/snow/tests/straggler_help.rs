//! Help for stragglers (a node that finalized a height answers a peer still in that height's fallback with its own
//! votes, `help.rs`) must stop at stragglers: two nodes that both finalized the height must not keep helping each
//! other. Before this was pinned, each help reply looked like a straggler's vote to its receiver, so every pair of
//! finalized members that ever met in a stale fallback exchanged `Finalize` votes forever (issue 11's stall).

mod common;

use common::{Net, msg, net};

use cairn_consensus::{Certificate, Effect, Engine, Input, Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey};
use cairn_snow::{Header, Message, Params, SnowEngine};

/// An engine of validator `me` that finalized `header` at height 1 with a fallback certificate of validators 0–2.
fn finalized_engine(net: &Net, me: usize, header: &Header) -> SnowEngine {
    let mut e = common::started_engine(&net.chain, &net.keys[me], net.seed, Params::default(), &net.set);
    let mut out = Vec::new();
    e.handle(10, msg(net, 0, &Message::Propose(*header)), &mut out);
    e.handle(10, Input::PayloadVerdict { height: Height(1), payload: header.block, valid: true }, &mut out);
    let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: 1, block: header.block };
    let signers = (0..3u32).map(|i| (i, vote.sign(&net.chain, &net.keys[i as usize]))).collect();
    let certificate = Certificate::new(vote, signers);
    e.handle(20, msg(net, 0, &Message::FbCert { header: Some(*header), certificate }), &mut out);
    assert!(out.iter().any(|f| matches!(f, Effect::Finalized(_))), "height 1 finalized: {out:?}");
    assert_eq!(e.height(), Height(2));
    e
}

/// The fallback votes in `out` sent to `to`.
fn votes_to(out: &[Effect], to: &PublicKey) -> Vec<(Vote, cairn_primitives::Signature)> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Send { to: t, bytes } if t == to => match Message::decode(bytes) {
                Ok(Message::FbVote { vote, signature }) => Some((vote, signature)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn a_straggler_is_helped_but_finalized_nodes_do_not_help_each_other_forever() {
    let net = net("help-test");
    let header = Header::sign(Height(1), Hash::ZERO, Hash::digest(b"b1"), 0, &net.chain, &net.keys[0]);
    let (a, b, straggler) = (1, 2, 3);
    let mut ea = finalized_engine(&net, a, &header);
    let mut eb = finalized_engine(&net, b, &header);

    // A straggler still nullifying view 1 of height 1 gets A's `Finalize` for the block.
    let nullify = Vote { kind: VoteKind::Nullify, height: Height(1), view: 1, block: Hash::ZERO };
    let mut out = Vec::new();
    let m = Message::FbVote { vote: nullify, signature: nullify.sign(&net.chain, &net.keys[straggler]) };
    ea.handle(100, msg(&net, straggler, &m), &mut out);
    let help = votes_to(&out, &net.keys[straggler].public());
    let kinds: Vec<VoteKind> = help.iter().map(|(v, _)| v.kind).collect();
    assert_eq!(kinds, vec![VoteKind::Finalize, VoteKind::Nullify], "the straggler is helped: {out:?}");
    assert_eq!(help[0].0.block, header.block);

    // The same help reaching B, which also finalized height 1: relay A ⇄ B. It must die out: a `Finalize` is never
    // answered, and a `Nullify` at most once per (height, view, peer).
    let mut exchanged = 0;
    let mut in_flight: Vec<(usize, (Vote, cairn_primitives::Signature))> =
        help.iter().map(|v| (a, *v)).collect();
    for round in 0..100u64 {
        let Some((from, (vote, signature))) = in_flight.pop() else { break };
        let (to, engine) = if from == a { (b, &mut eb) } else { (a, &mut ea) };
        let mut out = Vec::new();
        engine.handle(200 + round, msg(&net, from, &Message::FbVote { vote, signature }), &mut out);
        for v in votes_to(&out, &net.keys[from].public()) {
            exchanged += 1;
            in_flight.push((to, v));
        }
    }
    assert!(in_flight.is_empty(), "two finalized nodes kept answering each other");
    assert!(exchanged <= 6, "{exchanged} votes exchanged between two finalized nodes");
}
