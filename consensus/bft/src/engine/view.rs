//! The view state machine: entering views, proposing, the notarize/finalize/nullify votes, the timers, and
//! what a new certificate changes.

use cairn_consensus::{Certificate, Effect, Time, Vote, VoteKind};
use cairn_primitives::{Hash, PublicKey, Signature};

use super::*;
use crate::wire::Message;

impl BftEngine {
    /// The timeout of a view: the leader timeout doubled per view failed since the last progress (so a delay
    /// bound above the configured one is found), zero if the view's leader has been silent for a while.
    pub(super) fn view_timeout(&self, view: u64) -> Time {
        if let Some(l) = self.leader_of(view)
            && self.leader_silent(&l)
        {
            return 0;
        }
        self.backed_off()
    }

    pub(super) fn backed_off(&self) -> Time {
        self.cfg.leader_timeout.saturating_mul(1 << self.failed_views.min(MAX_BACKOFF))
    }

    /// Nothing valid heard from `leader` (not us) in the last `SILENT_AFTER_HEIGHTS` heights.
    pub(super) fn leader_silent(&self, leader: &PublicKey) -> bool {
        *leader != self.me
            && self.height.0 > SILENT_AFTER_HEIGHTS
            && self.heard.get(leader).is_none_or(|h| h.0.saturating_add(SILENT_AFTER_HEIGHTS) < self.height.0)
    }

    pub(super) fn enter_view(&mut self, now: Time, view: u64, fx: &mut Vec<Effect>) {
        self.view = view;
        self.round.retries = 0;
        fx.push(Effect::SetTimer { id: VIEW_TIMER, at: now.saturating_add(self.view_timeout(view)) });
        self.try_propose(now, fx);
        self.try_notarize(now, fx);
    }

    pub(super) fn try_propose(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let view = self.view;
        if self.leader_of(view) != Some(self.me) || self.my_index().is_none() {
            return;
        }
        // Only "already voted" is checked here; whether we may vote at all is the signer's call.
        if self.signer.mine(self.height, view).notarized.is_some() || self.round.building == Some(view) {
            return;
        }
        match self.justification(view) {
            Some(Some(p)) => {
                let Some(block) = self.block_at(p) else { return };
                self.propose(now, block, Some(p), fx);
            }
            Some(None) => {
                self.round.building = Some(view);
                fx.push(Effect::BuildPayload { height: self.height, view, parent: self.parent });
            }
            None => {}
        }
    }

    pub(super) fn propose(&mut self, now: Time, block: Hash, justify: Option<u64>, fx: &mut Vec<Effect>) {
        let view = self.view;
        let Some(me) = self.my_index() else { return };
        let vote = Vote { kind: VoteKind::Notarize, height: self.height, view, block };
        let Some(signature) = self.signer.sign(vote, true, fx) else { return };
        self.round.proposals.insert(view, Proposal { block, justify });
        let justify = self.justification_certs(view, justify);
        self.round.verdicts.insert(block, true);
        fx.push(Effect::Broadcast { bytes: Message::Proposal { vote, signature, justify }.encode() });
        self.arm_retry(now, fx);
        self.count(now, me, vote, signature, fx);
    }

    pub(super) fn try_notarize(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let view = self.view;
        let Some(me) = self.my_index() else { return };
        if self.signer.mine(self.height, view).notarized.is_some() {
            return;
        }
        let Some(proposal) = self.round.proposals.get(&view).cloned() else { return };
        let Some(justify) = self.justifies(view, proposal.block) else { return };
        // A re-proposed block was notarized (or claimed by more than a third of the weight) before: honest
        // validators already checked its payload.
        if justify.is_none() {
            match self.round.verdicts.get(&proposal.block) {
                Some(true) => {}
                Some(false) => return,
                None => {
                    if self.round.verifying.insert(proposal.block) {
                        fx.push(Effect::VerifyPayload {
                            height: self.height,
                            parent: self.parent,
                            payload: proposal.block,
                            proposer: self.leader_of(view),
                        });
                    }
                    return;
                }
            }
        }
        let vote = Vote { kind: VoteKind::Notarize, height: self.height, view, block: proposal.block };
        let Some(signature) = self.signer.sign(vote, false, fx) else { return };
        fx.push(Effect::Broadcast { bytes: Message::Vote { vote, signature }.encode() });
        self.arm_retry(now, fx);
        self.count(now, me, vote, signature, fx);
    }

    pub(super) fn send_finalize(&mut self, now: Time, view: u64, block: Hash, fx: &mut Vec<Effect>) {
        let Some(me) = self.my_index() else { return };
        if self.signer.mine(self.height, view).finalized.is_some() {
            return;
        }
        let vote = Vote { kind: VoteKind::Finalize, height: self.height, view, block };
        let Some(signature) = self.signer.sign(vote, false, fx) else { return };
        fx.push(Effect::Broadcast { bytes: Message::Vote { vote, signature }.encode() });
        self.arm_retry(now, fx);
        self.count(now, me, vote, signature, fx);
    }

    /// Votes `Nullify(view)`, naming the block we notarized in it (the fast path's claim), if any.
    pub(super) fn nullify(&mut self, now: Time, view: u64, fx: &mut Vec<Effect>) {
        let Some(me) = self.my_index() else { return };
        let mine = self.signer.mine(self.height, view);
        let claim = mine.notarized.map_or(Hash::ZERO, |(b, _)| b);
        let vote = Vote { kind: VoteKind::Nullify, height: self.height, view, block: claim };
        let Some(signature) = self.signer.sign(vote, false, fx) else { return };
        fx.push(Effect::Broadcast { bytes: Message::Vote { vote, signature }.encode() });
        if mine.nullified.is_none() {
            self.count(now, me, vote, signature, fx);
        }
    }

    /// Counts a vote (signature already checked) and acts on the evidence or certificate it produces.
    pub(super) fn count(
        &mut self,
        now: Time,
        index: u32,
        vote: Vote,
        signature: Signature,
        fx: &mut Vec<Effect>,
    ) {
        let Some(book) = self.round.book.as_mut() else { return };
        let added = book.add(index, vote, signature);
        if added.counted && vote.kind == VoteKind::Nullify {
            self.note_fullest(vote.view);
        }
        if let Some(e) = added.evidence {
            fx.push(Effect::Evidence(e));
        }
        if let Some(cert) = &added.certificate {
            self.gossip(now, cert.clone(), fx);
        }
        if let Some(cert) = added.certificate {
            self.apply_certificate(now, cert, None, fx);
        }
        if let Some(cert) = added.unanimous {
            // Every validator notarized this block: final in two message delays (README, "The fast path").
            self.finalize(now, cert, None, fx);
        }
    }

    pub(super) fn arm_retry(&self, now: Time, fx: &mut Vec<Effect>) {
        let at = now.saturating_add((self.cfg.leader_timeout / 2).max(1));
        fx.push(Effect::SetTimer { id: RETRY_TIMER, at });
    }

    /// Half a leader timeout after our last notarize/finalize vote without the certificate it should have led
    /// to: send it again as a `Retry`, so peers re-count it and answer with the certificate if they have it.
    pub(super) fn on_retry(&mut self, now: Time, fx: &mut Vec<Effect>) {
        if !self.active {
            return;
        }
        let view = self.view;
        let mine = self.signer.mine(self.height, view);
        let vote = match (mine.finalized, mine.notarized) {
            (Some((block, signature)), _) => {
                (Vote { kind: VoteKind::Finalize, height: self.height, view, block }, signature)
            }
            (None, Some((block, signature))) if !self.round.notarizations.contains_key(&view) => {
                (Vote { kind: VoteKind::Notarize, height: self.height, view, block }, signature)
            }
            _ => return,
        };
        let (vote, signature) = vote;
        let msg = if mine.proposed && vote.kind == VoteKind::Notarize {
            // Peers that lost the proposal need the proposal itself, not just our vote.
            let justify = self.round.proposals.get(&view).and_then(|p| p.justify);
            Message::Proposal { vote, signature, justify: self.justification_certs(view, justify) }
        } else {
            Message::Retry { vote, signature }
        };
        fx.push(Effect::Broadcast { bytes: msg.encode() });
        self.arm_retry(now, fx);
    }

    pub(super) fn on_timer(&mut self, now: Time, fx: &mut Vec<Effect>) {
        if !self.active {
            return;
        }
        let view = self.view;
        let retries = self.round.retries;
        self.round.retries = retries.saturating_add(1);
        let mine = self.signer.mine(self.height, view);
        let again = Effect::SetTimer { id: VIEW_TIMER, at: now.saturating_add(self.backed_off()) };
        if mine.finalized.is_some() || self.round.notarizations.contains_key(&view) {
            if retries == 0
                && let Some((block, signature)) = mine.finalized
            {
                // Probably just missing finalize votes: ask peers for the finalization before giving up the view.
                let vote = Vote { kind: VoteKind::Finalize, height: self.height, view, block };
                fx.push(Effect::Broadcast { bytes: Message::Retry { vote, signature }.encode() });
                fx.push(again);
                return;
            }
            // Notarized but not finalized in time: move on; the next leader re-proposes the notarized block.
            self.enter_view(now, view.saturating_add(1), fx);
            return;
        }
        if let Some((block, signature)) = mine.notarized {
            // Re-send our notarize vote (as a proposal if we lead): links may have lost it. A `Retry` asks peers
            // that hold the view's certificate to send it.
            let vote = Vote { kind: VoteKind::Notarize, height: self.height, view, block };
            let msg = if mine.proposed {
                let justify = self.round.proposals.get(&view).and_then(|p| p.justify);
                Message::Proposal { vote, signature, justify: self.justification_certs(view, justify) }
            } else {
                Message::Retry { vote, signature }
            };
            fx.push(Effect::Broadcast { bytes: msg.encode() });
            if retries == 0 && mine.nullified.is_none() {
                // We saw a valid proposal: give the notarization one more timeout before nullifying.
                fx.push(again);
                return;
            }
        }
        match mine.nullified {
            Some((claim, signature)) => {
                let vote = Vote { kind: VoteKind::Nullify, height: self.height, view, block: claim };
                fx.push(Effect::Broadcast { bytes: Message::Retry { vote, signature }.encode() });
            }
            None => self.nullify(now, view, fx),
        }
        if self.view == view && self.active {
            fx.push(again);
        }
    }

    pub(super) fn apply_certificate(
        &mut self,
        now: Time,
        cert: Certificate,
        from: Option<PublicKey>,
        fx: &mut Vec<Effect>,
    ) {
        let view = cert.vote.view;
        match cert.vote.kind {
            VoteKind::Finalize => self.finalize(now, cert, from, fx),
            VoteKind::Notarize => {
                if self.round.notarizations.contains_key(&view) {
                    return;
                }
                let block = cert.vote.block;
                self.round.notarizations.insert(view, cert);
                self.failed_views = 0;
                if view > self.view {
                    self.enter_view(now, view, fx);
                }
                if view == self.view && self.signer.mine(self.height, view).nullified.is_some() {
                    // We nullified this view, so we will never finalize it: waiting here helps nobody. The next
                    // leader re-proposes the block, which we can then notarize and finalize.
                    self.enter_view(now, view.saturating_add(1), fx);
                    return;
                }
                if view == self.view {
                    // Stay in the view until it is finalized or times out (see `on_timer`).
                    self.round.retries = 0;
                    fx.push(Effect::SetTimer {
                        id: VIEW_TIMER,
                        at: now.saturating_add(self.cfg.leader_timeout),
                    });
                }
                self.send_finalize(now, view, block, fx);
                self.try_propose(now, fx);
                self.try_notarize(now, fx);
            }
            VoteKind::Nullify => {
                self.note_nullification(&cert);
                if self.round.nullifications.contains_key(&view) {
                    // Its votes were counted: our fullest nullification may bind less now.
                    self.try_propose(now, fx);
                    self.try_notarize(now, fx);
                    return;
                }
                self.round.nullifications.insert(view, cert);
                self.note_fullest(view);
                if view >= self.view {
                    // Only a view whose leader we have heard from says the timeout may be too short; a leader
                    // never heard from is presumably down, and waiting longer for it helps nobody.
                    if self.leader_of(view).is_some_and(|l| l == self.me || self.heard.contains_key(&l)) {
                        self.failed_views = self.failed_views.saturating_add(1);
                    }
                    self.enter_view(now, view.saturating_add(1), fx);
                } else {
                    self.try_propose(now, fx);
                    self.try_notarize(now, fx);
                }
            }
            VoteKind::Propose | VoteKind::Prefer => {}
        }
    }
}
