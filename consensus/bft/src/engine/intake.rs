//! Message intake: decoding, sender and signature checks, buffering of future heights, proposals and their
//! justifications, certificates from peers.

use bytes::Bytes;
use cairn_consensus::{Certificate, Effect, MAX_MESSAGE_BYTES, Time, Vote, VoteKind};
use cairn_primitives::{Hash, PublicKey, Signature};

use super::*;
use crate::leader::leader;
use crate::wire::Message;

impl BftEngine {
    pub(super) fn is_known(&self, key: &PublicKey) -> bool {
        self.sets.values().any(|s| s.contains(key)) || self.set().is_some_and(|s| s.contains(key))
    }

    pub(super) fn on_message(&mut self, now: Time, from: PublicKey, bytes: Bytes, fx: &mut Vec<Effect>) {
        if bytes.len() > MAX_MESSAGE_BYTES {
            self.dropped.oversized += 1;
            return;
        }
        let msg = match Message::decode(&bytes) {
            Ok(m) => m,
            Err(_) => {
                self.dropped.malformed += 1;
                return;
            }
        };
        if !self.active && !matches!(msg, Message::SyncRequest { .. }) {
            // Waiting for this height's validator set (e.g. two heights finalized in one batch): keep the
            // message and judge it once the set is known.
            self.buffer(from, bytes, &msg);
            return;
        }
        if !self.is_known(&from) {
            self.dropped.unknown_sender += 1;
            return;
        }
        let height = match &msg {
            Message::Proposal { vote, .. } | Message::Vote { vote, .. } | Message::Retry { vote, .. } => {
                vote.height
            }
            Message::Certificate(c) => c.vote.height,
            Message::SyncRequest { height } => {
                if let Some(cert) = self.finals.get(height).cloned() {
                    self.reply(now, from, cert, fx);
                }
                return;
            }
        };
        if height < self.height {
            self.dropped.stale += 1;
            // A retry for a decided height means the sender is stuck there (late votes are normal and not
            // answered, to keep the common path free of certificate traffic).
            if matches!(msg, Message::Retry { .. })
                && self.helps(now, &from)
                && let Some(cert) = self.finals.get(&height).cloned()
            {
                self.reply(now, from, cert, fx);
            }
            return;
        }
        if height > self.height {
            self.buffer(from, bytes, &msg);
            return;
        }
        match msg {
            Message::Proposal { vote, signature, justify } => {
                self.on_vote(now, from, vote, signature, Via::Proposal(justify), fx)
            }
            Message::Vote { vote, signature } => self.on_vote(now, from, vote, signature, Via::Vote, fx),
            Message::Retry { vote, signature } => self.on_vote(now, from, vote, signature, Via::Retry, fx),
            Message::Certificate(cert) => self.on_certificate(now, from, cert, fx),
            Message::SyncRequest { .. } => {}
        }
    }

    /// Keeps a message for a later height (at most two ahead, at most `MAX_FUTURE_MESSAGES` in all).
    pub(super) fn buffer(&mut self, from: PublicKey, bytes: Bytes, msg: &Message) {
        let height = match msg {
            Message::Proposal { vote, .. } | Message::Vote { vote, .. } | Message::Retry { vote, .. } => {
                vote.height
            }
            Message::Certificate(c) => c.vote.height,
            Message::SyncRequest { height } => *height,
        };
        if height.0 > self.height.0.saturating_add(2) || self.future.len() >= MAX_FUTURE_MESSAGES {
            self.dropped.far_future += 1;
        } else if height >= self.height {
            self.future.push((from, bytes));
        } else {
            self.dropped.stale += 1;
        }
    }

    pub(super) fn on_certificate(
        &mut self,
        now: Time,
        from: PublicKey,
        cert: Certificate,
        fx: &mut Vec<Effect>,
    ) {
        let Some(set) = self.set().cloned() else { return };
        let ok_kind = match cert.vote.kind {
            VoteKind::Notarize | VoteKind::Finalize => true,
            VoteKind::Nullify => cert.vote.block == Hash::ZERO,
            _ => false,
        };
        if !ok_kind {
            self.dropped.malformed += 1;
            return;
        }
        if self.on_unanimous(now, from, &cert, fx) {
            return;
        }
        // A finalization ends the height whatever view we are in (a node far behind in views must still be
        // able to catch up); other certificates are bounded like votes.
        if cert.vote.kind != VoteKind::Finalize && cert.vote.view > self.view.saturating_add(MAX_VIEW_AHEAD) {
            self.dropped.far_future += 1;
            return;
        }
        let known = match cert.vote.kind {
            VoteKind::Notarize => self.round.notarizations.contains_key(&cert.vote.view),
            VoteKind::Nullify => self.holds_nullification(&cert),
            _ => false,
        };
        if known {
            self.dropped.stale += 1;
            return;
        }
        if cert.verify_with(&set, &self.cfg.chain_id, self.cfg.verifier.as_ref()).is_err() {
            self.dropped.bad_signature += 1;
            return;
        }
        self.count_certificate(&cert, fx);
        self.apply_certificate(now, cert, Some(from), fx);
    }

    /// The certificate's votes are votes too: counting them exposes a signer who told us something else.
    fn count_certificate(&mut self, cert: &Certificate, fx: &mut Vec<Effect>) {
        if let Some(book) = self.round.book.as_mut() {
            for (index, signature) in &cert.signers {
                if let Some(e) = book.add(*index, cert.vote_of(*index), *signature).evidence {
                    fx.push(Effect::Evidence(e));
                }
            }
        }
    }

    /// Whether we hold a nullification of `cert`'s view and have counted every vote in `cert` (its claims can
    /// change what our fullest nullification binds otherwise).
    fn holds_nullification(&self, cert: &Certificate) -> bool {
        self.round.nullifications.contains_key(&cert.vote.view)
            && self.round.book.as_ref().is_some_and(|b| b.counted_all(cert))
    }

    /// A unanimous notarization from a peer: the fast path's finalization, accepted at any view like a
    /// finalization certificate. Returns whether `cert` was one (and so was handled here).
    fn on_unanimous(&mut self, now: Time, from: PublicKey, cert: &Certificate, fx: &mut Vec<Effect>) -> bool {
        let Some(set) = self.set().cloned() else { return false };
        let unanimous = cert.vote.kind == VoteKind::Notarize
            && cert.vote.block != Hash::ZERO
            && cert.check_structure(&set).is_ok_and(|w| w == set.total_power());
        if !unanimous {
            return false;
        }
        if cert.verify_finality(&set, &self.cfg.chain_id, self.cfg.verifier.as_ref()).is_err() {
            self.dropped.bad_signature += 1;
            return true;
        }
        self.count_certificate(cert, fx);
        self.finalize(now, cert.clone(), Some(from), fx);
        true
    }

    pub(super) fn on_vote(
        &mut self,
        now: Time,
        from: PublicKey,
        vote: Vote,
        signature: Signature,
        via: Via,
        fx: &mut Vec<Effect>,
    ) {
        let (proposal, retry) = match via {
            Via::Proposal(justify) => (Some(justify), false),
            Via::Vote => (None, false),
            Via::Retry => (None, true),
        };
        let Some(set) = self.set().cloned() else { return };
        let Some(index) = set.index_of(&from) else {
            self.dropped.unknown_sender += 1;
            return;
        };
        let well_formed = match vote.kind {
            VoteKind::Notarize => true,
            VoteKind::Finalize => proposal.is_none(),
            // A nullify names the block its signer notarized in the view (or `Hash::ZERO`).
            VoteKind::Nullify => proposal.is_none(),
            VoteKind::Propose | VoteKind::Prefer => false,
        };
        if !well_formed {
            self.dropped.malformed += 1;
            return;
        }
        if vote.view > self.view.saturating_add(MAX_VIEW_AHEAD) {
            self.dropped.far_future += 1;
            return;
        }
        if !vote.verify(&self.cfg.chain_id, &from, &signature, self.cfg.verifier.as_ref()) {
            self.dropped.bad_signature += 1;
            return;
        }
        if let Some(justify) = proposal {
            if leader(&set, &self.cfg.seed, self.height, vote.view) != from {
                self.dropped.invalid_proposal += 1;
                return;
            }
            // A notarization and, per skipped view, a nullification or a two-certificate proof that it binds
            // nothing (see `justify`).
            if justify.len() > 2 * MAX_VIEW_AHEAD as usize + 2 {
                self.dropped.invalid_proposal += 1;
                return;
            }
            let mut justify_view = None;
            for cert in justify {
                let c = &cert.vote;
                let fits = c.height == self.height
                    && c.view < vote.view
                    && match c.kind {
                        VoteKind::Notarize => c.block == vote.block && justify_view.replace(c.view).is_none(),
                        VoteKind::Nullify => c.block == Hash::ZERO,
                        _ => false,
                    };
                if !fits {
                    self.dropped.invalid_proposal += 1;
                    return;
                }
                let known = match c.kind {
                    VoteKind::Notarize => self.round.notarizations.contains_key(&c.view),
                    _ => self.holds_nullification(&cert),
                };
                if known {
                    continue;
                }
                if cert.verify_with(&set, &self.cfg.chain_id, self.cfg.verifier.as_ref()).is_err() {
                    self.dropped.invalid_proposal += 1;
                    return;
                }
                self.count_certificate(&cert, fx);
                self.apply_certificate(now, cert, None, fx);
                if vote.height != self.height {
                    return;
                }
            }
            self.round
                .proposals
                .entry(vote.view)
                .or_insert(Proposal { block: vote.block, justify: justify_view });
        }
        self.heard.insert(from, self.height);
        self.count(now, index as u32, vote, signature, fx);
        if vote.height != self.height {
            return;
        }
        if retry && self.helps(now, &from) {
            // The sender is stuck in this view: help it with the certificate that ended it, if we have one.
            let cert = self
                .round
                .nullifications
                .get(&vote.view)
                .or_else(|| self.round.notarizations.get(&vote.view))
                .cloned();
            if let Some(cert) = cert {
                self.reply(now, from, cert, fx);
            }
        }
        if vote.view == self.view {
            self.try_notarize(now, fx);
        }
    }
}
