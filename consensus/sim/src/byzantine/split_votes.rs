use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Keypair, PublicKey};

use super::unjustified::hide_reproposal;
use super::{halves, outgoing, send_all};
use crate::NodeContext;
use crate::protocol::Bft;

/// Attacks the fast path by splitting what honest validators see of a view. Its notarize votes go to one half of
/// the network only, so that half may see the votes of all the weight (and finalize in two delays) while the
/// other half times out and nullifies; its nullify votes claim it notarized nothing (a lie that weakens what a
/// nullification binds), and it nullifies every view it finalizes too (so validators that timed out get their
/// nullification); it never sends a certificate to a validator that is behind; and as leader it proposes a
/// fresh block where the honest engine re-proposes one (as `unjustified`), with a finalize vote for it. If a
/// nullification could skip a view in which a block was finalized fast, this is the behaviour that finalizes a
/// second block (`a_view_finalized_fast_cannot_be_skipped_by_its_nullification` forces the schedule).
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

impl SplitVotes {
    /// `Nullify` of `vote`'s view claiming nothing was notarized.
    fn lying_nullify(&self, vote: Vote) -> Effect {
        let lie = Vote { kind: VoteKind::Nullify, block: Hash::ZERO, ..vote };
        let signature = lie.sign(&self.chain_id, &self.key);
        Effect::Broadcast { bytes: Message::Vote { vote: lie, signature }.encode() }
    }
}

impl Engine for SplitVotes {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            if let Effect::Send { bytes, .. } = &effect
                && matches!(Message::decode(bytes), Ok(Message::Certificate(_)))
            {
                // Never helps a validator that is behind.
                continue;
            }
            let Some(msg) = outgoing(&effect) else {
                effects.push(effect);
                continue;
            };
            match msg {
                Message::Proposal { .. } => match hide_reproposal(&msg, &self.chain_id, &self.key) {
                    Some(fresh) => {
                        // Backs its fresh block all the way: a finalize vote for it at once.
                        if let Message::Proposal { vote, .. } = &fresh {
                            let fin = Vote { kind: VoteKind::Finalize, ..*vote };
                            let signature = fin.sign(&self.chain_id, &self.key);
                            effects.push(Effect::Broadcast { bytes: fresh.encode() });
                            effects.push(Effect::Broadcast {
                                bytes: Message::Vote { vote: fin, signature }.encode(),
                            });
                        }
                    }
                    None => effects.push(effect),
                },
                Message::Vote { vote, .. } | Message::Retry { vote, .. }
                    if vote.kind == VoteKind::Notarize =>
                {
                    send_all(&self.near, &msg.encode(), effects);
                }
                Message::Vote { vote, .. } if vote.kind == VoteKind::Nullify && vote.block != Hash::ZERO => {
                    effects.push(self.lying_nullify(vote));
                }
                Message::Vote { vote, .. } if vote.kind == VoteKind::Finalize => {
                    effects.push(effect);
                    effects.push(self.lying_nullify(vote));
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
