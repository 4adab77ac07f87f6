//! Votes for committee members still running the fallback of a height we finalized ("stragglers").
//!
//! At 10,000 nodes under `balance`, about half of a height's honest seats finalized it by sampling and moved on,
//! the other half stayed in its fallback, and every way out needs more than 2/3 of the seats: a nullification
//! to change view, a notarization, then `Finalize` votes. `Finalize` help alone could not move the stuck half
//! (issue 11). So a member that finalized block B at height h answers a straggler's vote in view v of h with:
//!
//! - `Finalize(h, v, B)`, to every `Notarize` or `Nullify`;
//! - `Nullify(h, v)` to its `Nullify(h, v)`, so the stuck members reach the next view and its leader;
//! - `Notarize(h, v, B)` to its `Notarize(h, v, B)` — only for B, and only if our own fallback votes of h are
//!   known (kept from when we left h) and hold no `Notarize` of another block in view v.
//!
//! Safety: we never support any block but B at h, the one we finalized, so we behave as a member locked on B
//! forever; two different `Notarize` from us in one view are excluded by the record of our votes (after a restart,
//! or for heights no longer kept, no `Notarize` help at all). A `Nullify` next to a `Finalize` in one view is
//! allowed in this fallback (safety rests on locks, `fallback.rs`).
//!
//! Help travels as `FbHelp`, counted like a vote but never answered: two finalized nodes cannot keep helping each
//! other (they did, ≈ 97 % of all messages at 1,000 nodes, when help was an ordinary vote and only `Finalize` was
//! left unanswered; a first version of this module remembered every (height, view, kind, peer) it had answered
//! instead — ≈ 370 KB per node at its cap, which doubled the simulator's memory at 1,000 nodes). Nothing is kept
//! per peer: a straggler re-sending its `Nullify` every view gets the help again, one reply per vote it sends.

use std::collections::BTreeMap;

use cairn_consensus::{Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey, Signature};

use crate::engine::SnowEngine;
use crate::fallback::KEPT_CERTIFICATES;
use crate::wire::Message;

/// Help signatures kept per (height, view, kind), so each help vote is signed once.
const MAX_SIGNED: usize = 256;

#[derive(Default)]
pub(crate) struct Help {
    /// Our own `Notarize` votes, per view, of the last `KEPT_CERTIFICATES` heights we left.
    past: BTreeMap<Height, BTreeMap<u64, Hash>>,
    signed: BTreeMap<(Height, u64, u8), Signature>,
    /// Replies to send at the end of the input.
    pub pending: Vec<(PublicKey, Message)>,
}

impl Help {
    /// Whether our record of `height` is kept and holds no `Notarize` of another block than `block` in `view`.
    fn may_notarize(&self, height: Height, view: u64, block: Hash) -> bool {
        match self.past.get(&height) {
            Some(views) => views.get(&view).is_none_or(|b| *b == block),
            None => false,
        }
    }
}

fn code(kind: VoteKind) -> u8 {
    match kind {
        VoteKind::Notarize => 0,
        VoteKind::Nullify => 1,
        _ => 2,
    }
}

impl SnowEngine {
    /// We leave `height`: keep our fallback votes of it, unless some may be missing (WAL entries not applied yet).
    pub(crate) fn help_keep(&mut self, height: Height, notarized: BTreeMap<u64, Hash>) {
        if self.restored.iter().any(|(h, _)| *h == height) {
            return;
        }
        self.help.past.insert(height, notarized);
        while self.help.past.len() > KEPT_CERTIFICATES {
            self.help.past.pop_first();
        }
    }

    /// A committee member sent us a vote of a height we finalized (see the module doc).
    pub(crate) fn fb_help_straggler(&mut self, from: &PublicKey, vote: Vote) {
        let Some(block) = self.tree.finalized_at(vote.height) else { return };
        if block == Hash::ZERO
            || vote.kind == VoteKind::Finalize
            || vote.view == 0
            || self.committee_of(vote.height).and_then(|c| c.me).is_none()
        {
            return;
        }
        let (height, view) = (vote.height, vote.view);
        self.help_send(from, Vote { kind: VoteKind::Finalize, height, view, block });
        let answer = match vote.kind {
            VoteKind::Nullify => Some(Vote { kind: VoteKind::Nullify, height, view, block: Hash::ZERO }),
            VoteKind::Notarize if vote.block == block && self.help.may_notarize(height, view, block) => {
                Some(Vote { kind: VoteKind::Notarize, height, view, block })
            }
            _ => None,
        };
        if let Some(answer) = answer {
            self.help_send(from, answer);
        }
    }

    fn help_send(&mut self, to: &PublicKey, vote: Vote) {
        let key = (vote.height, vote.view, code(vote.kind));
        let signature = match self.help.signed.get(&key) {
            Some(s) => *s,
            None => {
                let Ok(s) = self.cfg.signer.sign_vote(&self.cfg.chain_id, &vote) else { return };
                if self.help.signed.len() >= MAX_SIGNED {
                    self.help.signed.pop_first();
                }
                self.help.signed.insert(key, s);
                s
            }
        };
        self.help.pending.push((*to, Message::FbHelp { vote, signature }));
    }
}
