use bytes::Bytes;
use cairn_bft::Message;
use cairn_consensus::{
    Certificate, DropCounters, Effect, Engine, Input, Status, Time, TimerId, Vote, VoteKind,
};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Signature};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::NodeContext;

const TICK: TimerId = TimerId(7);

/// Sends garbage: random bytes, and well-formed messages with random kinds, heights, views, blocks and
/// certificates, every 50 ms and in answer to a tenth of what it receives.
pub struct Random {
    me: PublicKey,
    key: Keypair,
    chain_id: ChainId,
    peers: Vec<PublicKey>,
    rng: ChaCha8Rng,
    height: u64,
}

impl Random {
    pub fn new(ctx: &NodeContext) -> Random {
        Random {
            me: ctx.key.public(),
            key: ctx.key.clone(),
            chain_id: ctx.chain_id.clone(),
            peers: ctx.peers.iter().copied().filter(|k| *k != ctx.key.public()).collect(),
            rng: ChaCha8Rng::seed_from_u64(ctx.node_seed),
            height: 1,
        }
    }

    fn garbage(&mut self) -> Bytes {
        let kind =
            [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize, VoteKind::Propose, VoteKind::Prefer]
                [self.rng.gen_range(0..5)];
        let vote = Vote {
            kind,
            height: Height(self.height.saturating_add(self.rng.gen_range(0..3)).saturating_sub(1)),
            view: if self.rng.gen_bool(0.2) { self.rng.r#gen() } else { self.rng.gen_range(0..4) },
            block: Hash(self.rng.r#gen()),
        };
        match self.rng.gen_range(0..6) {
            0 => {
                let len = self.rng.gen_range(0..300);
                Bytes::from((0..len).map(|_| self.rng.r#gen::<u8>()).collect::<Vec<u8>>())
            }
            1 => Message::Vote { vote, signature: vote.sign(&self.chain_id, &self.key) }.encode(),
            2 => Message::Vote { vote, signature: Signature([self.rng.r#gen(); 64]) }.encode(),
            3 => {
                let signers =
                    (0..self.rng.gen_range(0..8u32)).map(|i| (i, Signature([i as u8; 64]))).collect();
                Message::Certificate(Certificate::new(vote, signers)).encode()
            }
            4 => Message::Retry { vote, signature: vote.sign(&self.chain_id, &self.key) }.encode(),
            _ => Message::SyncRequest { height: Height(self.rng.r#gen()) }.encode(),
        }
    }

    fn spray(&mut self, effects: &mut Vec<Effect>) {
        if self.peers.is_empty() {
            return;
        }
        let to = self.peers[self.rng.gen_range(0..self.peers.len())];
        let bytes = self.garbage();
        effects.push(Effect::Send { to, bytes });
    }
}

impl Engine for Random {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        match input {
            Input::Start { last_finalized, .. } => {
                self.height = last_finalized.0.0 + 1;
                effects.push(Effect::SetTimer { id: TICK, at: now + 50 });
            }
            Input::Timer(TICK) => {
                self.spray(effects);
                effects.push(Effect::SetTimer { id: TICK, at: now + 50 });
            }
            Input::Message { bytes, .. } => {
                if let Ok(Message::Vote { vote, .. } | Message::Proposal { vote, .. }) =
                    Message::decode(&bytes)
                {
                    self.height = self.height.max(vote.height.0.min(self.height + 1));
                }
                if self.rng.gen_bool(0.1) {
                    self.spray(effects);
                }
            }
            _ => {}
        }
    }

    fn public_key(&self) -> PublicKey {
        self.me
    }

    fn status(&self) -> Status {
        Status { height: Height(self.height), view: 0 }
    }

    fn dropped(&self) -> DropCounters {
        DropCounters::default()
    }
}
