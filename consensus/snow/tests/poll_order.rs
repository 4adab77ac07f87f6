//! Polls in flight at once are independent samples, applied strictly in issue order, and only β *consecutive*
//! successful polls in that order finalize — the property the safety bound (k, α, β only) rests on, whatever
//! `concurrent` is.

use std::collections::BTreeMap;
use std::sync::Arc;

mod common;

use cairn_consensus::{Effect, Engine, Input};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};
use cairn_snow::{Header, Message, Params, SnowEngine};

/// A 30-validator engine (node 0) with block A proposed at height 1, and the polls it issued.
struct Harness {
    keys: Vec<Keypair>,
    engine: SnowEngine,
    block: Hash,
    /// Polls not answered yet: id → the sampled peers (ids increase in issue order).
    polls: BTreeMap<u32, Vec<PublicKey>>,
    /// The value of `applied` when the block was finalized.
    finalized_after: Option<usize>,
    /// Polls answered so far (set by the test).
    applied: usize,
}

impl Harness {
    fn new(concurrent: u32) -> Harness {
        let keys: Vec<Keypair> = (0..30).map(|i| Keypair::derived("poll-order", i)).collect();
        let set = Arc::new(
            ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
                .unwrap(),
        );
        let chain: ChainId = "poll-order".parse().unwrap();
        let params = Params { concurrent, ..Params::default() };
        let engine = common::started_engine(&chain, &keys[0], Hash::digest(b"seed"), params, &set);
        let block = Hash::digest(b"A");
        let set_index = set.index_of(&keys[1].public()).unwrap() as u32;
        let header = Header::sign(Height(1), Hash::ZERO, block, set_index, &chain, &keys[1]);
        let from = keys[1].public();
        let mut h =
            Harness { keys, engine, block, polls: BTreeMap::new(), finalized_after: None, applied: 0 };
        let mut out = Vec::new();
        h.engine.handle(10, Input::Message { from, bytes: Message::Propose(header).encode() }, &mut out);
        h.engine.handle(
            10,
            Input::PayloadVerdict { height: Height(1), payload: block, valid: true },
            &mut out,
        );
        h.record(&out);
        assert_eq!(h.polls.len(), concurrent as usize, "{concurrent} polls in flight once A is processing");
        h
    }

    /// Notes new queries and a finalization in `out`.
    fn record(&mut self, out: &[Effect]) {
        for effect in out {
            match effect {
                Effect::Send { to, bytes } => {
                    if let Ok(Message::Query { poll, .. }) = Message::decode(bytes) {
                        self.polls.entry(poll).or_default().push(*to);
                    }
                }
                Effect::Finalized(f) => {
                    assert_eq!(f.block, self.block);
                    self.finalized_after.get_or_insert(self.applied);
                }
                _ => {}
            }
        }
    }

    /// Every sampled peer of `poll` answers: `A` if `success`, else "no opinion" (a failed poll).
    fn answer(&mut self, poll: u32, success: bool) {
        let sample = self.polls.remove(&poll).expect("poll issued");
        assert_eq!(sample.len(), 20, "k distinct peers");
        let block = if success { self.block } else { Hash::ZERO };
        let mut out = Vec::new();
        for to in sample {
            let bytes = Message::Chit { poll, block }.encode();
            self.engine.handle(20, Input::Message { from: to, bytes }, &mut out);
        }
        self.record(&out);
    }

    fn oldest(&self) -> u32 {
        *self.polls.keys().next().expect("a poll in flight")
    }
}

#[test]
fn a_failed_poll_in_the_middle_restarts_the_count_of_beta() {
    for concurrent in [1, 4, 8] {
        let mut h = Harness::new(concurrent);
        // Polls answered oldest first; the 10th fails. Finality needs 20 successes after it: poll 30.
        for n in 1..=40 {
            let poll = h.oldest();
            h.applied = n;
            h.answer(poll, n != 10);
            if h.finalized_after.is_some() {
                break;
            }
        }
        assert_eq!(h.finalized_after, Some(30), "concurrent = {concurrent}");
    }
}

#[test]
fn polls_finished_out_of_order_wait_for_the_older_ones() {
    let mut h = Harness::new(8);
    let ids: Vec<u32> = h.polls.keys().copied().collect();
    // The 7 younger polls succeed first; none may be applied while the oldest is open.
    for id in &ids[1..] {
        h.answer(*id, true);
    }
    assert_eq!(h.engine.stats().successful_polls, 0, "younger polls wait behind the oldest");
    // The oldest fails: in issue order it comes first (reset), then the 7 successes count.
    h.answer(ids[0], false);
    assert_eq!(h.engine.stats().successful_polls, 7);
    // So 13 more successes finalize (applied as completed, the failure would have wiped the 7: 20 more).
    let mut more = 0;
    while h.finalized_after.is_none() {
        let poll = h.oldest();
        h.answer(poll, true);
        more += 1;
        assert!(more <= 20, "no finalization after 20 more successes");
    }
    assert_eq!(more, 13);
}

#[test]
fn concurrent_polls_are_independent_samples() {
    let h = Harness::new(8);
    let samples: Vec<Vec<PublicKey>> = h.polls.values().cloned().collect();
    for s in &samples {
        let mut d = s.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 20, "k distinct peers per poll");
        assert!(!s.contains(&h.keys[0].public()), "never ourselves");
    }
    // Independent draws of 20 of 29: eight identical samples would be a shared sample.
    assert!(samples.windows(2).any(|w| {
        let (mut a, mut b) = (w[0].clone(), w[1].clone());
        a.sort();
        b.sort();
        a != b
    }));
}
