//! A height that does not finish: validators outside the ranked proposers propose at spread-out times, not all
//! at once, and polling backs off while every poll fails (issue 11: at 10,000 nodes ≈ 52 validators proposed in
//! one second and stuck nodes kept 8 failing polls in flight each, for good).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod common;

use cairn_consensus::{Effect, Engine, Input, TimerId};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};
use cairn_snow::{Header, Message, PROPOSER_RANKS, Params, SnowEngine};

const PROPOSE_TIMER: TimerId = TimerId(0);

fn net(n: u64) -> (Vec<Keypair>, Arc<ValidatorSet>, ChainId) {
    let mut keys: Vec<Keypair> = (0..n).map(|i| Keypair::derived("stuck-test", i)).collect();
    keys.sort_by_key(|k| k.public());
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    (keys, set, "stuck-test".parse().unwrap())
}

#[test]
fn unranked_validators_propose_at_spread_out_times_after_the_ranks() {
    let (keys, set, chain) = net(200);
    let params = Params::default();
    let seed = Hash::digest(b"seed");
    let mut ranked = Vec::new();
    let mut unranked = BTreeSet::new();
    for (i, key) in keys.iter().enumerate() {
        let mut e = common::started_engine(&chain, key, seed, params, &set);
        let mut out = Vec::new();
        // Started again to see the effects of entering height 1.
        e.handle(0, Input::Start { last_finalized: (Height(0), Hash::ZERO), wal: Vec::new() }, &mut out);
        let at = out.iter().find_map(|f| match f {
            Effect::SetTimer { id, at } if *id == PROPOSE_TIMER => Some(*at),
            _ => None,
        });
        let at = at.expect("every validator schedules its slot");
        match e.proposers(Height(1)).iter().position(|p| *p as usize == i) {
            Some(rank) => ranked.push((rank, at)),
            None => {
                unranked.insert(at);
            }
        }
    }
    let ranks_end = PROPOSER_RANKS as u64 * params.proposer_window;
    for (rank, at) in &ranked {
        assert_eq!(*at, *rank as u64 * params.proposer_window);
    }
    assert!(unranked.iter().all(|at| (ranks_end..2 * ranks_end).contains(at)), "{unranked:?}");
    // 200 − 32 unranked validators: nearly all at distinct times (a burst at one instant is what stalled).
    assert!(unranked.len() > 150, "only {} distinct proposal times", unranked.len());
}

#[test]
fn polling_backs_off_while_every_poll_fails_and_recovers_on_a_success() {
    let (keys, set, chain) = net(30);
    let params = Params::default();
    let mut e = common::started_engine(&chain, &keys[0], Hash::digest(b"seed"), params, &set);
    let header = Header::sign(Height(1), Hash::ZERO, Hash::digest(b"b"), 1, &chain, &keys[1]);
    let mut out = Vec::new();
    e.handle(
        1,
        Input::Message { from: keys[1].public(), bytes: Message::Propose(header).encode() },
        &mut out,
    );
    e.handle(1, Input::PayloadVerdict { height: Height(1), payload: header.block, valid: true }, &mut out);

    // Answer every open poll with a failure (no block), round after round; record how many are in flight.
    let mut r = Rounds { keys: &keys, open: BTreeMap::new(), in_flight: Vec::new(), now: 10 };
    let mut failed = 0u64;
    let run = 8 * u64::from(params.beta);
    while failed < 3 * run + 8 {
        failed += r.answer(&mut e, &mut out, Hash::ZERO);
    }
    assert_eq!(r.in_flight.first(), Some(&(params.concurrent as usize)));
    assert_eq!(
        r.in_flight.last(),
        Some(&1),
        "8 → 4 → 2 → 1 after three runs of 8β failures: {:?}",
        r.in_flight
    );
    assert!(r.in_flight.windows(2).all(|w| w[1] <= w[0]), "the back-off only tightens while polls fail");
    // One success ends the back-off.
    r.answer(&mut e, &mut out, header.block);
    r.answer(&mut e, &mut out, header.block);
    assert_eq!(r.in_flight.last(), Some(&(params.concurrent as usize)), "{:?}", r.in_flight);
}

/// Drives the polls of one engine by hand: every open poll is answered in full each round.
struct Rounds<'a> {
    keys: &'a [Keypair],
    open: BTreeMap<u32, Vec<usize>>,
    /// Polls open at the start of each round.
    in_flight: Vec<usize>,
    now: u64,
}

impl Rounds<'_> {
    /// Collects the queries in `out`, answers all open polls naming `block`; returns how many were answered.
    fn answer(&mut self, e: &mut SnowEngine, out: &mut Vec<Effect>, block: Hash) -> u64 {
        self.now += 10;
        let index = |pk: &PublicKey| self.keys.iter().position(|k| k.public() == *pk).unwrap();
        for f in std::mem::take(out) {
            if let Effect::Send { to, bytes } = f
                && let Ok(Message::Query { poll, .. }) = Message::decode(&bytes)
            {
                self.open.entry(poll).or_default().push(index(&to));
            }
        }
        self.in_flight.push(self.open.len());
        let polls = std::mem::take(&mut self.open);
        for (poll, peers) in &polls {
            for p in peers {
                let m = Message::Chit { poll: *poll, block };
                e.handle(self.now, Input::Message { from: self.keys[*p].public(), bytes: m.encode() }, out);
            }
        }
        polls.len() as u64
    }
}
