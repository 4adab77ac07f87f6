//! Votes for committee members still running the fallback of a height we finalized ("stragglers").
//!
//! At 10,000 nodes under `balance`, about half of a height's honest seats finalized it by sampling and moved on,
//! the other half stayed in its fallback, and every way out needs more than 2/3 of the seats: a nullification
//! to change view, a notarization, then `Finalize` votes. `Finalize` help alone could not move the stuck half
//! (issue 11). So a member that finalized block B at height h answers a straggler's vote in view v of h with:
//!
//! - `Finalize(h, v, B)`, to every `Notarize` or `Nullify` (not to a `Finalize`: it may itself be help);
//! - `Nullify(h, v)` to its `Nullify(h, v)`, so the stuck members reach the next view and its leader;
//! - `Notarize(h, v, B)` to its `Notarize(h, v, B)` — only for B, and only if our own fallback votes of h are
//!   known (kept from when we left h) and hold no `Notarize` of another block in view v.
//!
//! Safety: we never support any block but B at h, the one we finalized, so we behave as a member locked on B
//! forever; two different `Notarize` from us in one view are excluded by the record of our votes (after a restart,
//! or for heights no longer kept, no `Notarize` help at all). A `Nullify` next to a `Finalize` in one view is
//! allowed in this fallback (safety rests on locks, `fallback.rs`). Each `Nullify`/`Notarize` answer goes once
//! per (height, view, kind, peer), so two finalized nodes cannot keep answering each other.

use std::collections::{BTreeMap, BTreeSet};

use cairn_consensus::{Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey, Signature};

use crate::engine::SnowEngine;
use crate::fallback::KEPT_CERTIFICATES;
use crate::wire::Message;

/// Help signatures kept (each vote is signed once), and (height, view, kind, peer) answers remembered.
const MAX_SIGNED: usize = 768;
const MAX_ANSWERED: usize = 4096;

#[derive(Default)]
pub(crate) struct Help {
    /// Our own `Notarize` votes, per view, of the last `KEPT_CERTIFICATES` heights we left.
    past: BTreeMap<Height, BTreeMap<u64, Hash>>,
    signed: BTreeMap<(Height, u64, u8), Signature>,
    answered: BTreeSet<(Height, u64, u8, PublicKey)>,
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
        if let Some(answer) = answer
            && self.help.answered.insert((height, view, code(answer.kind), *from))
        {
            if self.help.answered.len() > MAX_ANSWERED {
                self.help.answered.pop_first();
            }
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
        self.help.pending.push((*to, Message::FbVote { vote, signature }));
    }
}
