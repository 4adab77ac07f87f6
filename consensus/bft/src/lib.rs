//! # cairn-bft — a Simplex-family BFT engine
//!
//! The engine cairn runs for communities of 4 to a few hundred validators. It implements
//! [`cairn_consensus::Engine`]: a sans-IO state machine the node (and the simulator) drives.
//!
//! ## Protocol
//!
//! Heights are decided one after the other; within height `h` the engine runs *views* `0, 1, 2, …` in the
//! style of Simplex (Chan & Pass, "Simplex Consensus: A Simple and Fast Consensus Protocol", TCC 2023; the
//! structure follows commonware's `consensus::simplex`). Weights count everywhere: a *quorum* is strictly more
//! than 2/3 of the height's total validator weight, and the protocol tolerates faulty weight `f` with `3f < T`.
//!
//! 1. **Leader.** `leader(h, v)` is drawn from the validator set with probability proportional to weight, by
//!    `blake3(seed ‖ h ‖ v)` — rotating every view, predictable by everyone, chosen by no one.
//! 2. **Propose.** On entering view `v` the leader proposes a block. If the latest view `p < v` that has a
//!    notarization has only nullified views between `p` and `v`, the leader must re-propose the block notarized in
//!    `p` (and attaches that notarization); if every earlier view was nullified it asks the driver for a fresh
//!    payload (`Effect::BuildPayload`, parent = the block finalized at `h - 1`). The proposal is the leader's own
//!    `Notarize` vote.
//! 3. **Notarize.** A validator in view `v` votes `Notarize(h, v, B)` for the first proposal of `leader(h, v)` that
//!    is *justified* by the certificates it holds (rule of step 2) and whose payload the application accepted
//!    (`Effect::VerifyPayload`), unless it already nullified `v`. A quorum of these is a *notarization*.
//! 4. **Finalize.** On a notarization of `(h, v, B)` a validator that has not nullified `v` votes
//!    `Finalize(h, v, B)`. A quorum of those is a *finalization certificate*: `B` is final
//!    (`Effect::Finalized` with that certificate) and the validator moves to height `h + 1`.
//! 5. **Nullify.** A validator whose view timer fires before it has voted `Finalize` in `v` votes
//!    `Nullify(h, v)` instead (and never `Finalize(v)` afterwards). A quorum is a *nullification*; it moves
//!    everyone to `v + 1`, so a silent or bad leader costs one timeout, not a halt.
//!
//! A validator moves from view `v` to `v + 1` on a nullification of `v`, or, holding a notarization of `v`,
//! when the view's (doubled) timer fires without a finalization — then the next leader re-proposes the notarized
//! block, which validators that nullified `v` can still finalize in `v + 1`.
//!
//! **Finality rule.** A block is final exactly when a finalization certificate for it exists (any view).
//!
//! ## Why it is safe
//!
//! Let `F = Finalize(h, v, B)` have a quorum. (a) No nullification of `v` exists: it would need a quorum of
//! `Nullify(h, v)`; two quorums share weight `> T/3 > f`, so an honest validator signed both, but honest validators
//! never sign `Nullify(v)` after `Finalize(v)` nor the reverse. (b) Only `B` is notarized in `v`: two
//! notarizations would share an honest signer, who notarizes once per view. (c) By induction every block
//! notarized in a view `v' > v` is `B`: its honest notarizers saw it justified by a notarization in some
//! `p < v'` with all views in `(p, v')` nullified, or by all views `< v'` nullified; by (a) `v` is not
//! nullified, so `p ≥ v`, and `p = v` gives `B` by (b), `p > v` gives `B` by induction. Every finalization is of a
//! notarized block, so every finalization at height `h` is of `B`. Since heights are decided in sequence on top of
//! the finalized parent, the finalized chain never forks. All of this holds in asynchrony; it only needs
//! `f < T/3` and signatures that cannot be forged.
//!
//! ## Why it makes progress
//!
//! After the network becomes timely (delay `δ`, with `δ` well below the leader timeout): an honest leader's
//! proposal reaches everyone in `δ`, notarize votes in `2δ`, finalize votes in `3δ` — **finality in three message
//! delays**. A silent leader makes every honest validator nullify at its timer; the nullification moves all to the
//! next view. Validators that fell behind (lost messages, restart, healed partition) get the certificate they miss
//! from any peer they talk to: a vote for an old view or height is answered with the certificate that ended it
//! (rate-limited per peer), and a validator that learns a finalization from a peer asks it for the next one
//! (`SyncRequest`). Every timeout re-broadcasts the validator's own votes, so lossy links delay but do not stall.
//!
//! ## Timeouts
//!
//! One knob, `Config::leader_timeout` (`τ`):
//! - a view in which no proposal arrived is nullified `τ` after it was entered (a silent leader costs `τ`);
//! - a view whose proposal we notarized but that has no notarization yet gets one more `τ` (we re-send our vote
//!   and ask peers for the certificate) before we nullify it;
//! - a notarized view waits `2τ` for its finalization (re-sending our finalize vote after `τ`) before moving on;
//! - while a vote of ours has not produced its certificate we re-send it every `τ/2` (`Retry`), so lost
//!   messages delay a decision by about `τ/2`, they do not stall it.
//!
//! With `f` silent leaders out of `3f + 1`, about a third of views cost `τ` plus a message delay each, so `τ`
//! should be a few times the 95th-percentile message delay, and no larger: the benchmark in the report shows the
//! mean time per decision growing linearly with `τ`.
//!
//! ## Crash safety
//!
//! Every vote is written through `Effect::Persist` before the message carrying it; on restart
//! `Input::Start { wal }` restores the votes of the current height, so the engine never signs a second,
//! conflicting vote. Two votes by one validator for different blocks in one view (notarize or finalize) become
//! `Effect::Evidence`.
//!
//! ## Robustness
//!
//! Oversized, malformed, badly signed, non-validator, far-future and unjustified messages are dropped and
//! counted ([`cairn_consensus::DropCounters`]); nothing from the network can make the engine panic. Votes more
//! than [`MAX_VIEW_AHEAD`] views ahead are refused, future heights are buffered up to
//! [`MAX_FUTURE_MESSAGES`].

mod engine;
mod error;
mod leader;
mod votes;
mod wire;

pub use engine::{BftEngine, Config, KEPT_FINALIZATIONS, MAX_FUTURE_MESSAGES, MAX_VIEW_AHEAD, WalEntry};
pub use error::Error;
pub use leader::leader;
pub use votes::{Added, VoteBook};
pub use wire::Message;
