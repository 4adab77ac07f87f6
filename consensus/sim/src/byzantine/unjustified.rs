use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time, Vote, VoteKind};
use cairn_primitives::{ChainId, Keypair, PublicKey};

use super::{evil_twin, outgoing};
use crate::NodeContext;
use crate::protocol::Bft;

/// Attacks the justification rule: where the honest engine would re-propose the block notarized (or bound by a
/// nullification) in an earlier view, it proposes a fresh block instead and sends only the nullifications,
/// hiding the notarization. If
/// honest validators notarized it, a block finalized in that earlier view could be overtaken by another one.
pub struct Unjustified {
    inner: BftEngine,
    chain_id: ChainId,
    key: Keypair,
    buf: Vec<Effect>,
}

impl Unjustified {
    pub fn new(ctx: &NodeContext) -> Unjustified {
        Unjustified {
            inner: Bft::engine(ctx),
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            buf: Vec::new(),
        }
    }
}

impl Engine for Unjustified {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            match outgoing(&effect).and_then(|m| hide_reproposal(&m, &self.chain_id, &self.key)) {
                Some(fresh) => effects.push(Effect::Broadcast { bytes: fresh.encode() }),
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

/// If `msg` is a re-proposal (justified by a notarization, or by a nullification that binds the block: the fast
/// path's rule), a fresh proposal in its place that carries only the nullifications.
pub(super) fn hide_reproposal(msg: &Message, chain_id: &ChainId, key: &Keypair) -> Option<Message> {
    let Message::Proposal { vote, justify, .. } = msg else { return None };
    let reproposal = justify
        .iter()
        .any(|c| c.vote.kind == VoteKind::Notarize || c.claims.iter().any(|(_, b)| *b == vote.block));
    if !reproposal {
        return None;
    }
    let fresh = Vote { block: evil_twin(&vote.block), ..*vote };
    let signature = fresh.sign(chain_id, key);
    let justify = justify.iter().filter(|c| c.vote.kind == VoteKind::Nullify).cloned().collect();
    Some(Message::Proposal { vote: fresh, signature, justify })
}
