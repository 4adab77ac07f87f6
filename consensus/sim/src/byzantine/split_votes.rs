use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Keypair, PublicKey};

use super::unjustified::hide_reproposal;
use super::{halves, outgoing, send_all};
use crate::NodeContext;
use crate::protocol::Bft;

/// Attacks the fast path by splitting what honest validators see of a view. Its proposals and notarize votes go
/// to one half of the network only, so that half may see the votes of all the weight (and finalize in two
/// delays) while the other half times out and nullifies; its nullify votes claim it notarized nothing (a lie
/// that weakens what a nullification binds); and as leader it proposes a fresh block where the honest engine
/// re-proposes one (as `unjustified`). If a nullification could skip a view in which a block was finalized
/// fast, this is the behaviour that finalizes a second block.
pub struct SplitVotes {
    inner: BftEngine,
    chain_id: ChainId,
    key: Keypair,
    near: Vec<PublicKey>,
    buf: Vec<Effect>,
}

impl SplitVotes {
    pub fn new(ctx: &NodeContext) -> SplitVotes {
        SplitVotes {
            inner: Bft::engine(ctx),
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            near: halves(ctx).0,
            buf: Vec::new(),
        }
    }
}

impl Engine for SplitVotes {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            let Some(msg) = outgoing(&effect) else {
                effects.push(effect);
                continue;
            };
            match msg {
                Message::Proposal { .. } => {
                    let msg = hide_reproposal(&msg, &self.chain_id, &self.key).unwrap_or(msg);
                    send_all(&self.near, &msg.encode(), effects);
                }
                Message::Vote { vote, .. } | Message::Retry { vote, .. }
                    if vote.kind == VoteKind::Notarize =>
                {
                    send_all(&self.near, &msg.encode(), effects);
                }
                Message::Vote { vote, .. } if vote.kind == VoteKind::Nullify && vote.block != Hash::ZERO => {
                    let lie = Vote { block: Hash::ZERO, ..vote };
                    let signature = lie.sign(&self.chain_id, &self.key);
                    effects
                        .push(Effect::Broadcast { bytes: Message::Vote { vote: lie, signature }.encode() });
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
