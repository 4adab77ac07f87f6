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
}
