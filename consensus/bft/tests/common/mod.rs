//! Shared fixture of the engine-level tests: four equal validators, one engine, helpers to feed it messages
//! and read what it did.
#![allow(dead_code)]

use std::sync::Arc;

use cairn_bft::{BftEngine, Config, Message, leader};
use cairn_consensus::{Certificate, Effect, Engine, Input, PlainVerifier, TimerId, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};

pub const VIEW_TIMER: TimerId = TimerId(0);

pub struct Fx {
    pub keys: Vec<Keypair>,
    pub set: Arc<ValidatorSet>,
    pub chain: ChainId,
    pub seed: Hash,
    pub me: usize,
    pub engine: BftEngine,
    pub now: u64,
}

pub fn key_index(keys: &[Keypair], pk: PublicKey) -> usize {
    keys.iter().position(|k| k.public() == pk).unwrap()
}

/// Four equal validators; we are one that leads none of views 0..=3 of height 1 if there is one.
pub fn fixture() -> Fx {
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
pub fn fixture_as(pick: impl Fn(&[Keypair], &[PublicKey]) -> usize) -> Fx {
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
        signer: std::sync::Arc::new(keys[me].clone()),
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

pub fn block(name: &[u8]) -> Hash {
    Hash::digest(name)
}

impl Fx {
    pub fn input(&mut self, input: Input) -> Vec<Effect> {
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

    pub fn leader(&self, view: u64) -> usize {
        key_index(&self.keys, leader(&self.set, &self.seed, Height(1), view))
    }

    pub fn from(&mut self, who: usize, msg: Message) -> Vec<Effect> {
        let from = self.keys[who].public();
        self.input(Input::Message { from, bytes: msg.encode() })
    }

    pub fn signed(
        &self,
        who: usize,
        kind: VoteKind,
        view: u64,
        block: Hash,
    ) -> (Vote, cairn_primitives::Signature) {
        let vote = Vote { kind, height: Height(1), view, block };
        (vote, vote.sign(&self.chain, &self.keys[who]))
    }

    pub fn proposal(&mut self, view: u64, b: Hash, justify: Vec<Certificate>) -> Vec<Effect> {
        let l = self.leader(view);
        let (vote, signature) = self.signed(l, VoteKind::Notarize, view, b);
        self.from(l, Message::Proposal { vote, signature, justify })
    }

    /// A certificate of `kind` for `block` in `view`, signed by the three validators other than us.
    pub fn cert(&self, kind: VoteKind, view: u64, block: Hash) -> Certificate {
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
        Certificate::new(vote, signers)
    }

    pub fn certificate(&mut self, kind: VoteKind, view: u64, block: Hash) -> Vec<Effect> {
        let c = self.cert(kind, view, block);
        let other = (self.me + 1) % 4;
        self.from(other, Message::Certificate(c))
    }

    /// Fires the view timer until the engine is in `view` (at most a few times).
    pub fn timeout_into(&mut self, view: u64) -> Vec<Effect> {
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
pub fn votes(fx: &[Effect]) -> Vec<Vote> {
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

pub fn voted(fx: &[Effect], kind: VoteKind, view: u64) -> Option<Hash> {
    votes(fx).into_iter().find(|v| v.kind == kind && v.view == view).map(|v| v.block)
}

pub fn view_timer_at(fx: &[Effect]) -> Option<u64> {
    fx.iter().rev().find_map(|e| match e {
        Effect::SetTimer { id, at } if *id == VIEW_TIMER => Some(*at),
        _ => None,
    })
}

pub fn proposed(fx: &[Effect]) -> Option<(Hash, Vec<(VoteKind, u64)>)> {
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

pub fn builds(fx: &[Effect], view: u64) -> bool {
    fx.iter().any(|e| matches!(e, Effect::BuildPayload { view: v, .. } if *v == view))
}

/// A finalization certificate for `height` (view 0) signed by the three validators other than us.
pub fn final_cert(f: &Fx, height: u64, b: Hash) -> Certificate {
    let vote = Vote { kind: VoteKind::Finalize, height: Height(height), view: 0, block: b };
    let mut signers: Vec<(u32, cairn_primitives::Signature)> = (0..4)
        .filter(|i| *i != f.me)
        .map(|i| (f.set.index_of(&f.keys[i].public()).unwrap() as u32, vote.sign(&f.chain, &f.keys[i])))
        .collect();
    signers.sort_by_key(|(i, _)| *i);
    Certificate::new(vote, signers)
}

pub const GOSSIP_TIMER: TimerId = TimerId(2);

pub fn sent_certificates(fx: &[Effect]) -> Vec<(PublicKey, VoteKind)> {
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
pub fn helped_by(f: &Fx, who: usize) -> bool {
    let me = f.set.index_of(&f.keys[f.me].public()).unwrap();
    let p = f.set.index_of(&f.keys[who].public()).unwrap();
    matches!((me + 4 - p) % 4, 1 | 2)
}

pub const RETRY_TIMER: TimerId = TimerId(1);

pub fn broadcasts(fx: &[Effect]) -> Vec<Message> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Broadcast { bytes } => Message::decode(bytes).ok(),
            _ => None,
        })
        .collect()
}

pub fn timer_at(fx: &[Effect], timer: TimerId) -> Option<u64> {
    fx.iter().rev().find_map(|e| match e {
        Effect::SetTimer { id, at } if *id == timer => Some(*at),
        _ => None,
    })
}
