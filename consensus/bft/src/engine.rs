//! The BFT state machine. See the crate docs for the protocol and its safety argument.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use cairn_consensus::{
    Certificate, DropCounters, Effect, Engine, Finalized, Input, MAX_MESSAGE_BYTES, SignatureVerifier,
    Status, Time, TimerId, Vote, VoteKind, WalRecord,
};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Signature, ValidatorSet};

use crate::leader::leader;
use crate::signer::Signer;
use crate::votes::VoteBook;
use crate::wire::Message;

/// The one timer: the current view's deadline.
const VIEW_TIMER: TimerId = TimerId(0);
/// Re-sends our latest vote of the view while it has not led to a certificate (lossy links).
const RETRY_TIMER: TimerId = TimerId(1);
/// Votes for views further ahead than this are dropped (bounds the vote book against spam).
pub const MAX_VIEW_AHEAD: u64 = 64;
/// Messages for the next two heights are buffered up to this many (a peer may finalize a little before us).
pub const MAX_FUTURE_MESSAGES: usize = 4096;
/// Finalization certificates kept to answer peers that are behind.
pub const KEPT_FINALIZATIONS: usize = 256;
/// Catch-up replies per peer per leader timeout (bounds what a spamming peer can make us send).
const REPLIES_PER_WINDOW: u32 = 16;

/// How a BFT engine is set up. Every validator of a chain uses the same `seed` and timeouts.
#[derive(Clone)]
pub struct Config {
    pub chain_id: ChainId,
    pub key: Keypair,
    /// Seed of the leader schedule (e.g. the genesis hash).
    pub seed: Hash,
    /// How long a view waits for a proposal before nullifying; a notarized view waits twice this for its
    /// finalization before moving on. Also the retry period for re-broadcasting our votes.
    pub leader_timeout: Time,
    pub verifier: Arc<dyn SignatureVerifier>,
}

/// How a vote reached us.
enum Via {
    Proposal(Vec<Certificate>),
    Vote,
    Retry,
}

#[derive(Clone, Debug)]
struct Proposal {
    block: Hash,
    justify: Option<u64>,
}

/// State of the height being decided; replaced wholesale when the height is finalized.
#[derive(Default)]
struct Round {
    book: Option<VoteBook>,
    proposals: BTreeMap<u64, Proposal>,
    notarizations: BTreeMap<u64, Certificate>,
    nullifications: BTreeMap<u64, Certificate>,
    verdicts: BTreeMap<Hash, bool>,
    verifying: BTreeSet<Hash>,
    building: Option<u64>,
    /// Timer expiries in the current view.
    retries: u32,
}

/// The Simplex-family engine. Deterministic: no clock, no randomness, no hash-map iteration.
pub struct BftEngine {
    cfg: Config,
    me: PublicKey,
    signer: Signer,
    sets: BTreeMap<Height, Arc<ValidatorSet>>,
    started: bool,
    active: bool,
    height: Height,
    parent: Hash,
    view: u64,
    round: Round,
    finals: BTreeMap<Height, Certificate>,
    future: Vec<(PublicKey, Bytes)>,
    replies: BTreeMap<PublicKey, (Time, u32)>,
    dropped: DropCounters,
}

impl BftEngine {
    pub fn new(cfg: Config) -> BftEngine {
        let me = cfg.key.public();
        let signer = Signer::new(cfg.chain_id.clone(), cfg.key.clone());
        BftEngine {
            cfg,
            me,
            signer,
            sets: BTreeMap::new(),
            started: false,
            active: false,
            height: Height(1),
            parent: Hash::ZERO,
            view: 0,
            round: Round::default(),
            finals: BTreeMap::new(),
            future: Vec::new(),
            replies: BTreeMap::new(),
            dropped: DropCounters::default(),
        }
    }

    fn set(&self) -> Option<&Arc<ValidatorSet>> {
        self.round.book.as_ref().map(VoteBook::validators)
    }

    fn my_index(&self) -> Option<u32> {
        self.set().and_then(|s| s.index_of(&self.me)).map(|i| i as u32)
    }

    fn leader_of(&self, view: u64) -> Option<PublicKey> {
        self.set().map(|s| leader(s, &self.cfg.seed, self.height, view))
    }

    fn start(&mut self, now: Time, last: (Height, Hash), wal: Vec<WalRecord>, fx: &mut Vec<Effect>) {
        self.started = true;
        self.height = last.0.next();
        self.parent = last.1;
        self.view = 0;
        self.round = Round::default();
        // Votes of every height above the last finalized one: the engine may have finalized (and voted
        // above) heights the driver had not executed yet when it crashed.
        self.signer.restore(wal, last.0);
        self.try_activate(now, fx);
    }

    fn try_activate(&mut self, now: Time, fx: &mut Vec<Effect>) {
        if !self.started || self.active {
            return;
        }
        let Some(set) = self.sets.get(&self.height).cloned() else { return };
        self.active = true;
        self.round.book = Some(VoteBook::new(set));
        // Resume where our own votes (restored from the WAL) say we were, and count them.
        self.view = self.signer.last_view(self.height).unwrap_or(0);
        if let Some(me) = self.my_index() {
            for (vote, sig) in self.signer.votes_at(self.height) {
                self.count(now, me, vote, sig, fx);
            }
        }
        if self.active && self.round.book.is_some() {
            let view = self.view;
            self.enter_view(now, view, fx);
            self.replay_future(now, fx);
        }
    }

    fn replay_future(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let buffered = std::mem::take(&mut self.future);
        for (from, bytes) in buffered {
            self.on_message(now, from, bytes, fx);
        }
    }

    fn enter_view(&mut self, now: Time, view: u64, fx: &mut Vec<Effect>) {
        self.view = view;
        self.round.retries = 0;
        fx.push(Effect::SetTimer { id: VIEW_TIMER, at: now.saturating_add(self.cfg.leader_timeout) });
        self.try_propose(now, fx);
        self.try_notarize(now, fx);
    }

    /// What a proposal in `view` must extend: the block notarized in the latest view `p < view` with every view
    /// in `(p, view)` nullified (`Some(Some(p))`), anything if all earlier views are nullified (`Some(None)`),
    /// or unknown yet (`None`).
    fn justification(&self, view: u64) -> Option<Option<u64>> {
        let mut p = view;
        while p > 0 {
            p -= 1;
            if self.round.notarizations.contains_key(&p) {
                return Some(Some(p));
            }
            if !self.round.nullifications.contains_key(&p) {
                return None;
            }
        }
        Some(None)
    }

    fn justified(&self, view: u64, proposal: &Proposal) -> bool {
        let start = match proposal.justify {
            Some(p) => {
                if p >= view || self.round.notarizations.get(&p).map(|c| c.vote.block) != Some(proposal.block)
                {
                    return false;
                }
                p + 1
            }
            None => 0,
        };
        (start..view).all(|v| self.round.nullifications.contains_key(&v))
    }

    /// The certificates that justify a proposal in `view` extending the notarization of `justify` (or nothing):
    /// that notarization and the nullifications of the views in between (the last `MAX_VIEW_AHEAD` of them), so a
    /// validator that missed one of them can still check the proposal.
    fn justification_certs(&self, view: u64, justify: Option<u64>) -> Vec<Certificate> {
        let start = justify.map_or(0, |p| p.saturating_add(1));
        let start = start.max(view.saturating_sub(MAX_VIEW_AHEAD));
        let mut certs: Vec<Certificate> =
            justify.and_then(|p| self.round.notarizations.get(&p).cloned()).into_iter().collect();
        certs.extend(self.round.nullifications.range(start..view).map(|(_, c)| c.clone()));
        certs
    }

    fn try_propose(&mut self, now: Time, fx: &mut Vec<Effect>) {
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
                let Some(block) = self.round.notarizations.get(&p).map(|c| c.vote.block) else { return };
                self.propose(now, block, Some(p), fx);
            }
            Some(None) => {
                self.round.building = Some(view);
                fx.push(Effect::BuildPayload { height: self.height, view, parent: self.parent });
            }
            None => {}
        }
    }

    fn propose(&mut self, now: Time, block: Hash, justify: Option<u64>, fx: &mut Vec<Effect>) {
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

    fn try_notarize(&mut self, now: Time, fx: &mut Vec<Effect>) {
        let view = self.view;
        let Some(me) = self.my_index() else { return };
        if self.signer.mine(self.height, view).notarized.is_some() {
            return;
        }
        let Some(proposal) = self.round.proposals.get(&view).cloned() else { return };
        if !self.justified(view, &proposal) {
            return;
        }
        // A re-proposed block was notarized before: more than f honest validators already checked its payload.
        if proposal.justify.is_none() {
            match self.round.verdicts.get(&proposal.block) {
                Some(true) => {}
                Some(false) => return,
                None => {
                    if self.round.verifying.insert(proposal.block) {
                        fx.push(Effect::VerifyPayload {
                            height: self.height,
                            parent: self.parent,
                            payload: proposal.block,
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

    fn send_finalize(&mut self, now: Time, view: u64, block: Hash, fx: &mut Vec<Effect>) {
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

    fn nullify(&mut self, now: Time, view: u64, fx: &mut Vec<Effect>) {
        let Some(me) = self.my_index() else { return };
        let mine = self.signer.mine(self.height, view);
        let vote = Vote { kind: VoteKind::Nullify, height: self.height, view, block: Hash::ZERO };
        let Some(signature) = self.signer.sign(vote, false, fx) else { return };
        fx.push(Effect::Broadcast { bytes: Message::Vote { vote, signature }.encode() });
        if mine.nullified.is_none() {
            self.count(now, me, vote, signature, fx);
        }
    }

    /// Counts a vote (signature already checked) and acts on the evidence or certificate it produces.
    fn count(&mut self, now: Time, index: u32, vote: Vote, signature: Signature, fx: &mut Vec<Effect>) {
        let Some(book) = self.round.book.as_mut() else { return };
        let added = book.add(index, vote, signature);
        if let Some(e) = added.evidence {
            fx.push(Effect::Evidence(e));
        }
        if let Some(cert) = added.certificate {
            self.apply_certificate(now, cert, None, fx);
        }
    }

    fn arm_retry(&self, now: Time, fx: &mut Vec<Effect>) {
        let at = now.saturating_add((self.cfg.leader_timeout / 2).max(1));
        fx.push(Effect::SetTimer { id: RETRY_TIMER, at });
    }

    /// Half a leader timeout after our last notarize/finalize vote without the certificate it should have led
    /// to: send it again as a `Retry`, so peers re-count it and answer with the certificate if they have it.
    fn on_retry(&mut self, now: Time, fx: &mut Vec<Effect>) {
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

    fn on_timer(&mut self, now: Time, fx: &mut Vec<Effect>) {
        if !self.active {
            return;
        }
        let view = self.view;
        let retries = self.round.retries;
        self.round.retries = retries.saturating_add(1);
        let mine = self.signer.mine(self.height, view);
        let again = Effect::SetTimer { id: VIEW_TIMER, at: now.saturating_add(self.cfg.leader_timeout) };
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
            Some(signature) => {
                let vote = Vote { kind: VoteKind::Nullify, height: self.height, view, block: Hash::ZERO };
                fx.push(Effect::Broadcast { bytes: Message::Retry { vote, signature }.encode() });
            }
            None => self.nullify(now, view, fx),
        }
        if self.view == view && self.active {
            fx.push(again);
        }
    }

    fn apply_certificate(
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
                if view > self.view {
                    self.enter_view(now, view, fx);
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
                if self.round.nullifications.contains_key(&view) {
                    return;
                }
                self.round.nullifications.insert(view, cert);
                if view >= self.view {
                    self.enter_view(now, view.saturating_add(1), fx);
                } else {
                    self.try_propose(now, fx);
                    self.try_notarize(now, fx);
                }
            }
            VoteKind::Propose | VoteKind::Prefer => {}
        }
    }

    fn finalize(&mut self, now: Time, cert: Certificate, from: Option<PublicKey>, fx: &mut Vec<Effect>) {
        if cert.vote.height != self.height {
            return;
        }
        let height = self.height;
        let block = cert.vote.block;
        fx.push(Effect::Finalized(Finalized {
            height,
            block,
            parent: self.parent,
            certificate: cert.clone(),
        }));
        self.finals.insert(height, cert);
        while self.finals.len() > KEPT_FINALIZATIONS {
            self.finals.pop_first();
        }
        self.parent = block;
        self.height = height.next();
        self.view = 0;
        self.round = Round::default();
        self.active = false;
        fx.push(Effect::CancelTimer { id: VIEW_TIMER });
        fx.push(Effect::CancelTimer { id: RETRY_TIMER });
        self.sets = self.sets.split_off(&height.next());
        self.signer.prune(height);
        if let Some(peer) = from {
            // We learned this from a peer, so we are probably behind: ask it for the next one right away.
            fx.push(Effect::Send { to: peer, bytes: Message::SyncRequest { height: self.height }.encode() });
        }
        self.try_activate(now, fx);
    }

    fn allow_reply(&mut self, now: Time, peer: PublicKey) -> bool {
        let window = self.cfg.leader_timeout.max(1);
        let entry = self.replies.entry(peer).or_insert((now, 0));
        if now >= entry.0.saturating_add(window) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= REPLIES_PER_WINDOW
    }

    fn reply(&mut self, now: Time, peer: PublicKey, cert: Certificate, fx: &mut Vec<Effect>) {
        if self.allow_reply(now, peer) {
            fx.push(Effect::Send { to: peer, bytes: Message::Certificate(cert).encode() });
        }
    }

    fn is_known(&self, key: &PublicKey) -> bool {
        self.sets.values().any(|s| s.contains(key)) || self.set().is_some_and(|s| s.contains(key))
    }

    fn on_message(&mut self, now: Time, from: PublicKey, bytes: Bytes, fx: &mut Vec<Effect>) {
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
    fn buffer(&mut self, from: PublicKey, bytes: Bytes, msg: &Message) {
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

    fn on_certificate(&mut self, now: Time, from: PublicKey, cert: Certificate, fx: &mut Vec<Effect>) {
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
        if cert.vote.view > self.view.saturating_add(MAX_VIEW_AHEAD) {
            self.dropped.far_future += 1;
            return;
        }
        let known = match cert.vote.kind {
            VoteKind::Notarize => self.round.notarizations.contains_key(&cert.vote.view),
            VoteKind::Nullify => self.round.nullifications.contains_key(&cert.vote.view),
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
        // The certificate's votes are votes too: counting them exposes a signer who told us something else.
        if let Some(book) = self.round.book.as_mut() {
            for (index, signature) in &cert.signers {
                if let Some(e) = book.add(*index, cert.vote, *signature).evidence {
                    fx.push(Effect::Evidence(e));
                }
            }
        }
        self.apply_certificate(now, cert, Some(from), fx);
    }

    fn on_vote(
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
            VoteKind::Nullify => proposal.is_none() && vote.block == Hash::ZERO,
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
            if justify.len() > MAX_VIEW_AHEAD as usize + 1 {
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
                    _ => self.round.nullifications.contains_key(&c.view),
                };
                if known {
                    continue;
                }
                if cert.verify_with(&set, &self.cfg.chain_id, self.cfg.verifier.as_ref()).is_err() {
                    self.dropped.invalid_proposal += 1;
                    return;
                }
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
        self.count(now, index as u32, vote, signature, fx);
        if vote.height != self.height {
            return;
        }
        if retry {
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

impl Engine for BftEngine {
    fn handle(&mut self, now: Time, input: Input, fx: &mut Vec<Effect>) {
        match input {
            Input::Start { last_finalized, wal } => self.start(now, last_finalized, wal, fx),
            Input::ValidatorSet { height, validators } => {
                if height >= self.height || !self.started {
                    self.sets.insert(height, validators);
                }
                self.try_activate(now, fx);
            }
            Input::Message { from, bytes } => {
                if self.started {
                    self.on_message(now, from, bytes, fx);
                }
            }
            Input::Timer(id) => {
                if id == VIEW_TIMER {
                    self.on_timer(now, fx);
                } else if id == RETRY_TIMER {
                    self.on_retry(now, fx);
                }
            }
            Input::PayloadBuilt { height, view, payload } => {
                if self.active
                    && height == self.height
                    && view == self.view
                    && self.round.building == Some(view)
                {
                    self.round.building = None;
                    self.propose(now, payload, None, fx);
                }
            }
            Input::PayloadVerdict { height, payload, valid } => {
                if self.active && height == self.height && self.round.verifying.remove(&payload) {
                    if !valid {
                        self.dropped.invalid_payload += 1;
                    }
                    self.round.verdicts.insert(payload, valid);
                    self.try_notarize(now, fx);
                }
            }
        }
    }

    fn public_key(&self) -> PublicKey {
        self.me
    }

    fn status(&self) -> Status {
        Status { height: self.height, view: self.view }
    }

    fn dropped(&self) -> DropCounters {
        self.dropped
    }
}
