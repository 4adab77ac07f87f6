use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time};
use cairn_primitives::{ChainId, Keypair, PublicKey};
use cairn_snow::{Header, Message, SnowEngine};

use super::twin;
use crate::NodeContext;
use crate::byzantine::{halves, send_all};

/// As a proposer, signs two blocks for its slot and sends one to each half of the network (an equivocation
/// honest nodes report as evidence), and answers every poll with the block the poller already prefers, which
/// reinforces whatever split it created. Otherwise behaves honestly.
pub struct Conflict {
    inner: SnowEngine,
    index: usize,
    chain_id: ChainId,
    key: Keypair,
    halves: (Vec<cairn_primitives::PublicKey>, Vec<cairn_primitives::PublicKey>),
    buf: Vec<Effect>,
}

impl Conflict {
    pub fn new(ctx: &NodeContext, inner: SnowEngine) -> Conflict {
        Conflict {
            inner,
            index: ctx.index,
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            halves: halves(ctx),
            buf: Vec::new(),
        }
    }
}

impl Engine for Conflict {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        if let Input::Message { from, bytes } = &input
            && let Ok(Message::Query { poll, block, .. }) = Message::decode(bytes)
        {
            effects.push(Effect::Send { to: *from, bytes: Message::Chit { poll, block }.encode() });
            return;
        }
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            let proposal = match &effect {
                Effect::Broadcast { bytes } => match Message::decode(bytes) {
                    Ok(Message::Propose(h)) => Some(h),
                    _ => None,
                },
                _ => None,
            };
            match proposal {
                Some(h) => {
                    let other = twin(&h.parent, h.height, self.index);
                    let second =
                        Header::sign(h.height, h.parent, other, h.proposer, &self.chain_id, &self.key);
                    send_all(&self.halves.0, &Message::Propose(h).encode(), effects);
                    send_all(&self.halves.1, &Message::Propose(second).encode(), effects);
                }
                None => effects.push(effect),
            }
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
