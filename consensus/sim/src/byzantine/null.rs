use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Keypair, PublicKey};

use super::outgoing;
use crate::NodeContext;
use crate::protocol::Bft;

/// Always nullifies: wherever the honest engine would propose, notarize or finalize, it votes to skip the view.
pub struct Null {
    inner: BftEngine,
    chain_id: ChainId,
    key: Keypair,
    buf: Vec<Effect>,
}

impl Null {
    pub fn new(ctx: &NodeContext) -> Null {
        Null {
            inner: Bft::engine(ctx),
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            buf: Vec::new(),
        }
    }
}

impl Engine for Null {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            match outgoing(&effect) {
                Some(Message::Proposal { vote, .. })
                | Some(Message::Vote { vote, .. })
                | Some(Message::Retry { vote, .. })
                    if vote.kind != VoteKind::Nullify =>
                {
                    let null = Vote { kind: VoteKind::Nullify, block: Hash::ZERO, ..vote };
                    let signature = null.sign(&self.chain_id, &self.key);
                    effects
                        .push(Effect::Broadcast { bytes: Message::Vote { vote: null, signature }.encode() });
                }
                _ => effects.push(effect),
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
