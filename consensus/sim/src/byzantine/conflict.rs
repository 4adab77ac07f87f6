use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote};
use cairn_primitives::{ChainId, Keypair, PublicKey};

use super::{evil_twin, halves, outgoing, send_all};
use crate::NodeContext;
use crate::protocol::Bft;

/// As leader, proposes its block to one half of the network and a different block to the other half; otherwise
/// votes like an honest node.
pub struct Conflict {
    inner: BftEngine,
    chain_id: ChainId,
    key: Keypair,
    halves: (Vec<PublicKey>, Vec<PublicKey>),
    buf: Vec<Effect>,
}

impl Conflict {
    pub fn new(ctx: &NodeContext) -> Conflict {
        Conflict {
            inner: Bft::engine(ctx),
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            halves: halves(ctx),
            buf: Vec::new(),
        }
    }
}

impl Engine for Conflict {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            match (outgoing(&effect), &effect) {
                (Some(Message::Proposal { vote, signature, justify }), Effect::Broadcast { .. }) => {
                    let other = Vote { block: evil_twin(&vote.block), ..vote };
                    let other_sig = other.sign(&self.chain_id, &self.key);
                    let first = Message::Proposal { vote, signature, justify: justify.clone() }.encode();
                    let second = Message::Proposal { vote: other, signature: other_sig, justify }.encode();
                    send_all(&self.halves.0, &first, effects);
                    send_all(&self.halves.1, &second, effects);
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
