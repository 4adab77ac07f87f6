use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{ChainId, Keypair, PublicKey};

use super::{evil_twin, halves, outgoing, send_all};
use crate::NodeContext;
use crate::protocol::Bft;

/// Double-signs: every proposal, notarize and finalize vote also comes in a conflicting version (same view,
/// another block), sent first to one half of the network. That half sees both and reports evidence.
pub struct Equivocate {
    inner: BftEngine,
    chain_id: ChainId,
    key: Keypair,
    halves: (Vec<PublicKey>, Vec<PublicKey>),
    buf: Vec<Effect>,
}

impl Equivocate {
    pub fn new(ctx: &NodeContext) -> Equivocate {
        Equivocate {
            inner: Bft::engine(ctx),
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            halves: halves(ctx),
            buf: Vec::new(),
        }
    }

    fn twin(&self, vote: &Vote) -> (Vote, cairn_primitives::Signature) {
        let twin = Vote { block: evil_twin(&vote.block), ..*vote };
        (twin, twin.sign(&self.chain_id, &self.key))
    }
}

impl Engine for Equivocate {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            let twin = match outgoing(&effect) {
                Some(Message::Proposal { vote, justify, .. }) => {
                    let (vote, signature) = self.twin(&vote);
                    Some(Message::Proposal { vote, signature, justify })
                }
                Some(Message::Vote { vote, .. }) if vote.kind != VoteKind::Nullify => {
                    let (vote, signature) = self.twin(&vote);
                    Some(Message::Vote { vote, signature })
                }
                _ => None,
            };
            match (twin, effect) {
                (Some(twin), Effect::Broadcast { bytes }) => {
                    // The second half hears the twin first, then the real one: it sees the double vote.
                    send_all(&self.halves.1, &twin.encode(), effects);
                    send_all(&self.halves.0, &bytes, effects);
                    send_all(&self.halves.1, &bytes, effects);
                }
                (_, effect) => effects.push(effect),
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
