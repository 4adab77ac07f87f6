//! The BFT state machine. See the crate docs for the protocol and its safety argument.
//!
//! Split by concern: this file holds the state and the height lifecycle (start, activation, finalization) and
//! implements [`Engine`]; `intake` checks and buffers what arrives; `view` is the per-view state machine
//! (propose, notarize, finalize, nullify, timers); `justify` says what earlier views oblige a proposal to
//! extend; `catchup` answers peers that are behind. Every vote is signed
//! by `crate::signer::Signer`, the one place that enforces the "never sign X after Y" rules.

mod catchup;
mod intake;
mod justify;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use cairn_consensus::{
    Certificate, DropCounters, Effect, Engine, Finalized, Input, SignatureVerifier, Status, Time, TimerId,
    WalRecord,
};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, ValidatorSet};

use crate::leader::leader;
use crate::signer::Signer;
use crate::votes::VoteBook;
use crate::wire::Message;

/// The one timer: the current view's deadline.
const VIEW_TIMER: TimerId = TimerId(0);
/// Re-sends our latest vote of the view while it has not led to a certificate (lossy links).
const RETRY_TIMER: TimerId = TimerId(1);
/// Sends the certificates formed a little earlier to the validators we help that still seem to miss them.
const GOSSIP_TIMER: TimerId = TimerId(2);
/// Votes for views further ahead than this are dropped (bounds the vote book against spam).
pub const MAX_VIEW_AHEAD: u64 = 64;
/// Messages for the next two heights are buffered up to this many (a peer may finalize a little before us).
pub const MAX_FUTURE_MESSAGES: usize = 4096;
/// Finalization certificates kept to answer peers that are behind.
pub const KEPT_FINALIZATIONS: usize = 256;
/// Catch-up replies per peer per leader timeout (bounds what a spamming peer can make us send).
const REPLIES_PER_WINDOW: u32 = 16;
/// Validators that answer one peer's retries (and get a certificate it did not sign) per window.
const HELPERS: u64 = 2;
/// A leader we have not heard a valid vote from in this many heights (every live validator votes at every
/// height) is presumed down: its views get a zero
/// timeout (we nullify at once; it is heard again as soon as it votes, so nobody is skipped for good).
const SILENT_AFTER_HEIGHTS: u64 = 2;
/// The view timeout doubles per failed view, up to `2^MAX_BACKOFF` times the leader timeout.
const MAX_BACKOFF: u32 = 4;

/// How a BFT engine is set up. Every validator of a chain uses the same `seed` and timeouts.
#[derive(Clone)]
pub struct Config {
    pub chain_id: ChainId,
    /// Signs our votes (a key in memory, or the node's guarded signer): see `cairn_consensus::Signer`.
    pub signer: Arc<dyn cairn_consensus::Signer>,
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
    /// Per nullified view, the first nullification that binds a block (see `justify`).
    binding: BTreeMap<u64, Certificate>,
    /// Per nullified view, proof that it binds nothing: one nullification binding nothing, or two binding
    /// different blocks.
    free: BTreeMap<u64, Vec<Certificate>>,
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
    /// The last height at which we counted a vote from each validator (silent-leader detection).
    heard: BTreeMap<PublicKey, Height>,
    /// Certificates formed from our votes, waiting for `GOSSIP_TIMER` (see `catchup::gossip`).
    pending_gossip: Vec<(Time, Certificate)>,
    /// Views that ended in a nullification since the last notarization or finalization (timeout back-off).
    failed_views: u32,
    dropped: DropCounters,
}

impl BftEngine {
    pub fn new(cfg: Config) -> BftEngine {
        let me = cfg.signer.public_key();
        let signer = Signer::new(cfg.chain_id.clone(), cfg.signer.clone());
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
            heard: BTreeMap::new(),
            failed_views: 0,
            pending_gossip: Vec::new(),
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
        self.failed_views = 0;
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
                } else if id == GOSSIP_TIMER {
                    self.flush_gossip(now, fx);
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
