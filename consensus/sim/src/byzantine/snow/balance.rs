use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, ValidatorSet};
use cairn_snow::{Header, Message, SnowEngine};

use super::twin;
use crate::NodeContext;
use crate::byzantine::halves;

/// Heights of query statistics kept.
const KEPT_HEIGHTS: usize = 4;

/// The metastability attack: answers every poll with the block that the polls it receives show to be the
/// minority preference, so the honest split never tips. The first attacker (node 0) also proposes a conflicting
/// block at every height, as soon as the height starts, to half of the network — without it there is nothing
/// to balance. Everything else (its own polls, finalization) is honest.
pub struct Balance {
    inner: SnowEngine,
    index: usize,
    chain_id: ChainId,
    key: Keypair,
    half: Vec<PublicKey>,
    set: Option<Arc<ValidatorSet>>,
    /// Per height: every block seen there and how many received polls preferred it.
    seen: BTreeMap<Height, BTreeMap<Hash, u64>>,
    buf: Vec<Effect>,
}

impl Balance {
    pub fn new(ctx: &NodeContext, inner: SnowEngine) -> Balance {
        Balance {
            inner,
            index: ctx.index,
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            half: halves(ctx).1,
            set: None,
            seen: BTreeMap::new(),
            buf: Vec::new(),
        }
    }

    fn note(&mut self, height: Height, block: Hash, polled: bool) {
        let blocks = self.seen.entry(height).or_default();
        let count = blocks.entry(block).or_default();
        if polled {
            *count += 1;
        }
        while self.seen.len() > KEPT_HEIGHTS {
            self.seen.pop_first();
        }
    }

    /// The least-preferred block at `height` (ties: not the one the poller prefers), or nothing if only one.
    fn minority(&self, height: Height, asked: &Hash) -> Hash {
        let Some(blocks) = self.seen.get(&height) else { return Hash::ZERO };
        if blocks.len() < 2 {
            return Hash::ZERO;
        }
        blocks.iter().min_by_key(|(b, c)| (**c, *b == asked)).map_or(Hash::ZERO, |(b, _)| *b)
    }

    /// Node 0 proposes a twin for the height after `parent` to half of the network.
    fn inject(&mut self, parent: (Height, Hash), effects: &mut Vec<Effect>) {
        if self.index != 0 {
            return;
        }
        let Some(me) = self.set.as_ref().and_then(|s| s.index_of(&self.key.public())) else { return };
        let height = parent.0.next();
        let block = twin(&parent.1, height, self.index);
        let header = Header::sign(height, parent.1, block, me as u32, &self.chain_id, &self.key);
        self.note(height, block, false);
        let bytes = Message::Propose(header).encode();
        effects.extend(self.half.iter().map(|k| Effect::Send { to: *k, bytes: bytes.clone() }));
    }
}

impl Engine for Balance {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        match &input {
            Input::ValidatorSet { validators, .. } => self.set = Some(validators.clone()),
            Input::Start { last_finalized, .. } => self.inject(*last_finalized, effects),
            Input::Message { from, bytes } => match Message::decode(bytes) {
                Ok(Message::Query { poll, height, block }) => {
                    self.note(height, block, true);
                    let answer = self.minority(height, &block);
                    effects.push(Effect::Send {
                        to: *from,
                        bytes: Message::Chit { poll, block: answer }.encode(),
                    });
                    return;
                }
                Ok(Message::Propose(h)) => self.note(h.height, h.block, false),
                _ => {}
            },
            _ => {}
        }
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            if let Effect::Finalized(f) = &effect {
                self.inject((f.height, f.block), effects);
            }
            effects.push(effect);
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
