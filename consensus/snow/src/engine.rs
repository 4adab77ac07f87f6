//! The engine: wiring of the block tree, the polls and the messages. Proposals, headers and catch-up live in
//! `blocks.rs`, the fallback in `fallback.rs`, `attest.rs` and `help.rs`, as more methods of the same struct.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_consensus::{
    Certificate, DropCounters, Effect, Engine, Finalized, Input, SignatureVerifier, Signer, Status, Time,
    TimerId, Vote, VoteKind, WalRecord,
};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Signature};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Error;
use crate::attest::Attestations;
use crate::fallback::Fallback;
use crate::help::Help;
use crate::params::{Params, Scaled};
use crate::poll::Poll;
use crate::sampler::SamplerCache;
use crate::sets::HeightSet;
use crate::tree::{MAX_AHEAD, Tree};
use crate::wire::{Header, MAX_HEADERS, Message};

pub(crate) const PROPOSE_TIMER: TimerId = TimerId(0);
pub(crate) const FALLBACK_TIMER: TimerId = TimerId(1);
pub(crate) const VIEW_TIMER: TimerId = TimerId(2);
/// Poll timers are `POLL_TIMER_BASE + poll id`.
const POLL_TIMER_BASE: u64 = 1 << 32;
/// Ranked proposers per height, one window each; after them, any validator may propose, each at its own
/// jittered time. 8 ranks were too few at 10,000 nodes under `balance`: when all 8 were still stuck at the previous
/// height, every validator without a block proposed at once (≈ 52 in one second) and the child lists overflowed.
pub const PROPOSER_RANKS: usize = 32;
/// Headers waiting for the application's verdict, and fetches outstanding (bounds against spam).
pub(crate) const MAX_PENDING: usize = 64;
/// Fallback messages for the next height kept until we get there (a peer may finalize a little before us).
pub const MAX_FUTURE_MESSAGES: usize = 4096;
/// A fetch for the same block is not repeated sooner than this.
pub(crate) const FETCH_RETRY: Time = 500;
/// A poll run of this many β without one success marks the height stuck: each such run halves the polls in flight
/// (down to one), so nodes stuck at a height do not keep flooding the network with queries.
const STUCK_RUNS_OF_BETA: u64 = 8;

/// How a snow engine is set up. Every validator of a chain uses the same `seed` and `params`.
#[derive(Clone)]
pub struct Config {
    pub chain_id: ChainId,
    /// Signs our proposals, attestations and fallback votes: see `cairn_consensus::Signer`.
    pub signer: Arc<dyn Signer>,
    /// The chain's shared seed (proposer schedule, fallback leaders); also seeds this node's sampling RNG.
    pub seed: Hash,
    pub params: Params,
    pub verifier: Arc<dyn SignatureVerifier>,
    /// Shared prefix sums of validator sets (one per process is enough).
    pub samplers: Arc<SamplerCache>,
}

/// What the engine writes to its WAL: every fallback vote it signs (before sending it) and every lock.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WalEntry {
    Voted { vote: Vote, signature: Signature },
    Locked(Certificate),
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub polls: u64,
    pub successful_polls: u64,
    pub finalized_by_sampling: u64,
    pub finalized_by_fallback: u64,
    pub fallback_views: u64,
    /// Rounds of certificate requests sent to the committee (by a node outside it).
    pub fallback_pulls: u64,
}

/// The Snowman-family engine. Deterministic: its only randomness is a ChaCha RNG seeded from the chain seed and
/// its own key; no clock, no hash-map iteration.
pub struct SnowEngine {
    pub(crate) cfg: Config,
    pub(crate) me: PublicKey,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) sets: BTreeMap<Height, HeightSet>,
    /// The set of the height being decided, copied out of `sets` (refreshed whenever either changes): nearly
    /// every message asks for it, and reading it here spares a walk into the map's own allocation.
    current: Option<(Height, HeightSet)>,
    pub(crate) started: bool,
    pub(crate) tree: Tree,
    polls: VecDeque<Poll>,
    next_poll: u32,
    pub(crate) pending: BTreeMap<Hash, Header>,
    pub(crate) fetching: BTreeMap<Hash, Time>,
    /// Blocks peers named that we lack (answers, polled blocks, fallback proposals and certificates): these may
    /// replace a child of a full child list (`Tree::add_named`). At most `MAX_PENDING`, cleared every height.
    pub(crate) named: BTreeSet<Hash>,
    /// Polls applied since the last successful one at this height (the back-off of `top_up`).
    pub(crate) failed_polls: u64,
    pub(crate) building: Option<Height>,
    /// First proposal signature seen per (height, proposer): a second, different one is evidence.
    pub(crate) proposals_seen: BTreeMap<(Height, u32), (Hash, Signature)>,
    pub(crate) fb: Fallback,
    pub(crate) stats: Stats,
    pub(crate) dropped: DropCounters,
    /// Fallback votes and locks read from the WAL at start, re-applied when their height is current.
    pub(crate) restored: Vec<(Height, WalEntry)>,
    /// Our latest fallback finalizations (at most `KEPT_CERTIFICATES`), for non-members that ask late.
    pub(crate) fallback_certs: BTreeMap<Height, (Header, Certificate)>,
    /// Votes for stragglers in the fallback of heights we finalized (`help.rs`).
    pub(crate) help: Help,
    /// Fallback messages for the next height, replayed when we reach it.
    pub(crate) future: Vec<(PublicKey, Message)>,
    /// Attestations gathered into certificates for heights finalized by sampling (`attest.rs`).
    pub(crate) attest: Attestations,
    sample_buf: Vec<u32>,
}

impl SnowEngine {
    pub fn new(cfg: Config) -> Result<SnowEngine, Error> {
        cfg.params.validate()?;
        let me = cfg.signer.public_key();
        let seed = Hash::digest_parts(&[b"cairn/snow/rng", &cfg.seed.0, &me.0]);
        Ok(SnowEngine {
            rng: ChaCha8Rng::from_seed(seed.0),
            me,
            sets: BTreeMap::new(),
            current: None,
            started: false,
            tree: Tree::new((Height(0), Hash::ZERO)),
            polls: VecDeque::new(),
            next_poll: 0,
            pending: BTreeMap::new(),
            fetching: BTreeMap::new(),
            named: BTreeSet::new(),
            failed_polls: 0,
            building: None,
            proposals_seen: BTreeMap::new(),
            fb: Fallback::new(Height(1)),
            stats: Stats::default(),
            dropped: DropCounters::default(),
            restored: Vec::new(),
            fallback_certs: BTreeMap::new(),
            help: Help::default(),
            future: Vec::new(),
            attest: Attestations::default(),
            sample_buf: Vec::new(),
            cfg,
        })
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The height being decided.
    pub fn height(&self) -> Height {
        self.tree.root().0.next()
    }

    /// The validator set of `height`: the one given for it, else the latest given below it.
    pub(crate) fn set(&self, height: Height) -> Option<&HeightSet> {
        match &self.current {
            Some((h, s)) if *h == height => Some(s),
            _ => self.sets.range(..=height).next_back().map(|(_, s)| s),
        }
    }

    /// Recomputes `current` after `sets` or the height changed.
    fn refresh_current(&mut self) {
        let height = self.height();
        self.current = self.sets.range(..=height).next_back().map(|(_, s)| (height, s.clone()));
    }

    pub(crate) fn my_index(&self, height: Height) -> Option<u32> {
        self.set(height).and_then(|s| s.me)
    }

    pub(crate) fn scaled(&self, height: Height) -> Scaled {
        self.set(height).map_or_else(|| self.cfg.params.scaled(0), |s| s.scaled)
    }

    pub(crate) fn verify(&self, vote: &Vote, signer: &PublicKey, signature: &Signature) -> bool {
        vote.verify(&self.cfg.chain_id, signer, signature, self.cfg.verifier.as_ref())
    }

    /// A new height starts: schedule our proposal slot and the fallback deadline.
    fn enter_height(&mut self, now: Time, out: &mut Vec<Effect>) {
        self.refresh_current();
        let height = self.height();
        self.building = None;
        self.fb = Fallback::new(height);
        self.fb.entered_at = now;
        self.proposals_seen.retain(|(h, _), _| *h >= height);
        self.fetching.clear();
        self.named.clear();
        self.failed_polls = 0;
        self.pending.retain(|_, h| h.height >= height);
        if let Some(delay) = self.propose_delay(height) {
            out.push(Effect::SetTimer { id: PROPOSE_TIMER, at: now + delay });
        }
        out.push(Effect::SetTimer { id: FALLBACK_TIMER, at: now + self.cfg.params.fallback_timeout });
        out.push(Effect::CancelTimer { id: VIEW_TIMER });
        self.fb_restore();
    }

    fn start(&mut self, now: Time, last: (Height, Hash), wal: Vec<WalRecord>, out: &mut Vec<Effect>) {
        self.started = true;
        self.tree = Tree::new(last);
        self.polls.clear();
        let mut restored = Vec::new();
        for record in &wal {
            match WalEntry::try_from_slice(&record.bytes) {
                Ok(entry) if record.height > last.0 => restored.push((record.height, entry)),
                Ok(_) => {}
                Err(_) => self.dropped.malformed += 1,
            }
        }
        self.restored = restored;
        self.enter_height(now, out);
    }

    /// Announces blocks the tree finalized, then moves to the next height.
    pub(crate) fn finalized(
        &mut self,
        now: Time,
        headers: Vec<Header>,
        fallback: Option<Certificate>,
        out: &mut Vec<Effect>,
    ) {
        if headers.is_empty() {
            return;
        }
        // Askers of a height we finalized by sampling are not dropped: they get a certificate of attestations.
        let left = self.fb.height;
        let askers =
            if fallback.is_none() { std::mem::take(&mut self.fb.pullers) } else { Default::default() };
        let notarized = self.fb.notarized();
        self.help_keep(left, notarized);
        for header in headers {
            let certificate = match &fallback {
                Some(c) if c.vote.block == header.block => {
                    self.stats.finalized_by_fallback += 1;
                    c.clone()
                }
                _ => {
                    self.stats.finalized_by_sampling += 1;
                    self.attestation(&header)
                }
            };
            out.push(Effect::Finalized(Finalized {
                height: header.height,
                block: header.block,
                parent: header.parent,
                certificate,
            }));
        }
        self.enter_height(now, out);
        if !askers.is_empty() {
            self.att_start(now, left, askers, out);
        }
        self.top_up(now, out);
        let height = self.height();
        for (from, message) in std::mem::take(&mut self.future) {
            if fb_height(&message) == Some(height) {
                self.dispatch(now, from, message, out);
            }
        }
    }

    /// The certificate of a block finalized by sampling: this node's own signed `Prefer` vote for it. Sampling
    /// leaves no quorum proof; a light client collects these attestations from > 2/3 of the weight (see README).
    fn attestation(&self, header: &Header) -> Certificate {
        let vote = Vote { kind: VoteKind::Prefer, height: header.height, view: 0, block: header.block };
        let signers = match self.my_index(header.height) {
            Some(i) => match self.cfg.signer.sign_vote(&self.cfg.chain_id, &vote) {
                Ok(signature) => vec![(i, signature)],
                Err(_) => Vec::new(),
            },
            None => Vec::new(),
        };
        Certificate::new(vote, signers)
    }

    /// Polls to keep in flight: `concurrent`, halved for every `STUCK_RUNS_OF_BETA` × β polls in a row without a
    /// success at this height (at least one).
    fn in_flight(&self) -> usize {
        let run = STUCK_RUNS_OF_BETA * u64::from(self.cfg.params.beta);
        let halvings = (self.failed_polls / run).min(31) as u32;
        (self.cfg.params.concurrent >> halvings).max(1) as usize
    }

    /// Keeps `in_flight()` polls in flight while anything is processing.
    pub(crate) fn top_up(&mut self, now: Time, out: &mut Vec<Effect>) {
        while self.polls.len() < self.in_flight() && self.tree.is_processing() {
            let (height, block) = self.tree.tip();
            let Some(HeightSet { set, sampler, me, scaled }) = self.set(height).cloned() else { return };
            let exclude = me.map(|i| i as usize);
            self.sample_buf.clear();
            sampler.sample(&mut self.rng, scaled.k as usize, exclude, &mut self.sample_buf);
            if self.sample_buf.is_empty() {
                // We are the only validator: our own preference decides.
                let done = self.tree.record_poll(&[(block, 1)], Scaled { k: 1, alpha_p: 1, alpha_c: 1 }, 1);
                self.finalized(now, done, None, out);
                return;
            }
            self.next_poll = self.next_poll.wrapping_add(1);
            let id = self.next_poll;
            let query = Message::Query { poll: id, height, block }.encode();
            for i in &self.sample_buf {
                if let Some(v) = set.validators().get(*i as usize) {
                    out.push(Effect::Send { to: v.public_key, bytes: query.clone() });
                }
            }
            self.polls.push_back(Poll::new(id, height, block, &self.sample_buf));
            self.stats.polls += 1;
            out.push(Effect::SetTimer {
                id: TimerId(POLL_TIMER_BASE + u64::from(id)),
                at: now + self.cfg.params.poll_timeout,
            });
        }
    }

    /// Applies finished polls in issue order.
    fn apply_polls(&mut self, now: Time, out: &mut Vec<Effect>) {
        while self.polls.front().is_some_and(|p| p.done) {
            let Some(poll) = self.polls.pop_front() else { break };
            out.push(Effect::CancelTimer { id: TimerId(POLL_TIMER_BASE + u64::from(poll.id)) });
            let scaled = self.scaled(poll.height);
            if poll.support >= scaled.alpha_c {
                self.stats.successful_polls += 1;
                self.failed_polls = 0;
            } else {
                self.failed_polls += 1;
            }
            let done = self.tree.record_poll(&poll.votes(), scaled, self.cfg.params.beta);
            self.finalized(now, done, None, out);
        }
        self.top_up(now, out);
    }

    /// An answer. `sender` is `from`'s index in the current height's set, already looked up by `on_message`
    /// (reused when the poll's height has that same set: one key lookup per answer instead of two).
    fn on_chit(
        &mut self,
        now: Time,
        from: &PublicKey,
        sender: Option<u32>,
        poll: u32,
        block: Hash,
        out: &mut Vec<Effect>,
    ) {
        let Some(pos) = self.polls.iter().position(|p| p.id == poll) else {
            self.dropped.stale += 1;
            return;
        };
        let height = self.polls[pos].height;
        let same_set = match (self.set(height), self.set(self.height())) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.sampler, &b.sampler),
            _ => false,
        };
        let index = if same_set { sender } else { self.set(height).and_then(|s| s.index_of(from)) };
        let Some(index) = index else {
            self.dropped.unknown_sender += 1;
            return;
        };
        let supports = self.tree.supports(&block, &self.polls[pos].block);
        let alpha_c = self.scaled(height).alpha_c;
        let p = &mut self.polls[pos];
        if p.done || !p.answer(index, block, supports) {
            self.dropped.stale += 1;
            return;
        }
        if p.finished(alpha_c) {
            p.done = true;
            self.apply_polls(now, out);
        }
        if block != Hash::ZERO && !self.tree.contains(&block) && self.tree.finalized_at(height) != Some(block)
        {
            self.name(block);
            self.fetch(now, from, block, out);
        }
    }

    fn on_query(
        &mut self,
        now: Time,
        from: &PublicKey,
        poll: u32,
        height: Height,
        block: Hash,
        out: &mut Vec<Effect>,
    ) {
        let answer = self.tree.answer(height);
        out.push(Effect::Send { to: *from, bytes: Message::Chit { poll, block: answer }.encode() });
        if height > self.tree.root().0
            && height.0 <= self.tree.root().0.0 + MAX_AHEAD
            && !self.tree.contains(&block)
            && !self.pending.contains_key(&block)
        {
            self.name(block);
            self.fetch(now, from, block, out);
        }
    }

    fn on_message(&mut self, now: Time, from: PublicKey, bytes: &[u8], out: &mut Vec<Effect>) {
        let message = match Message::decode(bytes) {
            Ok(m) => m,
            Err(Error::Oversized { .. }) => {
                self.dropped.oversized += 1;
                return;
            }
            Err(_) => {
                self.dropped.malformed += 1;
                return;
            }
        };
        let height = self.height();
        // Anyone may ask (full nodes and validators that left follow the chain by polling); everything else must
        // come from a validator of the current or next height.
        let question = matches!(message, Message::Query { .. } | Message::Fetch { .. });
        let sender = if question { None } else { self.set(height).and_then(|s| s.index_of(&from)) };
        if !question
            && sender.is_none()
            && self.set(height.next()).is_none_or(|s| s.index_of(&from).is_none())
        {
            self.dropped.unknown_sender += 1;
            return;
        }
        if let Message::Chit { poll, block } = message {
            self.on_chit(now, &from, sender, poll, block, out);
            return;
        }
        if let Some(h) = fb_height(&message)
            && h > height
        {
            if h == height.next() && self.future.len() < MAX_FUTURE_MESSAGES {
                self.future.push((from, message));
            } else {
                self.dropped.far_future += 1;
            }
            return;
        }
        self.dispatch(now, from, message, out);
    }

    fn dispatch(&mut self, now: Time, from: PublicKey, message: Message, out: &mut Vec<Effect>) {
        match message {
            Message::Propose(header) => {
                self.on_header(now, &from, header, out);
            }
            Message::Query { poll, height, block } => self.on_query(now, &from, poll, height, block, out),
            Message::Chit { poll, block } => {
                let sender = self.set(self.height()).and_then(|s| s.index_of(&from));
                self.on_chit(now, &from, sender, poll, block, out)
            }
            Message::Fetch { from: start, block } => {
                let headers = self.tree.ancestry(start, &block, MAX_HEADERS);
                if !headers.is_empty() {
                    out.push(Effect::Send { to: from, bytes: Message::Headers(headers).encode() });
                }
            }
            Message::Headers(headers) => {
                // The ancestry of a named block is named too: its lowest header is the one that needs a slot.
                if headers.last().is_some_and(|h| self.named.contains(&h.block)) {
                    for h in &headers {
                        self.name(h.block);
                    }
                }
                for h in headers {
                    if !self.on_header(now, &from, h, out) {
                        break;
                    }
                }
            }
            Message::FbPropose { view, header, signature, lock } => {
                self.fb_on_propose(now, &from, view, header, signature, lock, out)
            }
            Message::FbVote { vote, signature } => {
                self.fb_on_vote(now, &from, vote, signature, out);
                for (to, m) in std::mem::take(&mut self.help.pending) {
                    out.push(Effect::Send { to, bytes: m.encode() });
                }
            }
            Message::FbCert { header, certificate } => {
                self.fb_on_cert_message(now, &from, header, certificate, out)
            }
            Message::FbPull { height } => self.fb_on_pull(now, &from, height, out),
        }
    }
}

impl Engine for SnowEngine {
    fn handle(&mut self, now: Time, input: Input, out: &mut Vec<Effect>) {
        match input {
            Input::ValidatorSet { height, validators } => {
                let sampler = self.cfg.samplers.get(&validators);
                self.sets.insert(height, HeightSet::new(validators, sampler, &self.me, &self.cfg.params));
                // Keep the sets of the heights still in play, and of the finalized heights we still help with.
                let floor = Height(self.tree.root().0.0.saturating_sub(crate::tree::KEPT_FINALIZED as u64));
                while self.sets.len() > 2 && self.sets.keys().nth(1).is_some_and(|h| *h <= floor) {
                    self.sets.pop_first();
                }
                self.refresh_current();
                if self.started && height == self.height() {
                    self.fb_restore();
                }
            }
            Input::Start { last_finalized, wal } => self.start(now, last_finalized, wal, out),
            _ if !self.started => {}
            Input::Message { from, bytes } => self.on_message(now, from, &bytes, out),
            Input::Timer(PROPOSE_TIMER) => self.on_propose_timer(out),
            Input::Timer(FALLBACK_TIMER) => self.fb_activate(now, out),
            Input::Timer(VIEW_TIMER) => self.fb_on_view_timer(now, out),
            Input::Timer(TimerId(id)) => {
                let poll = id.wrapping_sub(POLL_TIMER_BASE) as u32;
                if let Some(p) = self.polls.iter_mut().find(|p| p.id == poll) {
                    p.done = true;
                    self.apply_polls(now, out);
                }
            }
            Input::PayloadBuilt { height, payload, .. } => self.on_payload(now, height, payload, out),
            Input::PayloadVerdict { payload, valid, .. } => self.on_verdict(now, payload, valid, out),
        }
    }

    fn public_key(&self) -> PublicKey {
        self.me
    }

    fn status(&self) -> Status {
        Status { height: self.height(), view: self.fb.view }
    }

    fn dropped(&self) -> DropCounters {
        self.dropped
    }
}

/// The height a fallback message is about.
fn fb_height(message: &Message) -> Option<Height> {
    match message {
        Message::FbPropose { header, .. } => Some(header.height),
        Message::FbVote { vote, .. } => Some(vote.height),
        Message::FbCert { certificate, .. } => Some(certificate.vote.height),
        Message::FbPull { height } => Some(*height),
        _ => None,
    }
}

/// Encodes a WAL entry for `height`.
pub(crate) fn wal_record(height: Height, entry: &WalEntry) -> WalRecord {
    WalRecord { height, bytes: cairn_primitives::encode(entry) }
}
