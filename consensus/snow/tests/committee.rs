//! The fallback committee's rules, attacked by hand: only its members' votes count, its certificate needs more than
//! 2/3 of its seats (signer indices are committee positions), and nodes outside it pull the certificate.

use std::sync::Arc;

mod common;

use cairn_consensus::{Certificate, Effect, Engine, Input, PlainVerifier, TimerId, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};
use cairn_snow::{
    ATTEST_VIEW, Header, Message, PULL_FANOUT, Params, SnowEngine, fallback_committee,
    verify_fallback_certificate,
};

const FALLBACK_TIMER: TimerId = TimerId(1);
const N: u64 = 30;
const SEATS: u32 = 9;

struct Net {
    keys: Vec<Keypair>,
    set: Arc<ValidatorSet>,
    chain: ChainId,
    seed: Hash,
    committee: ValidatorSet,
}

impl Net {
    fn new() -> Net {
        let mut keys: Vec<Keypair> = (0..N).map(|i| Keypair::derived("committee-test", i)).collect();
        keys.sort_by_key(|k| k.public());
        let set = Arc::new(
            ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
                .unwrap(),
        );
        let seed = Hash::digest(b"seed");
        let committee = fallback_committee(&set, &seed, Height(1), SEATS);
        Net { keys, set, chain: "committee-test".parse().unwrap(), seed, committee }
    }

    /// Indices (into `keys`) of committee members, in committee order, and of everyone else.
    fn split(&self) -> (Vec<usize>, Vec<usize>) {
        let members: Vec<usize> = self
            .committee
            .validators()
            .iter()
            .map(|v| self.keys.iter().position(|k| k.public() == v.public_key).unwrap())
            .collect();
        let others = (0..N as usize).filter(|i| !members.contains(i)).collect();
        (members, others)
    }

    fn engine(&self, me: usize) -> SnowEngine {
        self.engine_with(me, Params { committee_seats: SEATS, ..Params::default() })
    }

    fn engine_with(&self, me: usize, params: Params) -> SnowEngine {
        common::started_engine(&self.chain, &self.keys[me], self.seed, params, &self.set)
    }

    fn msg(&self, from: usize, m: &Message) -> Input {
        Input::Message { from: self.keys[from].public(), bytes: m.encode() }
    }

    fn block(&self, e: &mut SnowEngine, by: usize) -> Header {
        let header =
            Header::sign(Height(1), Hash::ZERO, Hash::digest(b"b1"), by as u32, &self.chain, &self.keys[by]);
        let mut out = Vec::new();
        e.handle(10, self.msg(by, &Message::Propose(header)), &mut out);
        e.handle(
            10,
            Input::PayloadVerdict { height: Height(1), payload: header.block, valid: true },
            &mut out,
        );
        header
    }

    /// A `Finalize` certificate whose signer indices are positions in `positions_in`, signed by `signers`.
    fn cert(&self, header: &Header, positions_in: &ValidatorSet, signers: &[usize]) -> Certificate {
        let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: 1, block: header.block };
        let mut signers: Vec<(u32, _)> = signers
            .iter()
            .map(|i| {
                let pos = positions_in.index_of(&self.keys[*i].public()).unwrap() as u32;
                (pos, vote.sign(&self.chain, &self.keys[*i]))
            })
            .collect();
        signers.sort_by_key(|(p, _)| *p);
        Certificate::new(vote, signers)
    }
}

fn finalized(out: &[Effect]) -> usize {
    out.iter().filter(|f| matches!(f, Effect::Finalized(_))).count()
}

/// Members holding more than 2/3 of the committee's seats (heaviest first), and a set just short of it.
fn quorum_and_short(net: &Net, members: &[usize]) -> (Vec<usize>, Vec<usize>) {
    quorum_without(net, members, None)
}

fn quorum_without(net: &Net, members: &[usize], without: Option<usize>) -> (Vec<usize>, Vec<usize>) {
    let mut by_weight: Vec<(u64, usize)> = members
        .iter()
        .filter(|i| Some(**i) != without)
        .map(|i| (net.committee.get(&net.keys[*i].public()).unwrap().power, *i))
        .collect();
    by_weight.sort_by(|a, b| b.cmp(a));
    let (mut quorum, mut weight) = (Vec::new(), 0);
    for (w, i) in &by_weight {
        if net.committee.is_quorum(weight) {
            break;
        }
        quorum.push(*i);
        weight += w;
    }
    let short = quorum[..quorum.len() - 1].to_vec();
    (quorum, short)
}

#[test]
fn the_committee_is_a_strict_subset_here() {
    let net = Net::new();
    assert!(net.committee.len() < N as usize && net.committee.total_power() == u64::from(SEATS));
}

#[test]
fn a_certificate_of_validators_outside_the_committee_is_refused() {
    let net = Net::new();
    let (members, others) = net.split();
    let (mut e, header) = {
        let mut e = net.engine(others[0]);
        let h = net.block(&mut e, others[1]);
        (e, h)
    };
    // 21 of 30 validators outside the committee: a quorum of the whole set, nothing of the committee.
    let mut out = Vec::new();
    let outsiders: Vec<usize> = others.iter().copied().take(21).collect();
    let whole_set_cert = net.cert(&header, &net.set, &outsiders);
    assert!(whole_set_cert.verify(&net.set, &net.chain).is_ok(), "a quorum of the whole set");
    e.handle(
        20,
        net.msg(others[1], &Message::FbCert { header: Some(header), certificate: whole_set_cert }),
        &mut out,
    );
    assert_eq!(finalized(&out), 0, "signers outside the committee prove nothing");
    // Outsiders' signatures at committee positions are refused too.
    let forged = {
        let mut c = net.cert(&header, &net.committee, &members);
        let vote = c.vote;
        for (s, i) in c.signers.iter_mut().zip(&others) {
            s.1 = vote.sign(&net.chain, &net.keys[*i]);
        }
        c
    };
    e.handle(
        20,
        net.msg(others[1], &Message::FbCert { header: Some(header), certificate: forged }),
        &mut out,
    );
    assert_eq!(finalized(&out), 0);
    assert_eq!(e.dropped().bad_signature, 2);
    // The real thing: > 2/3 of the committee's seats.
    let good = net.cert(&header, &net.committee, &members);
    e.handle(20, net.msg(others[1], &Message::FbCert { header: Some(header), certificate: good }), &mut out);
    assert_eq!(finalized(&out), 1);
}

#[test]
fn a_certificate_short_of_the_committee_quorum_is_refused() {
    let net = Net::new();
    let (members, others) = net.split();
    let (quorum, short) = quorum_and_short(&net, &members);
    let mut e = net.engine(others[0]);
    let header = net.block(&mut e, others[1]);
    let mut out = Vec::new();
    let weak = net.cert(&header, &net.committee, &short);
    assert!(
        verify_fallback_certificate(&weak, &net.set, &net.seed, SEATS, &net.chain, &PlainVerifier).is_err()
    );
    e.handle(20, net.msg(others[1], &Message::FbCert { header: Some(header), certificate: weak }), &mut out);
    assert_eq!(finalized(&out), 0, "≤ 2/3 of the seats is no certificate");
    let strong = net.cert(&header, &net.committee, &quorum);
    assert!(
        verify_fallback_certificate(&strong, &net.set, &net.seed, SEATS, &net.chain, &PlainVerifier).is_ok()
    );
    e.handle(
        20,
        net.msg(others[1], &Message::FbCert { header: Some(header), certificate: strong }),
        &mut out,
    );
    assert_eq!(finalized(&out), 1);
}

#[test]
fn votes_from_outside_the_committee_do_not_count() {
    let net = Net::new();
    let (members, others) = net.split();
    let (quorum, _) = quorum_and_short(&net, &members);
    let mut e = net.engine(members[0]);
    let header = net.block(&mut e, others[1]);
    let mut out = Vec::new();
    let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: 1, block: header.block };
    for i in &others {
        let m = Message::FbVote { vote, signature: vote.sign(&net.chain, &net.keys[*i]) };
        e.handle(20, net.msg(*i, &m), &mut out);
    }
    assert_eq!(finalized(&out), 0, "every non-member voted: still no certificate");
    assert_eq!(e.dropped().unknown_sender, others.len() as u64);
    for i in &quorum {
        let m = Message::FbVote { vote, signature: vote.sign(&net.chain, &net.keys[*i]) };
        e.handle(20, net.msg(*i, &m), &mut out);
    }
    assert_eq!(finalized(&out), 1, "a quorum of committee seats finalizes");
}

#[test]
fn non_members_pull_the_certificate_instead_of_voting() {
    let net = Net::new();
    let (members, others) = net.split();
    let outsider = others[0];
    let mut e = net.engine(outsider);
    let header = net.block(&mut e, others[1]);
    let mut out = Vec::new();
    e.handle(4_000, Input::Timer(FALLBACK_TIMER), &mut out);
    let asked: Vec<PublicKey> = out
        .iter()
        .filter_map(|f| match f {
            Effect::Send { to, bytes }
                if Message::decode(bytes).ok() == Some(Message::FbPull { height: Height(1) }) =>
            {
                Some(*to)
            }
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), PULL_FANOUT);
    assert!(asked.iter().all(|k| net.committee.get(k).is_some()), "only committee members are asked");
    assert!(
        !out.iter().any(|f| matches!(f, Effect::Persist(_) | Effect::Broadcast { .. })),
        "no vote: {out:?}"
    );

    // A member remembers the request and answers it with the certificate when it finalizes.
    let helper = asked[0];
    let helper_index = net.keys.iter().position(|k| k.public() == helper).unwrap();
    let mut m = net.engine(helper_index);
    net.block(&mut m, others[1]);
    let mut out = Vec::new();
    m.handle(4_100, net.msg(outsider, &Message::FbPull { height: Height(1) }), &mut out);
    // Finalize votes of other members holding > 2/3 of the seats (the helper's own would need a notarization).
    let (quorum, _) = quorum_without(&net, &members, Some(helper_index));
    let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: 1, block: header.block };
    for i in &quorum {
        let v = Message::FbVote { vote, signature: vote.sign(&net.chain, &net.keys[*i]) };
        m.handle(4_200, net.msg(*i, &v), &mut out);
    }
    assert_eq!(finalized(&out), 1);
    let reply = out.iter().find_map(|f| match f {
        Effect::Send { to, bytes } if *to == net.keys[outsider].public() => Message::decode(bytes).ok(),
        _ => None,
    });
    let Some(Message::FbCert { header: Some(h), certificate }) = reply else {
        panic!("no certificate sent: {out:?}")
    };
    out.clear();
    e.handle(4_300, net.msg(helper_index, &Message::FbCert { header: Some(h), certificate }), &mut out);
    assert_eq!(finalized(&out), 1, "the outsider finalizes with the pulled certificate");
}

#[test]
fn a_member_that_finalized_by_sampling_answers_a_pull_with_a_certificate_of_attestations() {
    let net = Net::new();
    let (members, others) = net.split();
    let (outsider, helper) = (others[0], members[0]);
    // β = 1: one successful poll finalizes, so the helper finalizes height 1 by sampling.
    let params = Params { committee_seats: SEATS, beta: 1, concurrent: 1, ..Params::default() };
    let mut m = net.engine_with(helper, params);
    let header = Header::sign(
        Height(1),
        Hash::ZERO,
        Hash::digest(b"b1"),
        others[1] as u32,
        &net.chain,
        &net.keys[others[1]],
    );
    let mut out = Vec::new();
    m.handle(10, net.msg(others[1], &Message::Propose(header)), &mut out);
    m.handle(10, Input::PayloadVerdict { height: Height(1), payload: header.block, valid: true }, &mut out);
    let queries: Vec<(PublicKey, u32)> = out
        .iter()
        .filter_map(|f| match f {
            Effect::Send { to, bytes } => match Message::decode(bytes) {
                Ok(Message::Query { poll, .. }) => Some((*to, poll)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(!queries.is_empty());
    out.clear();
    for (to, poll) in queries {
        let chit = Message::Chit { poll, block: header.block };
        m.handle(20, Input::Message { from: to, bytes: chit.encode() }, &mut out);
    }
    assert!(
        out.iter().any(|f| matches!(f, Effect::Finalized(x) if x.certificate.vote.kind == VoteKind::Prefer)),
        "finalized by sampling: {out:?}"
    );

    // Asked for the certificate it does not have, the helper sends its attestation to the committee.
    out.clear();
    m.handle(4_100, net.msg(outsider, &Message::FbPull { height: Height(1) }), &mut out);
    let attested: Vec<PublicKey> = out
        .iter()
        .filter_map(|f| match f {
            Effect::Send { to, bytes } => match Message::decode(bytes) {
                Ok(Message::FbVote { vote, .. })
                    if vote.kind == VoteKind::Finalize
                        && vote.view == ATTEST_VIEW
                        && vote.block == header.block =>
                {
                    Some(*to)
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(attested.len(), net.committee.len() - 1, "to every other member: {out:?}");

    // Other members' attestations complete > 2/3 of the seats: the asker gets a checkable certificate.
    let (quorum, _) = quorum_without(&net, &members, Some(helper));
    let vote = Vote { kind: VoteKind::Finalize, height: Height(1), view: ATTEST_VIEW, block: header.block };
    out.clear();
    for i in &quorum {
        let v = Message::FbVote { vote, signature: vote.sign(&net.chain, &net.keys[*i]) };
        m.handle(4_200, net.msg(*i, &v), &mut out);
    }
    let reply = out.iter().find_map(|f| match f {
        Effect::Send { to, bytes } if *to == net.keys[outsider].public() => Message::decode(bytes).ok(),
        _ => None,
    });
    let Some(Message::FbCert { header: Some(h), certificate }) = reply else {
        panic!("no certificate sent: {out:?}")
    };
    assert!(
        verify_fallback_certificate(&certificate, &net.set, &net.seed, SEATS, &net.chain, &PlainVerifier)
            .is_ok()
    );
    let mut e = net.engine(outsider);
    net.block(&mut e, others[1]);
    out.clear();
    e.handle(
        4_300,
        net.msg(helper, &Message::FbCert { header: Some(h), certificate: certificate.clone() }),
        &mut out,
    );
    assert_eq!(finalized(&out), 1, "the outsider finalizes with it");
    // A later asker gets the kept certificate at once.
    out.clear();
    m.handle(4_400, net.msg(others[2], &Message::FbPull { height: Height(1) }), &mut out);
    assert!(out.iter().any(|f| matches!(f, Effect::Send { to, .. } if *to == net.keys[others[2]].public())));
}
