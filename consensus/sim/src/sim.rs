//! The discrete-event loop: a priority queue of (virtual time, sequence number) events, one seeded RNG, and
//! the nodes' engines. Nothing here reads a clock or iterates a hash map, so a seed fixes the whole run.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use cairn_consensus::{DropCounters, Effect, Engine, Input, Time, TimerId, WalRecord};
use cairn_primitives::{ChainId, Hash, Height, Keypair, PublicKey, Validator, ValidatorSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cache::SharedVerifier;
use crate::costs::Clock;
use crate::digest::AuditDigest;
use crate::keymap::KeyMap;
use crate::queue::EventQueue;
use crate::report::{NetworkCounters, Percentiles, Report, round3};
use crate::{Behaviour, Error, Latency, NodeContext, Protocol, SimConfig};

/// The chain id every simulated node signs with.
pub const CHAIN_ID: &str = "cairn-sim";

/// The key of simulated node `i` (deterministic, so tests can check certificates).
pub fn node_key(i: usize) -> Keypair {
    Keypair::derived("cairn/sim/node", i as u64)
}

enum Kind {
    Deliver {
        to: usize,
        from: usize,
        bytes: Bytes,
    },
    /// A delivered message whose signature checks kept the node's CPU busy until now.
    Process {
        to: usize,
        from: usize,
        bytes: Bytes,
    },
    Timer {
        node: usize,
        id: TimerId,
        generation: u64,
    },
    Crash {
        node: usize,
        torn: bool,
    },
    Restart {
        node: usize,
    },
    /// Node `node` executes a finalized block (lag mode); dropped if the node crashed since (`incarnation`).
    Execute {
        node: usize,
        height: Height,
        block: Hash,
        incarnation: u64,
    },
}

struct Node {
    ctx: NodeContext,
    behaviour: Option<Behaviour>,
    engine: Option<Box<dyn Engine>>,
    /// Pending timers: id → generation (a fired timer whose generation is stale was replaced or cancelled).
    timers: BTreeMap<TimerId, u64>,
    wal: Vec<WalRecord>,
    /// The last block the node executed: where it restarts from.
    last_final: (Height, Hash),
    /// The highest height its engines ever finalized (survives crashes; at or above `last_final`).
    finalized: Height,
    /// Bumped on every crash, so executions scheduled before it are dropped.
    incarnation: u64,
    sent: u64,
    sent_bytes: u64,
    /// Counters of engines that crashed (the live engine's are read at the end).
    dropped: DropCounters,
    /// Crash inside the next batch that persists something (see `Crash::torn`).
    torn_pending: bool,
    /// `Behaviour::Twins`: the index of this validator's second engine (same key), which serves side 1.
    twin: Option<usize>,
    /// The node's CPU and uplink (see `costs`).
    clock: Clock,
    /// Which side of a twinned validator this node talks to (twins' originals 0, their copies 1, the other
    /// nodes alternately).
    side: u8,
}

impl Node {
    fn honest(&self) -> bool {
        self.behaviour.is_none()
    }

    /// A node with this one's identity and nothing else (a twin's second engine).
    fn clone_fresh(&self) -> Node {
        Node {
            ctx: self.ctx.clone(),
            behaviour: self.behaviour,
            engine: None,
            timers: BTreeMap::new(),
            wal: Vec::new(),
            last_final: self.last_final,
            finalized: Height(0),
            incarnation: 0,
            sent: 0,
            sent_bytes: 0,
            dropped: DropCounters::default(),
            torn_pending: false,
            clock: Clock::default(),
            twin: None,
            side: 0,
        }
    }
}

/// A simulation in progress. Most callers want [`run`].
pub struct Simulation<'a> {
    cfg: SimConfig,
    protocol: &'a dyn Protocol,
    nodes: Vec<Node>,
    /// Key → node index. A hash map is fine here: it is only looked up, never iterated.
    index_of: KeyMap,
    /// Node index (twins' copies included) → its key: every delivery names its sender, and reading the key from
    /// this dense array instead of the sender's `Node` saves a cache miss per message at 10,000 nodes.
    key_of: Vec<PublicKey>,
    /// Reused buffers of `drive` (no allocation per event).
    buffers: Vec<(VecDeque<Input>, Vec<Effect>)>,
    queue: EventQueue<Kind>,
    seq: u64,
    generation: u64,
    rng: ChaCha8Rng,
    now: Time,
    genesis: Hash,
    sets: BTreeMap<Height, Arc<ValidatorSet>>,
    genesis_set: Arc<ValidatorSet>,
    proposed_at: BTreeMap<Hash, Time>,
    /// Per height: the block, the views it took, when an honest node first finalized it.
    decided: BTreeMap<Height, (Hash, u64, Time)>,
    certificates: BTreeMap<Height, cairn_consensus::Certificate>,
    samples: Vec<(Time, u64)>,
    safety_violations: u64,
    /// Heights some honest node finalized through a fallback path (`Protocol::is_fallback`).
    fallback_heights: BTreeSet<Height>,
    evidence: BTreeSet<(PublicKey, Height, u64, u8)>,
    evidence_against_honest: u64,
    net: NetworkCounters,
    done: usize,
    digest: AuditDigest,
}

/// Runs `cfg` with engines from `protocol`; `progress` is called with the number of decided heights as it grows.
pub fn run(protocol: &dyn Protocol, cfg: &SimConfig, progress: &mut dyn FnMut(u64)) -> Result<Report, Error> {
    let mut sim = Simulation::new(protocol, cfg.clone())?;
    sim.run(progress);
    Ok(sim.report())
}

fn build_set(keys: &[PublicKey], weights: &[u64]) -> Result<Arc<ValidatorSet>, Error> {
    let validators = keys
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0)
        .map(|(k, w)| Validator { public_key: *k, power: *w })
        .collect();
    ValidatorSet::new(validators).map(Arc::new).map_err(|e| Error::Config(e.to_string()))
}

impl<'a> Simulation<'a> {
    pub fn new(protocol: &'a dyn Protocol, cfg: SimConfig) -> Result<Simulation<'a>, Error> {
        cfg.validate()?;
        let chain_id = ChainId::new(CHAIN_ID).map_err(|e| Error::Config(e.to_string()))?;
        let genesis = Hash::digest_parts(&[b"cairn/sim/genesis", &cfg.seed.to_le_bytes()]);
        let keypairs: Vec<Keypair> = (0..cfg.nodes).map(node_key).collect();
        let keys: Vec<PublicKey> = keypairs.iter().map(Keypair::public).collect();
        let weights = if cfg.weights.is_empty() { vec![1; cfg.nodes] } else { cfg.weights.clone() };
        let genesis_set = build_set(&keys, &weights)?;
        let mut sets = BTreeMap::new();
        sets.insert(Height(0), genesis_set.clone());
        for change in &cfg.set_changes {
            sets.insert(change.height, build_set(&keys, &change.weights)?);
        }
        protocol.validate()?;
        let verifier: Arc<SharedVerifier> = Arc::new(SharedVerifier::default());
        let peers: Arc<[PublicKey]> = keys.clone().into();
        let behaviours: BTreeMap<usize, Behaviour> = cfg.byzantine.iter().copied().collect();
        let mut nodes = Vec::with_capacity(cfg.nodes);
        for (i, key) in keypairs.into_iter().enumerate() {
            let ctx = NodeContext {
                index: i,
                key,
                chain_id: chain_id.clone(),
                seed: genesis,
                node_seed: cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(i as u64),
                leader_timeout: cfg.leader_timeout,
                verifier: verifier.clone(),
                peers: peers.clone(),
            };
            let behaviour = behaviours.get(&i).copied();
            // Fail early on behaviours the engine does not have.
            if let Some(b) = behaviour {
                protocol.byzantine(b, &ctx)?;
            }
            nodes.push(Node {
                ctx,
                behaviour,
                engine: None,
                timers: BTreeMap::new(),
                wal: Vec::new(),
                last_final: (Height(0), genesis),
                finalized: Height(0),
                incarnation: 0,
                sent: 0,
                sent_bytes: 0,
                dropped: DropCounters::default(),
                torn_pending: false,
                clock: Clock::default(),
                twin: None,
                side: 0,
            });
        }
        // Twins: a second honest engine per twinned key, on side 1; every other node sits on one side.
        let mut next_side = 0;
        for i in 0..cfg.nodes {
            if nodes[i].behaviour == Some(Behaviour::Twins) {
                let copy = Node { twin: None, side: 1, ..nodes[i].clone_fresh() };
                nodes[i].twin = Some(nodes.len());
                nodes.push(copy);
            } else {
                nodes[i].side = next_side;
                next_side ^= 1;
            }
        }
        let index_of = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let key_of = nodes.iter().map(|n| n.ctx.key.public()).collect();
        let mut sim = Simulation {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            protocol,
            nodes,
            index_of,
            key_of,
            buffers: Vec::new(),
            queue: EventQueue::default(),
            seq: 0,
            generation: 0,
            now: 0,
            genesis,
            sets,
            genesis_set,
            proposed_at: BTreeMap::new(),
            decided: BTreeMap::new(),
            certificates: BTreeMap::new(),
            samples: Vec::new(),
            safety_violations: 0,
            fallback_heights: BTreeSet::new(),
            evidence: BTreeSet::new(),
            evidence_against_honest: 0,
            net: NetworkCounters::default(),
            done: 0,
            digest: AuditDigest::default(),
        };
        for crash in sim.cfg.crashes.clone() {
            if crash.node >= sim.nodes.len() {
                return Err(Error::Config(format!("crash of node {} which does not exist", crash.node)));
            }
            sim.push(crash.at, Kind::Crash { node: crash.node, torn: crash.torn });
            if let Some(at) = crash.restart {
                sim.push(at.max(crash.at), Kind::Restart { node: crash.node });
            }
        }
        Ok(sim)
    }

    fn push(&mut self, at: Time, kind: Kind) {
        self.seq += 1;
        self.queue.push(at, self.seq, kind);
    }

    /// The validator set deciding `height`.
    fn set_for(&self, height: Height) -> Arc<ValidatorSet> {
        self.sets.range(..=height).next_back().map_or_else(|| self.genesis_set.clone(), |(_, s)| s.clone())
    }

    /// Honest nodes that should reach the target (all but those crashed for good).
    fn expected_done(&self) -> usize {
        let gone: BTreeSet<usize> =
            self.cfg.crashes.iter().filter(|c| c.restart.is_none()).map(|c| c.node).collect();
        self.nodes.iter().enumerate().filter(|(i, n)| n.honest() && !gone.contains(i)).count()
    }

    fn boot(&mut self, i: usize) {
        let node = &self.nodes[i];
        let engine = match node.behaviour {
            None => Ok(self.protocol.honest(&node.ctx)),
            Some(b) => self.protocol.byzantine(b, &node.ctx),
        };
        let Ok(engine) = engine else { return };
        self.nodes[i].engine = Some(engine);
        let last = self.nodes[i].last_final;
        let wal: Vec<WalRecord> = self.nodes[i].wal.iter().filter(|r| r.height > last.0).cloned().collect();
        let inputs = vec![
            Input::ValidatorSet { height: last.0.next(), validators: self.set_for(last.0.next()) },
            Input::ValidatorSet {
                height: last.0.next().next(),
                validators: self.set_for(last.0.next().next()),
            },
            Input::Start { last_finalized: last, wal },
        ];
        self.drive(i, inputs);
    }

    /// Feeds `inputs` (and whatever they cause locally: payloads, verdicts, validator sets) to node `i`.
    fn drive(&mut self, i: usize, inputs: Vec<Input>) {
        let (mut queue, mut effects) = self.buffers.pop().unwrap_or_default();
        queue.clear();
        queue.extend(inputs);
        self.drive_queue(i, &mut queue, &mut effects);
        self.buffers.push((queue, effects));
    }

    /// Delivers one input without allocating (the hot path: every message).
    fn drive_one(&mut self, i: usize, input: Input) {
        let (mut queue, mut effects) = self.buffers.pop().unwrap_or_default();
        queue.clear();
        queue.push_back(input);
        self.drive_queue(i, &mut queue, &mut effects);
        self.buffers.push((queue, effects));
    }

    fn drive_queue(&mut self, i: usize, queue: &mut VecDeque<Input>, effects: &mut Vec<Effect>) {
        while let Some(input) = queue.pop_front() {
            let Some(engine) = self.nodes[i].engine.as_mut() else { return };
            effects.clear();
            engine.handle(self.now, input, effects);
            if self.nodes[i].torn_pending && effects.iter().any(|e| matches!(e, Effect::Persist(_))) {
                // Perform what came before the first record, write every record, drop the rest, and die.
                let mut persisted = false;
                for effect in effects.drain(..) {
                    match effect {
                        Effect::Persist(record) => {
                            persisted = true;
                            self.nodes[i].wal.push(record);
                        }
                        other if !persisted => self.perform(i, other, queue),
                        _ => {}
                    }
                }
                self.crash(i);
                return;
            }
            for effect in effects.drain(..) {
                self.perform(i, effect, queue);
            }
        }
    }

    fn perform(&mut self, i: usize, effect: Effect, local: &mut VecDeque<Input>) {
        let now = self.now;
        match effect {
            Effect::Persist(record) => {
                // Every record is a vote just signed.
                self.nodes[i].clock.run(now, self.cfg.costs.sign_us);
                self.nodes[i].wal.push(record);
            }
            Effect::Send { to, bytes } => {
                self.digest.update(&[1]);
                self.digest.update(&(i as u64).to_le_bytes());
                self.digest.update(&to.0);
                self.digest.update(&bytes);
                if let Some(&j) = self.index_of.get(&to)
                    && let Some(d) = self.destination(i, j)
                {
                    self.transmit(i, d, bytes);
                }
            }
            Effect::Broadcast { bytes } => {
                self.digest.update(&[2]);
                self.digest.update(&(i as u64).to_le_bytes());
                self.digest.update(&bytes);
                for j in 0..self.cfg.nodes {
                    if let Some(d) = self.destination(i, j) {
                        self.transmit(i, d, bytes.clone());
                    }
                }
            }
            Effect::SetTimer { id, at } => {
                self.generation += 1;
                let generation = self.generation;
                self.nodes[i].timers.insert(id, generation);
                self.push(at.max(now), Kind::Timer { node: i, id, generation });
            }
            Effect::CancelTimer { id } => {
                self.nodes[i].timers.remove(&id);
            }
            Effect::BuildPayload { height, view, parent } => {
                self.nodes[i].clock.run(now, self.cfg.costs.build_payload_us);
                let payload = Hash::digest_parts(&[
                    b"cairn/sim/payload",
                    &self.genesis.0,
                    &(i as u64).to_le_bytes(),
                    &height.0.to_le_bytes(),
                    &view.to_le_bytes(),
                    &parent.0,
                ]);
                self.proposed_at.entry(payload).or_insert(now);
                local.push_back(Input::PayloadBuilt { height, view, payload });
            }
            Effect::VerifyPayload { height, payload, .. } => {
                self.nodes[i].clock.run(now, self.cfg.costs.verify_payload_us);
                // A payload no honest node built (a Byzantine leader's twin) is timed from its first arrival.
                self.proposed_at.entry(payload).or_insert(now);
                local.push_back(Input::PayloadVerdict { height, payload, valid: true });
            }
            Effect::Finalized(f) => {
                self.digest.update(&[3]);
                self.digest.update(&(i as u64).to_le_bytes());
                self.digest.update(&f.height.0.to_le_bytes());
                self.digest.update(&f.block.0);
                let honest = self.nodes[i].honest();
                // A restarted node re-finalizes what it had not executed: measure each height once per node.
                let first = f.height > self.nodes[i].finalized;
                self.nodes[i].finalized = self.nodes[i].finalized.max(f.height);
                if self.cfg.exec_delay == 0 {
                    self.execute(i, f.height, f.block);
                } else {
                    let incarnation = self.nodes[i].incarnation;
                    let (height, block) = (f.height, f.block);
                    self.push(
                        now + self.cfg.exec_delay,
                        Kind::Execute { node: i, height, block, incarnation },
                    );
                }
                let next = f.height.activation_of_update();
                local.push_back(Input::ValidatorSet { height: next, validators: self.set_for(next) });
                if honest {
                    self.on_honest_final(f, first);
                }
            }
            Effect::Evidence(e) => {
                if self.nodes[i].honest() {
                    let v = e.first.vote;
                    if self.evidence.insert((e.offender(), v.height, v.view, v.kind as u8)) {
                        let offender = self.index_of.get(&e.offender()).copied();
                        if offender.is_some_and(|o| self.nodes[o].honest()) {
                            self.evidence_against_honest += 1;
                        }
                    }
                }
            }
        }
    }

    /// The node executed `height`: it is now where a restart resumes, and the WAL below it can go.
    fn execute(&mut self, i: usize, height: Height, block: Hash) {
        let node = &mut self.nodes[i];
        if height == node.last_final.0.next() {
            node.last_final = (height, block);
            node.wal.retain(|r| r.height > height);
        }
    }

    /// Where a message from node `from` to validator `to` (a key index) goes: nowhere if it is the sender's own
    /// key, to the copy of a twinned validator if the sender is on side 1, else to `to`.
    fn destination(&self, from: usize, to: usize) -> Option<usize> {
        if to == self.nodes[from].ctx.index {
            return None;
        }
        match self.nodes[to].twin {
            Some(copy) if self.nodes[from].side == 1 => Some(copy),
            _ => Some(to),
        }
    }

    fn on_honest_final(&mut self, f: cairn_consensus::Finalized, first: bool) {
        let now = self.now;
        if self.protocol.is_fallback(&f.certificate) {
            self.fallback_heights.insert(f.height);
        }
        match self.decided.get(&f.height) {
            Some((block, _, _)) if *block != f.block => self.safety_violations += 1,
            Some(_) => {}
            None => {
                self.decided.insert(f.height, (f.block, f.certificate.vote.view + 1, now));
                self.certificates.insert(f.height, f.certificate.clone());
            }
        }
        if first && f.height.0 <= self.cfg.decisions {
            if let Some(t) = self.proposed_at.get(&f.block) {
                self.samples.push((now, now.saturating_sub(*t)));
            }
            if f.height.0 == self.cfg.decisions {
                self.done += 1;
            }
        }
    }

    fn transmit(&mut self, from: usize, to: usize, bytes: Bytes) {
        let now = self.now;
        self.net.sent += 1;
        let block = if self.protocol.work(&bytes).carries_block { self.cfg.costs.block_bytes } else { 0 };
        let wire = bytes.len() as u64 + block;
        if self.nodes[from].honest() {
            self.nodes[from].sent += 1;
            self.nodes[from].sent_bytes += wire;
        }
        // The message leaves once the sender's CPU and uplink are free (also for messages lost later).
        let departs = self.nodes[from].clock.send(now, wire, self.cfg.costs.uplink_bps);
        if self.cfg.partitions.iter().any(|p| p.cuts(now, from, to))
            || self.cfg.link_cuts.iter().any(|c| c.cuts(now, from, to))
        {
            self.net.partitioned += 1;
            return;
        }
        if self.cfg.loss > 0.0 && self.rng.r#gen::<f64>() < self.cfg.loss {
            self.net.lost += 1;
            return;
        }
        let base = match &self.cfg.latency {
            Latency::Constant(t) => *t,
            Latency::Uniform(lo, hi) => self.rng.gen_range(*lo..=*hi),
            Latency::Regions { region_of, matrix } => {
                let region = |n: usize| region_of.get(n % region_of.len().max(1)).copied().unwrap_or(0);
                matrix.get(region(from)).and_then(|row| row.get(region(to))).copied().unwrap_or_default()
            }
        };
        let jitter = if self.cfg.jitter > 0 { self.rng.gen_range(0..=self.cfg.jitter) } else { 0 };
        self.push(departs + base + jitter, Kind::Deliver { to, from, bytes });
    }

    fn crash(&mut self, i: usize) {
        self.nodes[i].torn_pending = false;
        self.nodes[i].incarnation += 1;
        if let Some(engine) = self.nodes[i].engine.take() {
            self.nodes[i].dropped.add(&engine.dropped());
        }
        self.nodes[i].timers.clear();
    }

    fn max_time(&self) -> Time {
        if self.cfg.max_time > 0 {
            self.cfg.max_time
        } else {
            self.cfg.decisions.saturating_mul(10_000).saturating_add(60_000)
        }
    }

    /// Runs until every honest node decided `decisions` heights, the queue empties, or the time limit.
    pub fn run(&mut self, progress: &mut dyn FnMut(u64)) {
        for i in 0..self.nodes.len() {
            self.boot(i);
        }
        let target = self.expected_done();
        let limit = self.max_time();
        let mut reported = 0;
        while let Some(event) = self.queue.pop() {
            if event.at > limit {
                break;
            }
            self.now = event.at;
            self.digest.update(&event.at.to_le_bytes());
            match event.item {
                Kind::Deliver { to, from, bytes } => {
                    if self.nodes[to].engine.is_none() {
                        self.net.to_crashed += 1;
                        continue;
                    }
                    self.net.delivered += 1;
                    let work = self.protocol.work(&bytes);
                    let cost = u64::from(work.verifies) * self.cfg.costs.verify_us;
                    let done = self.nodes[to].clock.run(self.now, cost);
                    if done > self.now {
                        self.push(done, Kind::Process { to, from, bytes });
                        continue;
                    }
                    let from = self.key_of[from];
                    self.drive_one(to, Input::Message { from, bytes });
                }
                Kind::Process { to, from, bytes } => {
                    if self.nodes[to].engine.is_none() {
                        self.net.to_crashed += 1;
                        continue;
                    }
                    let from = self.key_of[from];
                    self.drive_one(to, Input::Message { from, bytes });
                }
                Kind::Timer { node, id, generation } => {
                    if self.nodes[node].timers.get(&id) == Some(&generation) {
                        self.nodes[node].timers.remove(&id);
                        self.digest.update(&[4]);
                        self.drive_one(node, Input::Timer(id));
                    }
                }
                Kind::Crash { node, torn } => {
                    self.digest.update(&[5]);
                    if torn {
                        self.nodes[node].torn_pending = true;
                    } else {
                        self.crash(node);
                    }
                }
                Kind::Execute { node, height, block, incarnation } => {
                    if self.nodes[node].incarnation == incarnation {
                        self.digest.update(&[7]);
                        self.execute(node, height, block);
                    }
                }
                Kind::Restart { node } => {
                    self.digest.update(&[6]);
                    // A torn crash that found no batch to tear before its restart time does not happen.
                    self.nodes[node].torn_pending = false;
                    if self.nodes[node].engine.is_none() {
                        self.boot(node);
                    }
                }
            }
            if self.decided.len() as u64 > reported {
                reported = self.decided.len() as u64;
                progress(reported.min(self.cfg.decisions));
            }
            if self.done >= target {
                break;
            }
        }
    }

    pub fn report(&self) -> Report {
        let honest: Vec<&Node> = self.nodes.iter().filter(|n| n.honest()).collect();
        let decided = honest
            .iter()
            .filter(|n| n.engine.is_some())
            .map(|n| n.finalized.0)
            .min()
            .unwrap_or(0)
            .min(self.cfg.decisions);
        let per = |total: u64| {
            if decided == 0 || honest.is_empty() {
                0.0
            } else {
                round3(total as f64 / honest.len() as f64 / decided as f64)
            }
        };
        let views: Vec<u64> =
            self.decided.range(Height(1)..Height(decided + 1)).map(|(_, (_, views, _))| *views).collect();
        let mut previous = 0;
        let intervals: Vec<u64> = self
            .decided
            .range(Height(1)..Height(decided + 1))
            .map(|(_, (_, _, at))| {
                let gap = at.saturating_sub(previous);
                previous = *at;
                gap
            })
            .collect();
        let mut drops = DropCounters::default();
        for n in &honest {
            drops.add(&n.dropped);
            if let Some(e) = &n.engine {
                drops.add(&e.dropped());
            }
        }
        let latencies: Vec<u64> = self.samples.iter().map(|(_, l)| *l).collect();
        let mut behaviours: Vec<&'static str> = self.cfg.byzantine.iter().map(|(_, b)| b.name()).collect();
        behaviours.sort_unstable();
        behaviours.dedup();
        Report {
            engine: self.protocol.name(),
            nodes: self.cfg.nodes,
            byzantine: self.cfg.byzantine.len(),
            behaviours,
            seed: self.cfg.seed,
            latency: self.cfg.latency.to_string(),
            loss: self.cfg.loss,
            leader_timeout_ms: self.cfg.leader_timeout,
            decisions: self.cfg.decisions,
            decided,
            safety_violations: self.safety_violations,
            finality_ms: Percentiles::of(&latencies),
            decision_interval_ms: Percentiles::of(&intervals),
            views_per_decision: if views.is_empty() {
                0.0
            } else {
                round3(views.iter().sum::<u64>() as f64 / views.len() as f64)
            },
            msgs_per_node_per_decision: per(honest.iter().map(|n| n.sent).sum()),
            bytes_per_node_per_decision: per(honest.iter().map(|n| n.sent_bytes).sum()),
            virtual_time_ms: self.now,
            network: self.net.clone(),
            engine_drops: drops,
            fallbacks: self.fallback_heights.range(Height(1)..Height(decided + 1)).count() as u64,
            evidence: self.evidence.len() as u64,
            evidence_against_honest: self.evidence_against_honest,
            audit_digest: self.digest.hex(),
            samples: self.samples.clone(),
            certificates: self.certificates.clone(),
        }
    }

    /// The WAL records node `i` holds (tests check restarts against it).
    pub fn wal(&self, i: usize) -> &[WalRecord] {
        self.nodes.get(i).map_or(&[], |n| n.wal.as_slice())
    }
}
