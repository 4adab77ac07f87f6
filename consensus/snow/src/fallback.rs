//! The liveness fallback: a quorum epoch (single-height Simplex with locks) for a height that sampling could not
//! finalize in time, run by the height's committee (`committee.rs`: the whole set up to `committee_seats`
//! validators). Votes are the shared `Vote` kinds, sent to committee members only; tallies use
//! `cairn_bft::VoteBook` over the committee. Validators outside the committee *pull* the certificate.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;

use cairn_bft::{VoteBook, leader};
use cairn_consensus::EvidenceKind;
use cairn_consensus::{Certificate, Effect, Time, Vote, VoteKind};
use cairn_primitives::{Hash, Height, PublicKey, Signature};

use crate::committee::Committee;
use crate::engine::{SnowEngine, VIEW_TIMER, WalEntry, wal_record};
use crate::wire::{Header, Message};

/// Views of one height further ahead than this are dropped (bounds the vote book).
pub const MAX_VIEW_AHEAD: u64 = 64;
/// Committee members a stuck non-member asks for the certificate, per `view_timeout` until it has it: all of them
/// Byzantine has probability ≈ 0.2³ under 20 % Byzantine weight, and the next round asks others.
pub const PULL_FANOUT: usize = 3;
/// Non-members a committee member remembers to send the certificate to (≈ 3n / committee size ask each).
pub(crate) const MAX_PULLERS: usize = 4096;
/// Fallback certificates kept for late pullers (heights finalized by the fallback, newest).
pub(crate) const KEPT_CERTIFICATES: usize = 4;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mine {
    pub notarize: Option<(Hash, Signature)>,
    pub nullify: Option<Signature>,
    pub finalize: Option<(Hash, Signature)>,
}

/// Fallback state of the height being decided; replaced when the height is finalized.
#[derive(Debug)]
pub(crate) struct Fallback {
    pub height: Height,
    pub entered_at: Time,
    pub active: bool,
    /// Current view (0 = not entered; views start at 1).
    pub view: u64,
    /// Who runs this height's fallback (set with the height's validator set).
    pub committee: Option<Committee>,
    book: Option<VoteBook>,
    /// We are outside the committee and asking it for the certificate.
    pulling: bool,
    /// Non-members that asked us for this height's certificate.
    pub pullers: BTreeSet<PublicKey>,
    /// Validators seen voting in this height's fallback, and their weight (f + 1 of it pulls us in).
    joined: BTreeSet<u32>,
    joined_weight: u64,
    mine: BTreeMap<u64, Mine>,
    /// The highest-view notarization we saw: we notarize only its block unless shown a later one.
    lock: Option<Certificate>,
    proposals: BTreeMap<u64, (Header, Option<Certificate>)>,
    headers: BTreeMap<Hash, Header>,
    nullifications: BTreeMap<u64, Certificate>,
    /// A finalization whose block we have not verified yet.
    decided: Option<Certificate>,
    /// Views for which we already told a peer ahead of us where we are.
    asked: BTreeSet<u64>,
    /// Distinct voters seen per view ahead of ours and their weight: f + 1 of it in a view pulls us there.
    ahead: BTreeMap<u64, (BTreeSet<u32>, u64)>,
}

impl Fallback {
    pub fn new(height: Height) -> Fallback {
        Fallback {
            height,
            entered_at: 0,
            active: false,
            view: 0,
            committee: None,
            book: None,
            pulling: false,
            pullers: BTreeSet::new(),
            joined: BTreeSet::new(),
            joined_weight: 0,
            mine: BTreeMap::new(),
            lock: None,
            proposals: BTreeMap::new(),
            headers: BTreeMap::new(),
            nullifications: BTreeMap::new(),
            decided: None,
            asked: BTreeSet::new(),
            ahead: BTreeMap::new(),
        }
    }
}

impl Fallback {
    /// Our `Notarize` votes of this height, per view.
    pub fn notarized(&self) -> BTreeMap<u64, Hash> {
        self.mine.iter().filter_map(|(v, m)| m.notarize.map(|(b, _)| (*v, b))).collect()
    }
}

impl SnowEngine {
    /// Creates the vote book once the height's set is known and re-applies our own WAL records for the height.
    pub(crate) fn fb_restore(&mut self) {
        let height = self.fb.height;
        if self.fb.committee.is_none() {
            self.fb.committee = self.committee_of(height);
        }
        if self.fb.book.is_none()
            && let Some(c) = &self.fb.committee
        {
            self.fb.book = Some(VoteBook::new(c.set.clone()));
        }
        if self.fb.book.is_none() {
            return;
        }
        let me = self.fb_me();
        let entries: Vec<WalEntry> =
            self.restored.iter().filter(|(h, _)| *h == height).map(|(_, e)| e.clone()).collect();
        self.restored.retain(|(h, _)| *h > height);
        for entry in entries {
            match entry {
                WalEntry::Voted { vote, signature } => {
                    let mine = self.fb.mine.entry(vote.view).or_default();
                    match vote.kind {
                        VoteKind::Notarize => mine.notarize = Some((vote.block, signature)),
                        VoteKind::Nullify => mine.nullify = Some(signature),
                        VoteKind::Finalize => mine.finalize = Some((vote.block, signature)),
                        _ => {}
                    }
                    if let (Some(me), Some(book)) = (me, self.fb.book.as_mut()) {
                        book.add(me, vote, signature);
                    }
                }
                WalEntry::Locked(c) => {
                    if self.fb.lock.as_ref().is_none_or(|l| l.vote.view < c.vote.view) {
                        self.fb.lock = Some(c);
                    }
                }
            }
        }
    }

    /// Our seat in the current height's committee.
    pub(crate) fn fb_me(&self) -> Option<u32> {
        self.fb.committee.as_ref().and_then(|c| c.me)
    }

    /// The current height's committee set.
    fn fb_set(&self) -> Option<std::sync::Arc<cairn_primitives::ValidatorSet>> {
        self.fb.committee.as_ref().map(|c| c.set.clone())
    }

    /// Sends a fallback message to the committee: a broadcast when it is the whole set, else one send per member.
    fn fb_multicast(&self, bytes: bytes::Bytes, out: &mut Vec<Effect>) {
        let Some(c) = &self.fb.committee else { return };
        if c.whole {
            out.push(Effect::Broadcast { bytes });
            return;
        }
        for v in c.set.validators().iter().filter(|v| v.public_key != self.me) {
            out.push(Effect::Send { to: v.public_key, bytes: bytes.clone() });
        }
    }

    /// Enters the fallback for the current height (timer fired, or f + 1 weight of the committee already did). A
    /// node outside the committee starts asking it for the certificate instead.
    pub(crate) fn fb_activate(&mut self, now: Time, out: &mut Vec<Effect>) {
        if self.fb.active || self.fb.pulling || self.fb.book.is_none() {
            return;
        }
        if self.fb_me().is_none() {
            self.fb.pulling = true;
            self.fb_pull(now, out);
            return;
        }
        self.fb.active = true;
        self.fb_start_view(now, 1, out);
    }

    /// Asks `PULL_FANOUT` random committee members for this height's certificate; repeated every view timeout.
    fn fb_pull(&mut self, now: Time, out: &mut Vec<Effect>) {
        let Some(set) = self.fb_set() else { return };
        let members = set.validators();
        let wanted = PULL_FANOUT.min(members.len());
        let mut asked: Vec<usize> = Vec::with_capacity(wanted);
        let mut attempts = 0;
        while asked.len() < wanted && attempts < 16 * wanted {
            attempts += 1;
            let i = self.rng.gen_range(0..members.len());
            if !asked.contains(&i) && members[i].public_key != self.me {
                asked.push(i);
            }
        }
        let bytes = Message::FbPull { height: self.fb.height }.encode();
        for i in asked {
            out.push(Effect::Send { to: members[i].public_key, bytes: bytes.clone() });
        }
        self.stats.fallback_pulls += 1;
        out.push(Effect::SetTimer { id: VIEW_TIMER, at: now + self.cfg.params.view_timeout });
    }

    fn fb_start_view(&mut self, now: Time, view: u64, out: &mut Vec<Effect>) {
        if view <= self.fb.view {
            return;
        }
        self.fb.view = view;
        self.stats.fallback_views += 1;
        out.push(Effect::SetTimer { id: VIEW_TIMER, at: now + self.cfg.params.view_timeout });
        let height = self.fb.height;
        let Some(set) = self.fb_set() else { return };
        if leader(&set, &self.cfg.seed, height, view) == self.me
            && self.fb.mine.get(&view).is_none_or(|m| m.notarize.is_none() && m.nullify.is_none())
        {
            // Re-propose the locked block, else our sampling preference.
            let block = match &self.fb.lock {
                Some(l) => Some(l.vote.block),
                None => self.tree.preferred_path().first().copied(),
            };
            let header = block
                .and_then(|b| self.tree.header(&b).copied().or_else(|| self.fb.headers.get(&b).copied()));
            if let Some(header) = header {
                let vote = Vote { kind: VoteKind::Notarize, height, view, block: header.block };
                let Some(signature) = self.fb_sign(vote, out) else { return };
                let lock = self.fb.lock.clone();
                self.fb_multicast(
                    Message::FbPropose { view, header, signature, lock: lock.clone() }.encode(),
                    out,
                );
                self.fb.proposals.insert(view, (header, lock));
                self.fb_count_own(now, vote, signature, out);
            }
        }
        self.fb_consider(now, out);
    }

    /// Signs a fallback vote: WAL first, then the broadcast; remembers it so it is never signed differently.
    /// `None` if the signer refused (we then stay silent in this view, which is always safe).
    fn fb_sign(&mut self, vote: Vote, out: &mut Vec<Effect>) -> Option<Signature> {
        let signature = self.cfg.signer.sign_vote(&self.cfg.chain_id, &vote).ok()?;
        out.push(Effect::Persist(wal_record(vote.height, &WalEntry::Voted { vote, signature })));
        let mine = self.fb.mine.entry(vote.view).or_default();
        match vote.kind {
            VoteKind::Notarize => mine.notarize = Some((vote.block, signature)),
            VoteKind::Nullify => mine.nullify = Some(signature),
            _ => mine.finalize = Some((vote.block, signature)),
        }
        Some(signature)
    }

    fn fb_count_own(&mut self, now: Time, vote: Vote, signature: Signature, out: &mut Vec<Effect>) {
        if let Some(me) = self.fb_me() {
            self.fb_count(now, me, vote, signature, out);
        }
    }

    fn fb_vote(&mut self, now: Time, vote: Vote, out: &mut Vec<Effect>) {
        let Some(signature) = self.fb_sign(vote, out) else { return };
        self.fb_multicast(Message::FbVote { vote, signature }.encode(), out);
        self.fb_count_own(now, vote, signature, out);
    }

    /// Notarizes the current view's proposal if the rules allow it.
    fn fb_consider(&mut self, now: Time, out: &mut Vec<Effect>) {
        let view = self.fb.view;
        if !self.fb.active
            || self.fb.mine.get(&view).is_some_and(|m| m.notarize.is_some() || m.nullify.is_some())
        {
            return;
        }
        let Some((header, justify)) = self.fb.proposals.get(&view).cloned() else { return };
        let root = self.tree.root();
        if header.parent != root.1 || !self.tree.contains(&header.block) {
            return;
        }
        // Lock rule: only the locked block, unless the proposal shows a later notarization of its own block.
        if let Some(lock) = &self.fb.lock
            && lock.vote.block != header.block
            && justify.as_ref().is_none_or(|j| j.vote.view <= lock.vote.view)
        {
            return;
        }
        // Sampling rule: follow the leader to another block only while our own preference is contested (its last
        // poll gave it fewer than α_p votes). A block some honest node finalized by sampling is preferred, and
        // polled at ≥ α_p, by nearly every honest node, so a quorum can almost never be gathered against it.
        if let Some(inst) = self.tree.instance(&root.1)
            && inst.preference != header.block
            && inst.last_votes >= self.scaled(self.fb.height).alpha_p
            && justify.is_none()
        {
            return;
        }
        let vote = Vote { kind: VoteKind::Notarize, height: self.fb.height, view, block: header.block };
        self.fb_vote(now, vote, out);
    }

    /// A block was added to the tree: a waiting proposal or finalization may now go ahead.
    pub(crate) fn fb_on_block(&mut self, now: Time, out: &mut Vec<Effect>) {
        if let Some(c) = self.fb.decided.clone()
            && self.tree.contains(&c.vote.block)
        {
            self.fb_finalize(now, c, out);
            return;
        }
        self.fb_consider(now, out);
    }

    fn fb_count(&mut self, now: Time, index: u32, vote: Vote, signature: Signature, out: &mut Vec<Effect>) {
        let Some(book) = self.fb.book.as_mut() else { return };
        let power = book.validators().validators().get(index as usize).map_or(0, |v| v.power);
        let set = book.validators().clone();
        let added = book.add(index, vote, signature);
        if self.fb.joined.insert(index) {
            self.fb.joined_weight += power;
        }
        let join = !self.fb.active && set.exceeds_faulty(self.fb.joined_weight);
        // Views are skipped, never needed in order: safety rests on locks, not on having seen every view. A view
        // with f + 1 weight of voters has an honest voter in it, so we follow.
        let mut jump = None;
        if vote.view > self.fb.view {
            let (voters, weight) = self.fb.ahead.entry(vote.view).or_default();
            if voters.insert(index) {
                *weight += power;
            }
            if set.exceeds_faulty(*weight) {
                jump = Some(vote.view);
            }
        }
        // Only double votes are misbehaviour here. The BFT engine also proves Nullify(v) + Finalize(v), but in this
        // fallback a node that already finalized a height by sampling signs Finalize for that block in a straggler's
        // view (help), whatever it signed there before; that pair is allowed by this protocol.
        if let Some(e) = added.evidence.filter(|e| e.kind() == Some(EvidenceKind::Equivocation)) {
            out.push(Effect::Evidence(e));
        }
        if let Some(c) = added.certificate {
            self.fb_on_certificate(now, c, None, out);
        }
        if join {
            self.fb_activate(now, out);
        }
        if let Some(view) = jump
            && self.fb.active
        {
            self.fb.ahead.retain(|v, _| *v > view);
            self.fb_start_view(now, view, out);
        }
    }

    /// A `Finalize` certificate of the current height that is already checked (e.g. assembled from attestations).
    pub(crate) fn fb_on_finalize_certificate(&mut self, now: Time, c: Certificate, out: &mut Vec<Effect>) {
        if c.vote.kind == VoteKind::Finalize && c.vote.height == self.fb.height {
            self.fb_on_certificate(now, c, None, out);
        }
    }

    fn fb_on_certificate(
        &mut self,
        now: Time,
        c: Certificate,
        header: Option<Header>,
        out: &mut Vec<Effect>,
    ) {
        if let Some(h) = header {
            self.fb.headers.insert(h.block, h);
        }
        let view = c.vote.view;
        match c.vote.kind {
            VoteKind::Notarize => {
                // Every vote is broadcast, so every node assembles this certificate itself: it is not re-broadcast
                // (that would be n² certificates of ~2n/3 signatures each); it travels in re-proposals.
                if self.fb.lock.as_ref().is_none_or(|l| l.vote.view < view) {
                    out.push(Effect::Persist(wal_record(c.vote.height, &WalEntry::Locked(c.clone()))));
                    self.fb.lock = Some(c.clone());
                }
                let mine = self.fb.mine.get(&view).copied().unwrap_or_default();
                if self.fb.active && view == self.fb.view && mine.nullify.is_none() && mine.finalize.is_none()
                {
                    let vote = Vote { kind: VoteKind::Finalize, ..c.vote };
                    self.fb_vote(now, vote, out);
                }
            }
            VoteKind::Nullify => {
                self.fb.nullifications.insert(view, c);
                if self.fb.active && view >= self.fb.view {
                    self.fb_start_view(now, view + 1, out);
                }
            }
            VoteKind::Finalize => {
                if self.tree.contains(&c.vote.block) {
                    self.fb_finalize(now, c, out);
                } else {
                    self.fb.decided = Some(c);
                }
            }
            _ => {}
        }
    }

    fn fb_finalize(&mut self, now: Time, c: Certificate, out: &mut Vec<Effect>) {
        // Not broadcast either: members assemble it from the votes, stragglers get `Finalize` votes on demand, and
        // non-members that asked for it get it here (later askers from `fallback_certs`).
        let Some(header) = self.tree.accept(&c.vote.block) else { return };
        if !self.fb.pullers.is_empty() {
            let bytes = Message::FbCert { header: Some(header), certificate: c.clone() }.encode();
            for to in std::mem::take(&mut self.fb.pullers) {
                out.push(Effect::Send { to, bytes: bytes.clone() });
            }
        }
        // Only members are asked for it later; a non-member keeping it would cost n copies of a ~20 KB certificate.
        if self.fb_me().is_some() {
            self.fallback_certs.insert(header.height, (header, c.clone()));
            while self.fallback_certs.len() > KEPT_CERTIFICATES {
                self.fallback_certs.pop_first();
            }
        }
        self.finalized(now, vec![header], Some(c), out);
    }

    /// The current view's timer fired: nullify it (or, if already done, repeat our votes for lossy links).
    pub(crate) fn fb_on_view_timer(&mut self, now: Time, out: &mut Vec<Effect>) {
        if self.fb.pulling {
            self.fb_pull(now, out);
        }
        if !self.fb.active {
            return;
        }
        let view = self.fb.view;
        let height = self.fb.height;
        let mine = self.fb.mine.get(&view).copied().unwrap_or_default();
        match mine.nullify {
            None => self.fb_vote(now, Vote { kind: VoteKind::Nullify, height, view, block: Hash::ZERO }, out),
            Some(signature) => {
                let vote = Vote { kind: VoteKind::Nullify, height, view, block: Hash::ZERO };
                self.fb_multicast(Message::FbVote { vote, signature }.encode(), out);
            }
        }
        out.push(Effect::SetTimer { id: VIEW_TIMER, at: now + self.cfg.params.view_timeout });
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fb_on_propose(
        &mut self,
        now: Time,
        from: &PublicKey,
        view: u64,
        header: Header,
        signature: Signature,
        lock: Option<Certificate>,
        out: &mut Vec<Effect>,
    ) {
        let height = self.fb.height;
        if header.height != height || view == 0 || view > self.fb.view + MAX_VIEW_AHEAD {
            self.dropped.stale += 1;
            return;
        }
        let Some(set) = self.fb_set() else { return };
        if leader(&set, &self.cfg.seed, height, view) != *from {
            self.dropped.invalid_proposal += 1;
            return;
        }
        let vote = Vote { kind: VoteKind::Notarize, height, view, block: header.block };
        if !self.verify(&vote, from, &signature) {
            self.dropped.bad_signature += 1;
            return;
        }
        if let Some(j) = &lock {
            let ok = j.vote.kind == VoteKind::Notarize
                && j.vote.height == height
                && j.vote.block == header.block
                && j.vote.view < view
                && j.verify_with(&set, &self.cfg.chain_id, self.cfg.verifier.as_ref()).is_ok();
            if !ok {
                self.dropped.invalid_proposal += 1;
                return;
            }
        }
        self.fb.proposals.entry(view).or_insert((header, lock));
        self.fb.headers.insert(header.block, header);
        self.name(header.block);
        self.on_header(now, from, header, out);
        if let Some(index) = set.index_of(from) {
            self.fb_count(now, index as u32, vote, signature, out);
        }
        self.fb_consider(now, out);
    }

    pub(crate) fn fb_on_vote(
        &mut self,
        now: Time,
        from: &PublicKey,
        vote: Vote,
        signature: Signature,
        out: &mut Vec<Effect>,
    ) {
        let height = self.fb.height;
        if vote.kind == VoteKind::Finalize && vote.view == crate::attest::ATTEST_VIEW {
            self.att_on_vote(now, from, vote, signature, out);
            return;
        }
        if vote.height < height {
            self.dropped.stale += 1;
            self.fb_help_straggler(from, vote);
            return;
        }
        if vote.height > height || vote.view == 0 || vote.view > self.fb.view + MAX_VIEW_AHEAD {
            self.dropped.far_future += 1;
            return;
        }
        if !matches!(vote.kind, VoteKind::Notarize | VoteKind::Nullify | VoteKind::Finalize) {
            self.dropped.malformed += 1;
            return;
        }
        // Only committee members vote: anyone else's vote is refused, whatever its signature.
        let Some(index) = self.fb.committee.as_ref().and_then(|c| c.index_of(from)) else {
            self.dropped.unknown_sender += 1;
            return;
        };
        if !self.verify(&vote, from, &signature) {
            self.dropped.bad_signature += 1;
            return;
        }
        // Help a peer behind us; tell a peer ahead of us where we are (once per view), so it can help us.
        if self.fb.active && vote.view < self.fb.view {
            if let Some(c) = self.fb.nullifications.get(&vote.view) {
                out.push(Effect::Send {
                    to: *from,
                    bytes: Message::FbCert { header: None, certificate: c.clone() }.encode(),
                });
            }
        } else if self.fb.active && vote.view > self.fb.view && self.fb.asked.insert(self.fb.view) {
            let view = self.fb.view;
            if let Some(signature) = self.fb.mine.get(&view).and_then(|m| m.nullify) {
                let mine = Vote { kind: VoteKind::Nullify, height, view, block: Hash::ZERO };
                out.push(Effect::Send {
                    to: *from,
                    bytes: Message::FbVote { vote: mine, signature }.encode(),
                });
            }
        }
        self.fb_count(now, index, vote, signature, out);
    }

    pub(crate) fn fb_on_cert_message(
        &mut self,
        now: Time,
        from: &PublicKey,
        header: Option<Header>,
        c: Certificate,
        out: &mut Vec<Effect>,
    ) {
        if c.vote.height != self.fb.height
            || header.is_some_and(|h| h.block != c.vote.block || h.height != c.vote.height)
        {
            self.dropped.stale += 1;
            return;
        }
        let needs_header = matches!(c.vote.kind, VoteKind::Notarize | VoteKind::Finalize);
        if !matches!(c.vote.kind, VoteKind::Notarize | VoteKind::Finalize | VoteKind::Nullify)
            || needs_header != header.is_some()
        {
            self.dropped.malformed += 1;
            return;
        }
        let known = match c.vote.kind {
            VoteKind::Notarize => self.fb.lock.as_ref().is_some_and(|l| l.vote.view >= c.vote.view),
            VoteKind::Nullify => self.fb.nullifications.contains_key(&c.vote.view),
            _ => false,
        };
        if known {
            self.dropped.stale += 1;
            return;
        }
        // Signers are committee positions, and the quorum is > 2/3 of the committee's seats.
        let Some(set) = self.fb_set() else { return };
        if c.verify_with(&set, &self.cfg.chain_id, self.cfg.verifier.as_ref()).is_err() {
            self.dropped.bad_signature += 1;
            return;
        }
        if let Some(h) = header {
            self.name(h.block);
            self.on_header(now, from, h, out);
        }
        self.fb_on_certificate(now, c, header, out);
    }
}
