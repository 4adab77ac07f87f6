//! Helping peers that are behind, and ourselves: certificate replies (bounded per peer) and replaying buffered
//! messages once a height becomes current.

use cairn_consensus::{Certificate, Effect, Time};
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

    /// A certificate just formed from votes we counted: send it once to the validators we help (window 0 of
    /// the ring) whose vote for it is not in it — the ones likely to miss it. This replaces answering every
    /// retry from every peer: at most `HELPERS` copies per validator per certificate, none in the common case
    /// where everyone's vote arrived.
    pub(super) fn gossip(&self, cert: &Certificate, fx: &mut Vec<Effect>) {
        let Some(set) = self.set() else { return };
        let mut bytes = None;
        for (i, v) in set.validators().iter().enumerate() {
            let signed = cert.signers.binary_search_by_key(&(i as u32), |(s, _)| *s).is_ok();
            if signed || v.public_key == self.me || !self.is_helper(&v.public_key, 0) {
                continue;
            }
            let bytes = bytes.get_or_insert_with(|| Message::Certificate(cert.clone()).encode()).clone();
            fx.push(Effect::Send { to: v.public_key, bytes });
        }
    }
}
