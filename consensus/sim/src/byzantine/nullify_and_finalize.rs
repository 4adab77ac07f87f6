use std::collections::BTreeMap;

use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey};

use super::outgoing;
use crate::NodeContext;
use crate::protocol::Bft;

/// Signs what the safety argument rests on no validator signing together: with every `Finalize(v)` it also
/// sends `Nullify(v)`, and with every `Nullify(v)` of a view it notarized it also sends `Finalize(v)` for that
/// block. Below a third of the weight this must neither break safety nor stall; each pair is evidence.
pub struct NullifyAndFinalize {
    inner: BftEngine,
    chain_id: ChainId,
    key: Keypair,
    /// The block the inner engine notarized per (height, view) (what to "finalize" when it nullifies).
    notarized: BTreeMap<(Height, u64), Hash>,
    buf: Vec<Effect>,
}

impl NullifyAndFinalize {
    pub fn new(ctx: &NodeContext) -> NullifyAndFinalize {
        NullifyAndFinalize {
            inner: Bft::engine(ctx),
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            notarized: BTreeMap::new(),
            buf: Vec::new(),
        }
    }

    fn extra(&mut self, vote: Vote) -> Option<Vote> {
        match vote.kind {
            VoteKind::Notarize => {
                self.notarized.insert((vote.height, vote.view), vote.block);
                // Keep the map small: only the current height matters.
                self.notarized.retain(|(h, _), _| *h >= vote.height);
                None
            }
            VoteKind::Finalize => Some(Vote { kind: VoteKind::Nullify, block: Hash::ZERO, ..vote }),
            VoteKind::Nullify => self.notarized.get(&(vote.height, vote.view)).map(|block| Vote {
                kind: VoteKind::Finalize,
                block: *block,
                ..vote
            }),
            VoteKind::Propose | VoteKind::Prefer => None,
        }
    }
}

impl Engine for NullifyAndFinalize {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            let vote = match outgoing(&effect) {
                Some(Message::Proposal { vote, .. } | Message::Vote { vote, .. }) => Some(vote),
                _ => None,
            };
            effects.push(effect);
            if let Some(extra) = vote.and_then(|v| self.extra(v)) {
                let signature = extra.sign(&self.chain_id, &self.key);
                effects.push(Effect::Broadcast { bytes: Message::Vote { vote: extra, signature }.encode() });
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
