//! The driver: one task that owns the consensus engine and turns its effects into network sends, timers, WAL
//! writes and application calls — and feeds it what the network, the timers and the application answer.
//!
//! Ordering rules it keeps:
//! - effects of one engine batch are performed in order; an `Effect::Persist` is fsync'd before the next effect
//!   of the batch, so no vote leaves the node before it is on disk;
//! - blocks are executed strictly in height order: `FinalizeBlock` → block store (block, certificate, results)
//!   → `Commit` → chain-state checkpoint → mempool update → events; a crash anywhere in between is repaired by
//!   the handshake on restart;
//! - a proposal is built, and a peer's proposal verified, only on top of the block this node has executed (its
//!   header commits to the app hash after the parent).

mod evidence;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use cairn_abci::{EngineKind, PrepareProposalRequest, ProcessProposalRequest, ProposalStatus};
use cairn_consensus::{
    Certificate, Effect, Engine, Finalized, Input, PlainVerifier, TimerId, VoteKind, WalRecord,
};
use cairn_primitives::{Block, Hash, Header, Height, Keypair, PublicKey};
use cairn_store::Wal;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::attest::Attestations;
use crate::engines::EngineFactory;
use crate::error::{NodeError, SyncError};
use crate::evidence::EvidencePool;
use crate::future_epoch::FutureEpoch;
use crate::handshake::finalize_request;
use crate::intake::GossipTxs;
use crate::net::{NetEvent, Topic, Transport};
use crate::serve_budget::ServeBudget;
use crate::shared::{Counters, Shared};
use crate::state::ChainState;
use crate::types::{NodeEvent, unix_ms};
use crate::wire::{self, CertifiedBlock, ConsensusEnvelope, SyncRequest, SyncResponse};

/// Pending payload verifications kept (the engine asks for one or two per view).
const MAX_PENDING_VERIFY: usize = 64;
/// Finalized decisions waiting for their body (the engine decides one height at a time).
const MAX_FINALIZE_QUEUE: usize = 64;
/// Blocks gossiped further ahead than this are not cached (they only hint that we are behind).
const MAX_BODY_LOOKAHEAD: u64 = 8;
/// Delay before fetching a proposal body that gossip should deliver anyway.
const BODY_FETCH_DELAY: Duration = Duration::from_millis(150);
/// How often the driver checks for stalls (missing bodies, peers ahead).
const HOUSEKEEPING: Duration = Duration::from_millis(500);
/// Largest certificate accepted from a peer.
const MAX_CERTIFICATE_BYTES: usize = 16 * 1024 * 1024;
/// Mempool txs rechecked after each block (the oldest first).
const MAX_RECHECK_PER_BLOCK: usize = 4096;
/// Save the chain-state checkpoint every this many heights.
const CHECKPOINT_EVERY: u64 = 16;
/// Prune the WAL every this many heights.
const WAL_PRUNE_EVERY: u64 = 16;

/// A record in the node's WAL: engine bytes tagged with the engine epoch that wrote them.
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct WalTagged {
    epoch: u64,
    bytes: Vec<u8>,
}

/// Messages from helper tasks back to the driver.
pub(crate) enum Internal {
    /// A body fetched from a peer.
    Body { block: Box<Block>, from: PublicKey },
    /// A body fetch gave up.
    BodyMissing { id: Hash },
    /// A batch of finalized blocks from a peer (empty: no peer is ahead).
    SyncBatch { from: Option<PublicKey>, blocks: Vec<CertifiedBlock> },
}

struct PendingBuild {
    height: Height,
    view: u64,
    parent: Hash,
}

struct PendingVerify {
    height: Height,
    parent: Hash,
    payload: Hash,
    /// The proposer the engine requires (the view's leader), if any.
    proposer: Option<PublicKey>,
}

pub(crate) struct Driver {
    shared: Arc<Shared>,
    key: Keypair,
    factory: EngineFactory,
    state: ChainState,
    engine: Box<dyn Engine>,
    /// Bumped whenever the engine is replaced; effects of a replaced engine are ignored.
    generation: u64,
    wal: Wal,
    net: Arc<dyn Transport>,
    net_rx: mpsc::Receiver<NetEvent>,
    internal_tx: mpsc::Sender<Internal>,
    internal_rx: mpsc::Receiver<Internal>,
    tx_ingest: mpsc::Sender<GossipTxs>,
    started_at: Instant,
    timers: BTreeMap<TimerId, u64>,
    inputs: VecDeque<Input>,
    pending_build: Option<PendingBuild>,
    pending_verify: Vec<PendingVerify>,
    finalize_queue: VecDeque<Finalized>,
    fetching: BTreeSet<Hash>,
    future_epoch: FutureEpoch,
    /// Attestations of sampled blocks gathered from sync peers.
    attestations: Attestations,
    sync_in_flight: bool,
    catching_up: bool,
    /// Blocks were committed by sync since the engine last started: it must restart at the new height.
    engine_behind: bool,
    sync_cursor: usize,
    last_commit_at: Instant,
    last_far_future: u64,
    last_engine_dropped: u64,
    serving: ServeBudget,
    recheck: Option<tokio::task::JoinHandle<()>>,
    /// Numbers our consensus messages so gossip never drops a retry as a duplicate (see `ConsensusEnvelope`).
    broadcast_seq: u64,
    /// Evidence waiting for a block, and the ids the chain committed (see `driver/evidence.rs`).
    evidence: EvidencePool,
    /// The quorum certificate that finalized our last block: the next block's last commit (`None` for the first
    /// block and after a block a sampling engine decided).
    parent_commit: Option<Certificate>,
}

pub(crate) struct DriverParts {
    pub shared: Arc<Shared>,
    pub key: Keypair,
    pub factory: EngineFactory,
    pub state: ChainState,
    pub wal: Wal,
    pub net_rx: mpsc::Receiver<NetEvent>,
    pub tx_ingest: mpsc::Sender<GossipTxs>,
}

impl Driver {
    pub fn new(parts: DriverParts) -> Result<Driver, NodeError> {
        let DriverParts { shared, key, factory, state, wal, net_rx, tx_ingest } = parts;
        let (internal_tx, internal_rx) = mpsc::channel(256);
        let engine = factory.make(state.engine(), state.engine_epoch)?;
        let net = shared.net.clone();
        let now = Instant::now();
        let mut driver = Driver {
            shared,
            key,
            factory,
            state,
            engine,
            generation: 0,
            wal,
            net,
            net_rx,
            internal_tx,
            internal_rx,
            tx_ingest,
            started_at: now,
            timers: BTreeMap::new(),
            inputs: VecDeque::new(),
            pending_build: None,
            pending_verify: Vec::new(),
            finalize_queue: VecDeque::new(),
            fetching: BTreeSet::new(),
            future_epoch: FutureEpoch::default(),
            attestations: Attestations::default(),
            sync_in_flight: false,
            catching_up: false,
            engine_behind: false,
            sync_cursor: 0,
            last_commit_at: now,
            last_far_future: 0,
            last_engine_dropped: 0,
            serving: ServeBudget::default(),
            recheck: None,
            // Start from the clock, so a restarted node's numbers do not repeat its earlier ones.
            broadcast_seq: unix_ms().saturating_mul(1_000),
            evidence: EvidencePool::default(),
            parent_commit: None,
        };
        driver.load_evidence_state()?;
        driver.start_engine()?;
        driver.publish_status();
        Ok(driver)
    }

    fn now(&self) -> u64 {
        self.started_at.elapsed().as_millis() as u64
    }

    /// Feeds a fresh engine instance the validator sets it needs and its WAL records since the last block.
    fn start_engine(&mut self) -> Result<(), NodeError> {
        let epoch = self.state.engine_epoch.0;
        let floor = self.state.height;
        let mut wal = Vec::new();
        for (index, (height, bytes)) in self.wal.records()?.into_iter().enumerate() {
            // Fail closed: skipping a record we cannot read could let the engine sign again what it already
            // signed. redb commits records atomically, so a crash never leaves a torn record behind; an
            // unreadable one is damage (or a file from another version) and needs a person.
            let tagged: WalTagged = cairn_primitives::decode(&bytes, cairn_store::MAX_WAL_RECORD_BYTES)
                .map_err(|e| cairn_store::StoreError::Corrupt {
                    what: "consensus WAL record",
                    height: height.0,
                    reason: format!(
                        "record #{index} in {} cannot be decoded ({e}); refusing to start, since the votes it \
                         holds could be signed again in conflict. Restore the file from a backup; only if this \
                         validator signed nothing at that height may the file be moved away",
                        self.wal.path().display()
                    ),
                })?;
            if height > floor && tagged.epoch == epoch {
                wal.push(WalRecord { height, bytes: tagged.bytes });
            }
        }
        info!(height = %self.state.height.next(), restored_votes = wal.len(), engine = ?self.state.engine(), "consensus engine starting");
        self.timers.clear();
        self.inputs.clear();
        self.pending_build = None;
        self.pending_verify.clear();
        self.inputs.push_back(Input::ValidatorSet {
            height: self.state.height.next(),
            validators: Arc::new(self.state.next.clone()),
        });
        self.inputs.push_back(Input::ValidatorSet {
            height: self.state.height.next().next(),
            validators: Arc::new(self.state.next_next.clone()),
        });
        self.inputs
            .push_back(Input::Start { last_finalized: (self.state.height, self.state.last_block_id), wal });
        self.engine_behind = false;
        Ok(())
    }

    /// Replaces the engine (engine switch, or the height moved under it by block sync).
    fn restart_engine(&mut self) -> Result<(), NodeError> {
        self.engine = self.factory.make(self.state.engine(), self.state.engine_epoch)?;
        self.generation += 1;
        self.last_engine_dropped = 0;
        self.last_far_future = 0;
        self.finalize_queue.retain(|f| f.height > self.state.height);
        self.start_engine()?;
        // Messages of the new epoch that arrived early.
        let epoch = self.state.engine_epoch.0;
        for (from, env) in self.future_epoch.take(epoch) {
            self.inputs.push_back(Input::Message { from, bytes: env.bytes.into() });
        }
        Ok(())
    }

    pub async fn run(mut self) -> Result<(), NodeError> {
        let mut shutdown = self.shared.shutdown.subscribe();
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.trigger_sync();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Some(input) = self.inputs.pop_front() {
                self.feed(input).await?;
            }
            let build_wait = self.try_build().await?;
            if !self.inputs.is_empty() {
                continue;
            }
            let next_timer =
                self.timers.values().min().map(|at| self.started_at + Duration::from_millis(*at));
            let far = Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                biased;
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { break },
                Some(msg) = self.internal_rx.recv() => self.on_internal(msg).await?,
                ev = self.net_rx.recv() => match ev {
                    Some(ev) => self.on_net(ev).await?,
                    None => {
                        if *shutdown.borrow() {
                            break;
                        }
                        return Err(NodeError::P2p("the network task stopped unexpectedly".into()));
                    }
                },
                _ = tokio::time::sleep_until(next_timer.unwrap_or(far)), if next_timer.is_some() => self.fire_timers(),
                _ = self.shared.tx_notify.notified(), if build_wait.is_some() => {}
                _ = tokio::time::sleep_until(build_wait.unwrap_or(far)), if build_wait.is_some() => {}
                _ = housekeeping.tick() => self.housekeeping(),
            }
        }
        info!("driver stopped");
        Ok(())
    }

    async fn feed(&mut self, input: Input) -> Result<(), NodeError> {
        let mut effects = Vec::new();
        let now = self.now();
        let sender = match &input {
            Input::Message { from, .. } => Some(*from),
            _ => None,
        };
        let before = self.engine.dropped();
        self.engine.handle(now, input, &mut effects);
        let dropped = self.engine.dropped();
        if let Some(from) = sender
            && (dropped.malformed > before.malformed || dropped.oversized > before.oversized)
        {
            // Bytes in a well-formed envelope that the engine refused as malformed. Counted, not reported: the
            // engine may have replayed buffered messages of other peers in the same step, and a wrong report
            // would get an honest peer banned.
            Counters::inc(&self.shared.counters.malformed_messages);
            debug!(%from, "consensus message the engine refused as malformed");
        }
        let total = dropped.bad_total();
        if total > self.last_engine_dropped {
            Counters::add(&self.shared.counters.engine_dropped, total - self.last_engine_dropped);
            self.last_engine_dropped = total;
        }
        if dropped.far_future > self.last_far_future {
            // Messages from far ahead: peers are at heights we have not reached.
            self.last_far_future = dropped.far_future;
            self.trigger_sync();
        }
        // Last: performing the effects may replace the engine (switch), whose counters start at zero.
        self.perform(effects).await
    }

    async fn perform(&mut self, effects: Vec<Effect>) -> Result<(), NodeError> {
        let generation = self.generation;
        let epoch = self.state.engine_epoch.0;
        let mut effects = effects.into_iter().peekable();
        while let Some(effect) = effects.next() {
            if let Effect::Persist(first) = effect {
                // Consecutive records of one height share one fsync.
                let mut batch = vec![first];
                while let Some(Effect::Persist(r)) = effects.peek() {
                    if r.height != batch[0].height {
                        break;
                    }
                    if let Some(Effect::Persist(r)) = effects.next() {
                        batch.push(r);
                    }
                }
                self.persist(epoch, batch)?;
                continue;
            }
            if self.generation != generation {
                // The engine that produced these was replaced mid-batch (engine switch): drop the rest.
                continue;
            }
            match effect {
                Effect::Persist(_) => {}
                Effect::Send { to, bytes } => {
                    self.broadcast_seq += 1;
                    let env = ConsensusEnvelope { epoch, seq: self.broadcast_seq, bytes: bytes.to_vec() };
                    self.net.send(to, wire::encode(&env));
                }
                Effect::Broadcast { bytes } => {
                    self.broadcast_seq += 1;
                    let env = ConsensusEnvelope { epoch, seq: self.broadcast_seq, bytes: bytes.to_vec() };
                    self.net.broadcast(Topic::Consensus, wire::encode(&env));
                }
                Effect::SetTimer { id, at } => {
                    self.timers.insert(id, at);
                }
                Effect::CancelTimer { id } => {
                    self.timers.remove(&id);
                }
                Effect::BuildPayload { height, view, parent } => {
                    self.pending_build = Some(PendingBuild { height, view, parent });
                }
                Effect::VerifyPayload { height, parent, payload, proposer } => {
                    if self.pending_verify.len() >= MAX_PENDING_VERIFY {
                        self.pending_verify.remove(0);
                    }
                    self.pending_verify.push(PendingVerify { height, parent, payload, proposer });
                    self.try_verify().await?;
                }
                Effect::Finalized(f) => {
                    debug!(height = %f.height, block = ?f.block, "finalized");
                    if self.finalize_queue.len() < MAX_FINALIZE_QUEUE {
                        self.finalize_queue.push_back(f);
                    } else {
                        // Bodies are missing for many heights: block sync will bring the blocks instead.
                        warn!(height = %f.height, "too many finalized blocks waiting for bodies; relying on sync");
                        self.trigger_sync();
                    }
                    self.drive_finalized().await?;
                }
                Effect::Evidence(e) => self.on_evidence(e),
            }
        }
        Ok(())
    }

    fn persist(&mut self, epoch: u64, batch: Vec<WalRecord>) -> Result<(), NodeError> {
        let Some(height) = batch.first().map(|r| r.height) else { return Ok(()) };
        let encoded: Vec<Vec<u8>> =
            batch.into_iter().map(|r| wire::encode(&WalTagged { epoch, bytes: r.bytes })).collect();
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let wal = &mut self.wal;
        blocking(|| wal.append_batch(height, &refs))?;
        Ok(())
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        let due: Vec<TimerId> = self.timers.iter().filter(|(_, at)| **at <= now).map(|(id, _)| *id).collect();
        for id in due {
            self.timers.remove(&id);
            self.inputs.push_back(Input::Timer(id));
        }
    }

    // ---------------------------------------------------------------- proposals

    /// Builds our proposal if the engine asked and we can. Returns when to look again if we are holding back
    /// an empty block (idle chain).
    async fn try_build(&mut self) -> Result<Option<Instant>, NodeError> {
        let Some(pb) = &self.pending_build else { return Ok(None) };
        if pb.height <= self.state.height {
            self.pending_build = None;
            return Ok(None);
        }
        if pb.height != self.state.height.next() {
            return Ok(None);
        }
        if pb.parent != self.state.last_block_id {
            warn!(height = %pb.height, "engine asked to build on a parent that is not our last block");
            self.pending_build = None;
            return Ok(None);
        }
        let (height, view) = (pb.height, pb.view);
        let params = self.state.params.clone();
        let interval = Duration::from_millis(self.shared.config.consensus.empty_block_interval_ms);
        let txs = {
            let pool = self.shared.mempool.lock().await;
            if pool.is_empty() && self.last_commit_at.elapsed() < interval {
                return Ok(Some(self.last_commit_at + interval));
            }
            pool.reap(params.max_block_bytes as usize, params.max_block_txs as usize)
        };
        self.pending_build = None;
        let time_ms = unix_ms().max(self.state.last_block_time_ms.saturating_add(1));
        let prepared = self
            .shared
            .app
            .prepare_proposal(PrepareProposalRequest {
                max_tx_bytes: params.max_block_bytes,
                txs,
                height,
                time_ms,
                proposer: self.key.public(),
            })
            .await?;
        let mut txs = Vec::with_capacity(prepared.txs.len());
        let mut bytes = 0u64;
        for tx in prepared.txs {
            if txs.len() as u64 >= params.max_block_txs || bytes + tx.len() as u64 > params.max_block_bytes {
                warn!(height = %height, "PrepareProposal returned more than the block limits; extra txs dropped");
                break;
            }
            bytes += tx.len() as u64;
            txs.push(tx);
        }
        let (last_commit, evidence) = self.proposal_extras(height);
        let header = Header {
            chain_id: self.shared.chain_id.clone(),
            height,
            parent: self.state.last_block_id,
            time_ms,
            proposer: self.key.public(),
            txs_root: Block::txs_root(&txs),
            app_hash: self.state.app_hash,
            validators_hash: self.state.next.hash(),
            last_commit_hash: Block::last_commit_hash(&last_commit),
            evidence_root: Block::evidence_root(&evidence),
        };
        let block = Arc::new(Block { header, txs, last_commit, evidence });
        let id = block.id();
        debug!(height = %height, view, txs = block.txs.len(), id = ?id, "proposing");
        self.shared.bodies().insert_needed(block.clone());
        self.net.broadcast(Topic::Blocks, wire::encode(&*block));
        self.inputs.push_back(Input::PayloadBuilt { height, view, payload: id });
        Ok(None)
    }

    /// Answers the pending payload checks whose parent we have executed and whose body we hold.
    async fn try_verify(&mut self) -> Result<(), NodeError> {
        let mut i = 0;
        while i < self.pending_verify.len() {
            let pv = &self.pending_verify[i];
            if pv.height <= self.state.height {
                self.pending_verify.remove(i);
                continue;
            }
            if pv.height != self.state.height.next() {
                i += 1;
                continue;
            }
            let (height, parent, payload, proposer) = (pv.height, pv.parent, pv.payload, pv.proposer);
            let valid = if parent != self.state.last_block_id {
                Some(false)
            } else {
                let body = self.shared.bodies().get(&payload);
                match body {
                    None => {
                        self.fetch_body(payload, BODY_FETCH_DELAY);
                        None
                    }
                    Some(block) => Some(self.check_proposal(&block, proposer).await?),
                }
            };
            match valid {
                Some(valid) => {
                    self.pending_verify.remove(i);
                    self.inputs.push_back(Input::PayloadVerdict { height, payload, valid });
                }
                None => i += 1,
            }
        }
        Ok(())
    }

    /// Header checks against our executed state and the view's leader, then the app's `ProcessProposal`.
    async fn check_proposal(&mut self, block: &Block, leader: Option<PublicKey>) -> Result<bool, NodeError> {
        let checks = self
            .check_header(block)
            .and_then(|()| check_time_skew(block, unix_ms()))
            .and_then(|()| check_proposer(block, leader))
            .and_then(|()| self.check_extras(block));
        if let Err(reason) = checks {
            warn!(height = %block.header.height, reason, "rejecting proposal");
            return Ok(false);
        }
        let status = self
            .shared
            .app
            .process_proposal(ProcessProposalRequest {
                txs: block.txs.clone(),
                hash: block.id(),
                height: block.header.height,
                time_ms: block.header.time_ms,
                proposer: block.header.proposer,
            })
            .await?;
        Ok(status == ProposalStatus::Accept)
    }

    /// What every block at `state.height + 1` must say, whoever proposed it.
    fn check_header(&self, block: &Block) -> Result<(), String> {
        let h = &block.header;
        let next = self.state.height.next();
        if h.chain_id != self.shared.chain_id {
            return Err(format!("chain id {} is not ours", h.chain_id));
        }
        if h.height != next {
            return Err(format!("height {} is not the next height {next}", h.height));
        }
        if h.parent != self.state.last_block_id {
            return Err(format!(
                "parent {:?} is not our last block {:?}",
                h.parent, self.state.last_block_id
            ));
        }
        if !block.body_matches_header() {
            return Err("txs, last commit or evidence do not match the header's roots".into());
        }
        if h.app_hash != self.state.app_hash {
            return Err(format!("app_hash {:?} differs from ours {:?}", h.app_hash, self.state.app_hash));
        }
        if h.validators_hash != self.state.next.hash() {
            return Err("validators_hash is not the hash of this height's validator set".into());
        }
        // Modules read the block time, so it must move forward: strictly above the parent's (genesis time for
        // the first block), as a leader sets it (`max(now, parent + 1)`).
        if h.time_ms <= self.state.last_block_time_ms {
            return Err(format!(
                "time_ms {} is not after the parent block's {}",
                h.time_ms, self.state.last_block_time_ms
            ));
        }
        if !self.state.next.contains(&h.proposer) {
            return Err(format!("proposer {} is not a validator", h.proposer));
        }
        let bytes: u64 = block.txs.iter().map(|t| t.len() as u64).sum();
        if block.txs.len() as u64 > self.state.params.max_block_txs
            || bytes > self.state.params.max_block_bytes
        {
            return Err("block exceeds the consensus params' size limits".into());
        }
        Ok(())
    }

    // ---------------------------------------------------------------- execution

    /// Executes finalized decisions in order, as far as their bodies are here.
    async fn drive_finalized(&mut self) -> Result<(), NodeError> {
        while let Some(f) = self.finalize_queue.front() {
            if f.height <= self.state.height {
                let stored = self.shared.store()?.block(f.height)?.map(|b| b.id());
                if stored.is_some_and(|id| id != f.block) {
                    error!(height = %f.height, engine = ?f.block, stored = ?stored,
                        "the engine finalized a different block than the one stored: safety violation");
                }
                self.finalize_queue.pop_front();
                continue;
            }
            if f.height != self.state.height.next() {
                // A gap (cannot come from an engine that started at our height); block sync fills it.
                self.trigger_sync();
                return Ok(());
            }
            let Some(block) = self.shared.bodies().get(&f.block) else {
                self.fetch_body(f.block, Duration::ZERO);
                return Ok(());
            };
            let Some(f) = self.finalize_queue.pop_front() else { return Ok(()) };
            if block.id() == f.block && block.header.app_hash != self.state.app_hash {
                // The engine finalized this header, app hash included: our own state is the odd one out.
                return Err(SyncError::LocalDivergence {
                    height: self.state.height,
                    ours: self.state.app_hash,
                    chain: block.header.app_hash,
                }
                .into());
            }
            if let Err(reason) = self.check_finalized_body(&block, &f) {
                // The certificate is for this id, so the body under it cannot be wrong unless the header is
                // malformed by a Byzantine quorum; refuse to execute rather than diverge.
                return Err(NodeError::Engine(format!("finalized block {} is unusable: {reason}", f.height)));
            }
            self.commit_block(&block, &cairn_primitives::encode(&f.certificate)).await?;
        }
        Ok(())
    }

    fn check_finalized_body(&self, block: &Block, f: &Finalized) -> Result<(), String> {
        if block.id() != f.block {
            return Err("body id differs from the finalized id".into());
        }
        self.check_header(block)
    }

    /// FinalizeBlock → store → Commit → checkpoint → mempool → events → engine.
    async fn commit_block(&mut self, block: &Arc<Block>, certificate: &[u8]) -> Result<(), NodeError> {
        let height = block.header.height;
        // The last block's recheck must not run on into this one: between our Commit and the mempool's update it
        // would see this block's txs as "nonce already used" and evict them, opening a nonce gap (for a moment)
        // before the sender's later txs, which then count as parked and get refused.
        if let Some(old) = self.recheck.take() {
            old.abort();
        }
        let t_finalize = Instant::now();
        let delay = self.shared.config.app.test_finalize_delay_ms;
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let results = self.shared.app.finalize_block(finalize_request(block)).await?;
        let finalize_us = t_finalize.elapsed().as_micros() as u64;
        if results.tx_results.len() != block.txs.len() {
            return Err(NodeError::Internal(format!(
                "FinalizeBlock at height {height} returned {} results for {} txs",
                results.tx_results.len(),
                block.txs.len()
            )));
        }
        let next_state = self.state.advance(block, &results)?;
        let store = self.shared.store()?;
        blocking(|| -> Result<(), NodeError> {
            store.put_finalized(block, certificate)?;
            store.put_results(height, &results)?;
            Ok(())
        })?;
        let t_commit = Instant::now();
        self.shared.app.commit().await?;
        let commit_us = t_commit.elapsed().as_micros() as u64;
        let switched = next_state.engine_epoch != self.state.engine_epoch;
        // The checkpoint only shortens recovery (which rolls forward through stored results), so it need not
        // cost an fsync per block.
        if switched || height.0.is_multiple_of(CHECKPOINT_EVERY) {
            blocking(|| next_state.save(&store))?;
        }
        self.state = next_state;
        self.evidence_committed(block, certificate);
        self.shared.gossip.update(&self.state);
        self.last_commit_at = Instant::now();
        if height.0.is_multiple_of(WAL_PRUNE_EVERY) {
            let wal = &mut self.wal;
            blocking(|| wal.prune_below(height.next()))?;
        }

        // Mempool: drop the block's txs, recheck the rest in the background.
        // Recheck the txs next in line, not a full pool after every block: under load that would be a CheckTx per
        // pooled tx per block. Txs further back are rechecked after later blocks or fail harmlessly in a block.
        let remaining = self.shared.mempool.lock().await.update(height, &block.txs, MAX_RECHECK_PER_BLOCK);
        if !remaining.is_empty() {
            let shared = self.shared.clone();
            self.recheck = Some(tokio::spawn(async move {
                if let Err(e) = cairn_mempool::recheck(&shared.mempool, &*shared.app, remaining).await {
                    warn!(error = %e, "mempool recheck failed");
                }
            }));
        }

        // Events.
        let counters = &self.shared.counters;
        Counters::inc(&counters.blocks_finalized);
        Counters::add(&counters.txs_finalized, block.txs.len() as u64);
        let finalized_at_ms = unix_ms();
        let _ = self.shared.events.send(NodeEvent::NewBlock {
            height,
            id: block.id(),
            num_txs: block.txs.len() as u32,
            time_ms: block.header.time_ms,
            finalized_at_ms,
            finalize_us,
            commit_us,
        });
        if self.shared.events.receiver_count() > 0 {
            for (i, (tx, result)) in block.txs.iter().zip(results.tx_results).enumerate() {
                let _ = self.shared.events.send(NodeEvent::Tx {
                    hash: Hash::digest(tx),
                    height,
                    index: i as u32,
                    result,
                });
            }
        }
        self.shared.bodies().prune(height);
        self.publish_status();
        debug!(height = %height, txs = block.txs.len(), "committed");

        // Engine: the set for height + 2 is now known; a scheduled switch starts a new engine.
        if switched {
            info!(height = %height.next(), engine = ?self.state.engine(), "switching consensus engine");
            Counters::inc(&self.shared.counters.engine_switches);
            self.restart_engine()?;
        } else if !self.engine_behind {
            self.inputs.push_back(Input::ValidatorSet {
                height: height.next().next(),
                validators: Arc::new(self.state.next_next.clone()),
            });
        }
        self.try_verify().await?;
        Ok(())
    }

    fn publish_status(&self) {
        let s = &self.state;
        let me = self.key.public();
        self.shared.status.send_modify(|status| {
            status.height = s.height;
            status.app_hash = s.app_hash;
            status.last_block_id = s.last_block_id;
            status.last_block_time_ms = s.last_block_time_ms;
            status.validators = s.next.validators().to_vec();
            status.engine = s.engine();
            status.catching_up = self.catching_up;
            status.is_validator = s.next.contains(&me);
        });
    }

    // ---------------------------------------------------------------- network

    async fn on_net(&mut self, ev: NetEvent) -> Result<(), NodeError> {
        let max = self.shared.config.p2p.max_message_bytes;
        match ev {
            NetEvent::Gossip { from, topic: Topic::Consensus, data } | NetEvent::Direct { from, data } => {
                match wire::decode::<ConsensusEnvelope>(&data, max) {
                    Ok(env) => self.on_consensus(from, env),
                    Err(e) => self.malformed(from, &format!("consensus message: {e}")),
                }
            }
            NetEvent::Gossip { from, topic: Topic::Blocks, data } => {
                match wire::decode::<Block>(&data, max) {
                    Ok(block) => {
                        self.on_block_gossip(from, block);
                        // A body we were waiting for may have arrived.
                        self.try_verify().await?;
                        self.drive_finalized().await?;
                    }
                    Err(e) => self.malformed(from, &format!("block gossip: {e}")),
                }
            }
            NetEvent::Gossip { topic: Topic::Txs, data, .. } => {
                // A full ingest queue drops the tx: peers' mempools hold it, and the sender can resubmit.
                let _ = self.tx_ingest.try_send(GossipTxs { txs: vec![data], verdict: None });
            }
            NetEvent::Request { from, data, reply } => self.serve(from, data, reply),
            NetEvent::PeerConnected(peer) => {
                debug!(%peer, "peer connected");
                self.trigger_sync();
            }
            NetEvent::PeerDisconnected(peer) => debug!(%peer, "peer disconnected"),
        }
        Ok(())
    }

    fn malformed(&self, from: PublicKey, what: &str) {
        Counters::inc(&self.shared.counters.malformed_messages);
        debug!(%from, what, "dropping malformed message");
        self.net.report_bad(from, what);
    }

    fn on_consensus(&mut self, from: PublicKey, env: ConsensusEnvelope) {
        let epoch = self.state.engine_epoch.0;
        if env.epoch == epoch {
            self.inputs.push_back(Input::Message { from, bytes: env.bytes.into() });
        } else if env.epoch > epoch {
            let known = self.state.next.contains(&from) || self.state.next_next.contains(&from);
            if self.future_epoch.hold(from, env, known) {
                // A validator runs a later epoch: we are behind.
                self.trigger_sync();
            }
        }
    }

    fn on_block_gossip(&mut self, from: PublicKey, block: Block) {
        let height = block.header.height;
        if block.header.chain_id != self.shared.chain_id || !block.body_matches_header() {
            Counters::inc(&self.shared.counters.rejected_blocks);
            self.net.report_bad(from, "gossiped block does not match its header or chain");
            return;
        }
        if height <= self.state.height {
            return;
        }
        // Only a proposer gossips its block (gossip authors are authenticated), and only validators propose: a
        // body from anyone else would only take cache room. A body missed here is fetched by id when voted on.
        if from != block.header.proposer {
            self.net.report_bad(from, "gossiped a block proposed by someone else");
            return;
        }
        let proposer = &block.header.proposer;
        if !self.state.next.contains(proposer) && !self.state.next_next.contains(proposer) {
            debug!(%from, height = %height, "dropping a gossiped block from a non-validator");
            return;
        }
        if height.0 > self.state.height.0 + 1 {
            // Peers are proposing at heights we have not reached.
            self.trigger_sync();
        }
        if height.0 > self.state.height.0 + MAX_BODY_LOOKAHEAD {
            return;
        }
        let block = Arc::new(block);
        let id = block.id();
        if self.shared.bodies().insert(block) {
            self.fetching.remove(&id);
        }
    }

    async fn on_internal(&mut self, msg: Internal) -> Result<(), NodeError> {
        match msg {
            Internal::Body { block, from } => {
                let id = block.id();
                self.fetching.remove(&id);
                if block.header.chain_id != self.shared.chain_id || !block.body_matches_header() {
                    Counters::inc(&self.shared.counters.rejected_blocks);
                    self.net.report_bad(from, "fetched body does not match its header");
                } else if block.header.height > self.state.height {
                    self.shared.bodies().insert_needed(Arc::new(*block));
                }
                // A body for a height we committed meanwhile is simply not needed any more.
            }
            Internal::BodyMissing { id } => {
                self.fetching.remove(&id);
            }
            Internal::SyncBatch { from, blocks } => self.on_sync_batch(from, blocks).await?,
        }
        self.try_verify().await?;
        self.drive_finalized().await?;
        Ok(())
    }

    /// Asks peers for a body by id (after `delay`, since gossip usually delivers it first).
    fn fetch_body(&mut self, id: Hash, delay: Duration) {
        if !self.fetching.insert(id) {
            return;
        }
        let net = self.net.clone();
        let tx = self.internal_tx.clone();
        let max = self.shared.config.p2p.max_message_bytes;
        let timeout = Duration::from_millis(self.shared.config.sync.request_timeout_ms);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let request = wire::encode(&SyncRequest::Body { id });
            for peer in net.peers() {
                let Ok(bytes) = net.request(peer, request.clone(), timeout).await else { continue };
                match wire::decode_kind::<SyncResponse>(&bytes, max) {
                    Ok(SyncResponse::Body(Some(block))) if block.id() == id => {
                        let _ = tx.send(Internal::Body { block, from: peer }).await;
                        return;
                    }
                    Ok(_) | Err(SyncError::NewerKind(_)) => {}
                    Err(_) => net.report_bad(peer, "malformed body response"),
                }
            }
            let _ = tx.send(Internal::BodyMissing { id }).await;
        });
    }

    /// Serves a peer's request on a separate task (store reads), bounded in concurrency.
    fn serve(&self, from: PublicKey, data: Vec<u8>, reply: tokio::sync::oneshot::Sender<Vec<u8>>) {
        let max = self.shared.config.p2p.max_message_bytes;
        let request = match wire::decode_kind::<SyncRequest>(&data, max) {
            Ok(r) => r,
            Err(e @ SyncError::NewerKind(_)) => {
                debug!(%from, error = %e, "request of a newer kind");
                let _ = reply.send(wire::encode(&SyncResponse::Error(e.to_string())));
                return;
            }
            Err(e) => {
                self.malformed(from, &format!("request: {e}"));
                let _ = reply.send(wire::encode(&SyncResponse::Error("malformed request".into())));
                return;
            }
        };
        let Some(permit) = self.serving.try_take(from) else {
            let _ = reply.send(wire::encode(&SyncResponse::Error("busy".into())));
            return;
        };
        let shared = self.shared.clone();
        let (height, last_block_id) = (self.state.height, self.state.last_block_id);
        tokio::spawn(async move {
            let _permit = permit;
            let response = match request {
                SyncRequest::Status => SyncResponse::Status { height, last_block_id },
                SyncRequest::Body { id } => SyncResponse::Body(lookup_body(&shared, &id).map(Box::new)),
                SyncRequest::Blocks { from, max: wanted } => match serve_blocks(&shared, from, wanted) {
                    Ok(blocks) => SyncResponse::Blocks(blocks),
                    Err(e) => SyncResponse::Error(e.to_string()),
                },
            };
            let _ = reply.send(wire::encode(&response));
        });
    }

    // ---------------------------------------------------------------- block sync

    /// Starts a sync round unless one is running: ask peers, in turn, for blocks after our height.
    fn trigger_sync(&mut self) {
        if self.sync_in_flight {
            return;
        }
        let peers = self.net.peers();
        if peers.is_empty() {
            return;
        }
        self.sync_in_flight = true;
        self.sync_cursor = self.sync_cursor.wrapping_add(1);
        let start = self.sync_cursor % peers.len();
        let order: Vec<PublicKey> = peers.iter().cycle().skip(start).take(peers.len()).copied().collect();
        let net = self.net.clone();
        let tx = self.internal_tx.clone();
        let cfg = self.shared.config.sync.clone();
        let max = self.shared.config.p2p.max_message_bytes.max(cfg.max_response_bytes);
        let request = wire::encode(&SyncRequest::Blocks {
            from: self.state.height.next(),
            max: cfg.max_blocks_per_request,
        });
        tokio::spawn(async move {
            let timeout = Duration::from_millis(cfg.request_timeout_ms);
            for peer in order {
                let Ok(bytes) = net.request(peer, request.clone(), timeout).await else { continue };
                match wire::decode_kind::<SyncResponse>(&bytes, max) {
                    Ok(SyncResponse::Blocks(blocks)) if !blocks.is_empty() => {
                        let _ = tx.send(Internal::SyncBatch { from: Some(peer), blocks }).await;
                        return;
                    }
                    Ok(_) | Err(SyncError::NewerKind(_)) => {}
                    Err(_) => net.report_bad(peer, "malformed sync response"),
                }
            }
            let _ = tx.send(Internal::SyncBatch { from: None, blocks: Vec::new() }).await;
        });
    }

    async fn on_sync_batch(
        &mut self,
        from: Option<PublicKey>,
        blocks: Vec<CertifiedBlock>,
    ) -> Result<(), NodeError> {
        self.sync_in_flight = false;
        let (Some(peer), false) = (from, blocks.is_empty()) else {
            // Nobody is ahead of us.
            if self.catching_up || self.engine_behind {
                self.catching_up = false;
                info!(height = %self.state.height, "caught up; joining consensus");
                if self.engine_behind {
                    self.restart_engine()?;
                }
                self.publish_status();
            }
            return Ok(());
        };
        if !self.catching_up {
            info!(height = %self.state.height, %peer, "behind peers; syncing blocks");
            self.catching_up = true;
            self.publish_status();
        }
        let mut applied = 0u64;
        let mut blocks = blocks.into_iter();
        while let Some(cb) = blocks.next() {
            if cb.block.header.height <= self.state.height {
                continue;
            }
            let verdict = match self.verify_synced(&cb) {
                // Finalized by sampling: applied once enough different validators attested it.
                Err(SyncError::Unprovable { .. }) => self.attested(&cb),
                other => other.map(|()| true),
            };
            match verdict {
                Ok(true) => {}
                Ok(false) => {
                    // Not settled yet: remember what this peer attested further on, for the next round.
                    for later in blocks.by_ref() {
                        let _ = self.attested(&later);
                    }
                    debug!(%peer, height = %cb.block.header.height, "waiting for more attestations");
                    break;
                }
                Err(e) => {
                    if matches!(e, SyncError::LocalDivergence { .. }) {
                        // Never blame peers for our own fault; stop before building on a state nobody else has.
                        return Err(e.into());
                    }
                    warn!(%peer, error = %e, "rejecting synced block");
                    Counters::inc(&self.shared.counters.rejected_blocks);
                    self.net.report_bad(peer, &e.to_string());
                    break;
                }
            }
            self.attestations.prune(cb.block.header.height);
            let block = Arc::new(cb.block);
            self.engine_behind = true;
            self.commit_block(&block, &cb.certificate).await?;
            Counters::inc(&self.shared.counters.blocks_synced);
            applied += 1;
        }
        debug!(applied, height = %self.state.height, "sync batch applied");
        // Keep going until a round finds nobody ahead.
        self.trigger_sync();
        Ok(())
    }

    /// A block from a peer is accepted only with a finalization certificate of the validators of its height
    /// and a header that extends our chain.
    fn verify_synced(&self, cb: &CertifiedBlock) -> Result<(), SyncError> {
        let block = &cb.block;
        let height = block.header.height;
        let bad = |reason: String| SyncError::BadCertificate { height, reason };
        let cert: Certificate = cairn_primitives::decode(&cb.certificate, MAX_CERTIFICATE_BYTES)
            .map_err(|e| bad(format!("does not decode: {e}")))?;
        if cert.vote.kind == VoteKind::Prefer && cert.vote.height == height && cert.vote.block == block.id() {
            // Sampling finalizes without a quorum proof: a peer's own attestation (one signer) says what that
            // peer decided, not what the network did. The engine catches a lagging node up instead.
            return Err(SyncError::Unprovable { height });
        }
        if !cert.is_finality_kind() || cert.vote.height != height || cert.vote.block != block.id() {
            return Err(bad("it does not finalize this block at this height".into()));
        }
        // A snow block finalized by the fallback is certified by its height's committee, not the whole set; a
        // BFT block by a quorum of finalize votes or, on the fast path, notarize votes of all the weight.
        match self.state.engine() {
            EngineKind::Snow if cert.vote.kind == VoteKind::Finalize => {
                self.factory.snow_fallback_ok(&self.state.next, self.state.engine_epoch, &cert)
            }
            EngineKind::Snow => Err(cairn_consensus::Error::NotFinality(cert.vote.kind)),
            EngineKind::Bft => cert.verify_finality(&self.state.next, &self.shared.chain_id, &PlainVerifier),
        }
        .map_err(|e| bad(e.to_string()))?;
        // Under BFT the certificate names the view that finalized the block, and the block was proposed by the
        // leader of that view or, re-proposed there (a view bound by an earlier notarization keeps the block and
        // its header), by the leader of an earlier view of the height.
        if self.state.engine() == EngineKind::Bft {
            let (set, epoch) = (&self.state.next, self.state.engine_epoch);
            let led = proposer_led_a_view(&block.header.proposer, cert.vote.view, |view| {
                self.factory.bft_leader(set, epoch, height, view)
            });
            if !led {
                return Err(SyncError::BadBlock {
                    height,
                    reason: format!(
                        "proposer {} led none of the views 0..={} of this height",
                        block.header.proposer, cert.vote.view
                    ),
                });
            }
        }
        self.check_synced_header(block)
    }

    /// A header a quorum (or enough attesters) finalized, app hash included: if ours differs, it is our state that
    /// is wrong; otherwise it must extend our chain like any block.
    fn check_synced_header(&self, block: &Block) -> Result<(), SyncError> {
        let height = block.header.height;
        if height == self.state.height.next() && block.header.app_hash != self.state.app_hash {
            return Err(SyncError::LocalDivergence {
                height: self.state.height,
                ours: self.state.app_hash,
                chain: block.header.app_hash,
            });
        }
        self.check_header(block).map_err(|reason| SyncError::BadBlock { height, reason })
    }

    /// Records a sampled block's attestation (its signature checked) and says whether the block is settled: more
    /// than a third of the weight attested this id at this height (see `attest.rs`).
    fn attested(&mut self, cb: &CertifiedBlock) -> Result<bool, SyncError> {
        let block = &cb.block;
        let height = block.header.height;
        let bad = |reason: String| SyncError::BadCertificate { height, reason };
        let cert: Certificate = cairn_primitives::decode(&cb.certificate, MAX_CERTIFICATE_BYTES)
            .map_err(|e| bad(format!("does not decode: {e}")))?;
        if cert.vote.kind != VoteKind::Prefer || cert.vote.height != height || cert.vote.block != block.id() {
            return Err(bad("it does not attest this block at this height".into()));
        }
        let (_, signers) = cert
            .verify_signers(&self.state.next, &self.shared.chain_id, &cairn_consensus::PlainVerifier)
            .map_err(|e| bad(e.to_string()))?;
        self.attestations.add(self.state.height, height, block.id(), &signers);
        if height != self.state.height.next()
            || !self.attestations.settled(&self.state.next, height, &block.id())
        {
            return Ok(false);
        }
        self.check_synced_header(block)?;
        Ok(true)
    }

    fn housekeeping(&mut self) {
        // Bodies we are still waiting for (a fetch may have failed while peers were reconnecting).
        let mut missing: Vec<Hash> = self.finalize_queue.front().map(|f| f.block).into_iter().collect();
        missing.extend(
            self.pending_verify.iter().filter(|p| p.height == self.state.height.next()).map(|p| p.payload),
        );
        for id in missing {
            if self.shared.bodies().get(&id).is_none() {
                self.fetch_body(id, Duration::ZERO);
            }
        }
        let stall = Duration::from_millis(self.shared.config.consensus.leader_timeout_ms.saturating_mul(3));
        if self.last_commit_at.elapsed() > stall {
            self.trigger_sync();
        }
    }
}

fn lookup_body(shared: &Shared, id: &Hash) -> Option<Block> {
    if let Some(b) = shared.bodies().get(id) {
        return Some((*b).clone());
    }
    let store = shared.store().ok()?;
    let height = store.height_of(id).ok()??;
    store.block(height).ok()?
}

/// Finalized blocks from `from` on, capped by count and bytes (at least one block if we have it).
fn serve_blocks(shared: &Shared, from: Height, wanted: u32) -> Result<Vec<CertifiedBlock>, NodeError> {
    let store = shared.store()?;
    let cfg = &shared.config.sync;
    let limit = wanted.min(cfg.max_blocks_per_request);
    let budget = cfg.max_response_bytes.min(shared.config.p2p.max_message_bytes);
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let mut h = from;
    while (out.len() as u32) < limit {
        let (Some(block), Some(certificate)) = (store.block(h)?, store.certificate(h)?) else { break };
        let size = cairn_primitives::encode(&block).len() + certificate.len() + 16;
        // Always serve at least one block (if it fits a message at all), or a big block would stall sync.
        if (bytes + size > budget && !out.is_empty()) || size > shared.config.p2p.max_message_bytes {
            break;
        }
        bytes += size;
        out.push(CertifiedBlock { block, certificate });
        h = h.next();
    }
    Ok(out)
}

/// Runs blocking disk work (fsync) without stalling other tasks on a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// How far ahead of our clock a proposal's `time_ms` may be. Like CometBFT's proposer-based timestamps
/// (`precision` + `message_delay`), a bound on clock error plus delivery: validators run NTP, so 5 s is generous.
/// Only proposals are judged by it; a finalized or synced block is past this point and is checked for order only.
pub(crate) const MAX_FUTURE_SKEW_MS: u64 = 5_000;

/// A proposal from the far future would drag every later block's time with it (each must be above its parent).
fn check_time_skew(block: &Block, now_ms: u64) -> Result<(), String> {
    let limit = now_ms.saturating_add(MAX_FUTURE_SKEW_MS);
    if block.header.time_ms > limit {
        return Err(format!(
            "time_ms {} is more than {MAX_FUTURE_SKEW_MS} ms ahead of our clock ({now_ms})",
            block.header.time_ms
        ));
    }
    Ok(())
}

/// A BFT view has one leader: a block whose header names another proposer is not that leader's honest proposal
/// (the leader signed a header crediting someone else, e.g. to redirect the proposer's fees or blame).
fn check_proposer(block: &Block, leader: Option<PublicKey>) -> Result<(), String> {
    match leader {
        Some(leader) if block.header.proposer != leader => {
            Err(format!("proposer {} is not the view's leader {leader}", block.header.proposer))
        }
        _ => Ok(()),
    }
}

/// Views of a height scanned for the proposer of a synced block (a quorum certified the view, so a larger one is
/// not an attack on us; past this we check the latest views only).
const MAX_VIEWS_SCANNED: u64 = 4096;

/// Whether `proposer` is the leader (`leader_of`) of `view` or of an earlier view of the height: a block is
/// finalized in the view where it was proposed, or in a later one that had to re-propose it unchanged.
fn proposer_led_a_view(proposer: &PublicKey, view: u64, leader_of: impl Fn(u64) -> PublicKey) -> bool {
    (0..=view).rev().take(MAX_VIEWS_SCANNED as usize).any(|v| leader_of(v) == *proposer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::{ChainId, Header, Keypair};

    #[test]
    fn a_synced_block_may_be_a_re_proposal_of_an_earlier_views_leader() {
        // Leaders by view: 0 → key 0, 1 → key 1, 2 → key 2, 3 → key 3.
        let leader_of = |v: u64| Keypair::derived("t", v).public();
        let original = Keypair::derived("t", 0).public();
        // Finalized in view 3 after a re-proposal of view 0's block: allowed (a loaded 2|2 partition made a
        // node ban every honest peer over this before).
        assert!(proposer_led_a_view(&original, 3, leader_of));
        assert!(proposer_led_a_view(&Keypair::derived("t", 3).public(), 3, leader_of));
        // A leader of a *later* view than the certificate's, or nobody's, did not propose it.
        assert!(!proposer_led_a_view(&Keypair::derived("t", 4).public(), 3, leader_of));
        assert!(!proposer_led_a_view(&Keypair::derived("u", 0).public(), 3, leader_of));
    }

    #[test]
    fn a_block_must_name_the_views_leader_as_proposer() {
        let block = block_at(1);
        assert!(check_proposer(&block, Some(Keypair::derived("t", 0).public())).is_ok());
        assert!(check_proposer(&block, None).is_ok(), "engines without a leader require none");
        let err = check_proposer(&block, Some(Keypair::derived("t", 1).public())).unwrap_err();
        assert!(err.contains("not the view's leader"), "{err}");
    }

    fn block_at(time_ms: u64) -> Block {
        Block {
            header: Header {
                chain_id: ChainId::new("t").unwrap(),
                height: Height(1),
                parent: Hash::ZERO,
                time_ms,
                proposer: Keypair::derived("t", 0).public(),
                txs_root: Hash::ZERO,
                app_hash: Hash::ZERO,
                validators_hash: Hash::ZERO,
                last_commit_hash: Hash::ZERO,
                evidence_root: Hash::ZERO,
            },
            txs: Vec::new(),
            last_commit: Vec::new(),
            evidence: Vec::new(),
        }
    }

    #[test]
    fn proposals_from_the_far_future_are_refused_at_the_bound() {
        let now = 1_700_000_000_000;
        assert!(check_time_skew(&block_at(now + MAX_FUTURE_SKEW_MS), now).is_ok());
        let err = check_time_skew(&block_at(now + MAX_FUTURE_SKEW_MS + 1), now).unwrap_err();
        assert!(err.contains("ahead of our clock"), "{err}");
    }
}
