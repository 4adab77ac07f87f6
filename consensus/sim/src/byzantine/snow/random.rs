use bytes::Bytes;
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey, Signature};
use cairn_snow::{Header, Message, SnowEngine};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::NodeContext;

/// Answers polls with random blocks, and after every input sends one random peer one of: garbage bytes, a
/// well-formed message with nonsense values (unknown polls, bad signatures, absurd heights), or a huge count.
pub struct Random {
    inner: SnowEngine,
    rng: ChaCha8Rng,
    peers: Vec<PublicKey>,
    buf: Vec<Effect>,
}

impl Random {
    pub fn new(ctx: &NodeContext, inner: SnowEngine) -> Random {
        Random {
            inner,
            rng: ChaCha8Rng::seed_from_u64(ctx.node_seed),
            peers: ctx.peers.iter().copied().filter(|k| *k != ctx.key.public()).collect(),
            buf: Vec::new(),
        }
    }

    fn hash(&mut self) -> Hash {
        Hash(self.rng.r#gen())
    }

    fn nonsense(&mut self) -> Bytes {
        let height = Height(self.rng.gen_range(0..1u64 << 40));
        let header = Header {
            height,
            parent: self.hash(),
            block: self.hash(),
            proposer: self.rng.r#gen(),
            signature: Signature([7; 64]),
        };
        match self.rng.gen_range(0..8) {
            0 => {
                let len = self.rng.gen_range(0..200);
                Bytes::from((0..len).map(|_| self.rng.r#gen::<u8>()).collect::<Vec<u8>>())
            }
            1 => Message::Propose(header).encode(),
            2 => Message::Chit { poll: self.rng.r#gen(), block: self.hash() }.encode(),
            3 => Message::Query { poll: self.rng.r#gen(), height, block: self.hash() }.encode(),
            4 => Message::Headers(vec![header; 3]).encode(),
            5 => {
                let vote =
                    Vote { kind: VoteKind::Notarize, height, view: self.rng.r#gen(), block: self.hash() };
                Message::FbVote { vote, signature: Signature([1; 64]) }.encode()
            }
            6 => {
                // A Headers message claiming 2^32 entries: must be refused before allocating.
                let mut b = vec![4u8];
                b.extend_from_slice(&u32::MAX.to_le_bytes());
                Bytes::from(b)
            }
            _ => Message::Fetch { from: Height(0), block: self.hash() }.encode(),
        }
    }
}

impl Engine for Random {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        if let Input::Message { from, bytes } = &input
            && let Ok(Message::Query { poll, .. }) = Message::decode(bytes)
        {
            let block = self.hash();
            effects.push(Effect::Send { to: *from, bytes: Message::Chit { poll, block }.encode() });
            return;
        }
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        effects.append(&mut self.buf);
        if !self.peers.is_empty() && self.rng.gen_bool(0.2) {
            let to = self.peers[self.rng.gen_range(0..self.peers.len())];
            let bytes = self.nonsense();
            effects.push(Effect::Send { to, bytes });
        }
    }

    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }

    fn status(&self) -> Status {
        self.inner.status()
    }

    fn dropped(&self) -> DropCounters {
        self.inner.dropped()
    }
}
