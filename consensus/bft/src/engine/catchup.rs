//! Helping peers that are behind, and ourselves: certificate replies (bounded per peer) and replaying buffered
//! messages once a height becomes current.

use cairn_consensus::{Certificate, Effect, Time, VoteKind};
use cairn_primitives::PublicKey;

use super::*;
use crate::wire::Message;

impl BftEngine {
    pub(super) fn replay_future(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let buffered = std::mem::take(&mut self.future);
        for (from, bytes) in buffered {
            self.on_message(now, from, bytes, fx);
        }
    }

    pub(super) fn allow_reply(&mut self, now: Time, peer: PublicKey) -> bool {
        let window = self.cfg.leader_timeout.max(1);
        let entry = self.replies.entry(peer).or_insert((now, 0));
        if now >= entry.0.saturating_add(window) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= REPLIES_PER_WINDOW
    }

    pub(super) fn reply(&mut self, now: Time, peer: PublicKey, cert: Certificate, fx: &mut Vec<Effect>) {
        if self.allow_reply(now, peer) {
            fx.push(Effect::Send { to: peer, bytes: Message::Certificate(cert).encode() });
        }
    }

    /// Whether we are one of the `HELPERS` validators that answer `peer`'s retries in the current window
    /// (`leader_timeout` long). The helpers of a peer rotate round the validator set from window to window,
    /// so a stuck node gets a handful of replies per retry instead of one from every validator, and a crashed
    /// helper only costs a window.
    pub(super) fn helps(&self, now: Time, peer: &PublicKey) -> bool {
        let window = now / self.cfg.leader_timeout.max(1);
        self.is_helper(peer, window)
    }

    fn is_helper(&self, peer: &PublicKey, salt: u64) -> bool {
        let (Some(set), Some(me)) = (self.set(), self.my_index()) else { return false };
        let Some(p) = set.index_of(peer) else { return false };
        let others = set.len() as u64 - 1;
        if others <= HELPERS {
            return true;
        }
        // Our distance after the peer round the ring, 0..others, shifted by the window.
        let d = (u64::from(me) + set.len() as u64 - p as u64) % set.len() as u64;
        if d == 0 {
            return false;
        }
        (d - 1 + others - salt.wrapping_mul(HELPERS) % others) % others < HELPERS
    }

    /// A certificate just formed from votes we counted. A quarter leader timeout later (half for a
    /// finalization; `GOSSIP_TIMER`) it goes
    /// once to each validator we help (two per validator, by position) that still seems to miss it. Sending at
    /// once would mostly reach validators whose own votes are merely in flight (a third of them at the moment
    /// a quorum forms), which costs bytes and helps nobody.
    pub(super) fn gossip(&mut self, now: Time, cert: Certificate, fx: &mut Vec<Effect>) {
        // A finalization is checked later (half a timeout): whether a peer has it shows only once its votes
        // for the next height arrive, a round trip after ours.
        let wait = if cert.vote.kind == VoteKind::Finalize { 2 } else { 4 };
        let due = now.saturating_add((self.cfg.leader_timeout / wait).max(1));
        if self.pending_gossip.is_empty() {
            fx.push(Effect::SetTimer { id: GOSSIP_TIMER, at: due });
        }
        self.pending_gossip.push((due, cert));
    }

    /// Whether validator `index`'s votes show it holds (or is about to form) `cert` of the current height: it
    /// voted for its statement, or voted what only that certificate allows (`Finalize` after a notarization,
    /// anything in the next view after a nullification).
    fn shows_it_has(&self, cert: &Certificate, index: u32) -> bool {
        let Some(book) = self.round.book.as_ref() else { return false };
        let view = cert.vote.view;
        book.voted(view, cert.vote.kind, index)
            || match cert.vote.kind {
                VoteKind::Notarize => book.voted(view, VoteKind::Finalize, index),
                VoteKind::Nullify => [VoteKind::Notarize, VoteKind::Nullify]
                    .iter()
                    .any(|k| book.voted(view.saturating_add(1), *k, index)),
                _ => false,
            }
    }

    /// Sends each due certificate to the validators we help that still seem to miss it: for a height we have
    /// left (its finalization), those not in it and not heard from at any later height; for the current height,
    /// those whose votes do not show they have it (`shows_it_has`).
    pub(super) fn flush_gossip(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let Some(set) = self.set().cloned() else {
            self.pending_gossip.clear();
            return;
        };
        // Each certificate waits its own quarter timeout; the rest wait for the next firing.
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_gossip).into_iter().partition(|(at, _)| *at <= now);
        self.pending_gossip = later;
        if let Some((at, _)) = self.pending_gossip.first() {
            fx.push(Effect::SetTimer { id: GOSSIP_TIMER, at: *at });
        }
        for (_, cert) in due {
            // Of a height we have left only the finalization matters (it supersedes the rest).
            if cert.vote.height < self.height && cert.vote.kind != VoteKind::Finalize {
                continue;
            }
            let mut bytes = None;
            for (i, v) in set.validators().iter().enumerate() {
                if v.public_key == self.me || !self.is_helper(&v.public_key, 0) {
                    continue;
                }
                let missing = if cert.vote.height < self.height {
                    let signed = cert.signers.binary_search_by_key(&(i as u32), |(s, _)| *s).is_ok();
                    !signed && self.heard.get(&v.public_key).is_none_or(|h| *h <= cert.vote.height)
                } else {
                    !self.shows_it_has(&cert, i as u32)
                };
                if missing {
                    let bytes =
                        bytes.get_or_insert_with(|| Message::Certificate(cert.clone()).encode()).clone();
                    fx.push(Effect::Send { to: v.public_key, bytes });
                }
            }
        }
    }
}
