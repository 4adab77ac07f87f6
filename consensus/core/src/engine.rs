//! The `Engine` trait and its inputs and effects.

use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use cairn_primitives::{Hash, Height, PublicKey, ValidatorSet};
use serde::{Deserialize, Serialize};

use crate::{Certificate, Evidence};

/// Milliseconds: virtual time in the simulator, time since the node started in a node. Only differences matter.
pub type Time = u64;

/// Most bytes of one engine message; drivers drop larger frames before decoding, engines check again.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A timer an engine set; the engine chooses the ids. Setting an id that is already pending replaces it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
pub struct TimerId(pub u64);

/// An opaque record the engine needs back after a crash (its own signed votes, the view it was in).
/// `height` lets the driver prune: records below the latest finalized height are no longer needed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct WalRecord {
    pub height: Height,
    pub bytes: Vec<u8>,
}

/// What happens to an engine.
#[derive(Clone, Debug)]
pub enum Input {
    /// Start (or restart) after `last_finalized` = (height, block id); genesis is `(Height(0), genesis hash)`.
    /// `wal` holds every record persisted since then, in the order they were persisted.
    Start { last_finalized: (Height, Hash), wal: Vec<WalRecord> },
    /// The validator set that decides `height`. Must be given for every height the engine works on.
    ValidatorSet { height: Height, validators: Arc<ValidatorSet> },
    /// Engine-specific bytes from an authenticated peer (the transport proved `from` sent them).
    Message { from: PublicKey, bytes: Bytes },
    /// A timer set by `Effect::SetTimer` fired.
    Timer(TimerId),
    /// The payload asked for by `Effect::BuildPayload`, as an opaque block id.
    PayloadBuilt { height: Height, view: u64, payload: Hash },
    /// The verdict on a payload asked for by `Effect::VerifyPayload`.
    PayloadVerdict { height: Height, payload: Hash, valid: bool },
}

/// A block the engine decided: `block` at `height` on top of `parent`, proven by `certificate` (a quorum of
/// `Finalize` votes for exactly this block and height).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Finalized {
    pub height: Height,
    pub block: Hash,
    pub parent: Hash,
    pub certificate: Certificate,
}

/// What an engine asks its driver to do, in order.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Make `record` durable before performing any later effect of this batch.
    Persist(WalRecord),
    /// Send `bytes` to one peer (a poll, an answer, a catch-up reply).
    Send {
        to: PublicKey,
        bytes: Bytes,
    },
    /// Send `bytes` to every validator of the current set (the engine never receives its own broadcast).
    Broadcast {
        bytes: Bytes,
    },
    /// Deliver `Input::Timer(id)` at time `at` (or right away if `at` has passed).
    SetTimer {
        id: TimerId,
        at: Time,
    },
    CancelTimer {
        id: TimerId,
    },
    /// Build a payload for our proposal (PrepareProposal); answer with `Input::PayloadBuilt`.
    BuildPayload {
        height: Height,
        view: u64,
        parent: Hash,
    },
    /// Check a peer's payload (ProcessProposal); answer with `Input::PayloadVerdict`.
    VerifyPayload {
        height: Height,
        parent: Hash,
        payload: Hash,
        /// Who must have proposed it, when the engine knows (a BFT view's leader): a block whose header names
        /// anyone else is invalid — modules and fees read the proposer. `None` when any validator may propose.
        proposer: Option<PublicKey>,
    },
    /// A decision: execute this block. Strictly increasing heights, no gaps.
    Finalized(Finalized),
    /// A validator misbehaved; the node hands this to the application (slashing).
    Evidence(Evidence),
}

/// Counters of inputs an engine refused. Exposed for metrics and tests; never a reason to panic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounters {
    /// Bytes that do not decode as a message of this engine.
    pub malformed: u64,
    /// Messages above the engine's size limit.
    pub oversized: u64,
    /// Signatures that do not verify (including certificates with a bad signature or no quorum).
    pub bad_signature: u64,
    /// Messages from, or votes by, keys outside the validator set.
    pub unknown_sender: u64,
    /// Messages for a view or height too far ahead to buffer.
    pub far_future: u64,
    /// Messages for heights or views already decided or left (harmless, counted for visibility).
    pub stale: u64,
    /// Proposals that are not from the view's leader or not justified.
    pub invalid_proposal: u64,
    /// Payloads the application rejected.
    pub invalid_payload: u64,
}

impl DropCounters {
    /// Everything refused because it was bad (stale messages are normal and excluded).
    pub fn bad_total(&self) -> u64 {
        self.malformed
            + self.oversized
            + self.bad_signature
            + self.unknown_sender
            + self.far_future
            + self.invalid_proposal
            + self.invalid_payload
    }

    pub fn add(&mut self, other: &DropCounters) {
        self.malformed += other.malformed;
        self.oversized += other.oversized;
        self.bad_signature += other.bad_signature;
        self.unknown_sender += other.unknown_sender;
        self.far_future += other.far_future;
        self.stale += other.stale;
        self.invalid_proposal += other.invalid_proposal;
        self.invalid_payload += other.invalid_payload;
    }
}

/// Where an engine is, for logs, metrics and progress bars.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The height being decided (last finalized + 1).
    pub height: Height,
    /// The engine's round within that height.
    pub view: u64,
}

/// A consensus engine: a deterministic state machine. Same construction, same inputs at the same times ⇒ same
/// effects. Object safe, so drivers and the simulator hold `Box<dyn Engine>`.
pub trait Engine: Send {
    /// Handles one input at time `now`, appending the effects to perform (in order) to `effects`.
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>);

    /// The key this engine signs with.
    fn public_key(&self) -> PublicKey;

    fn status(&self) -> Status;

    fn dropped(&self) -> DropCounters;
}
