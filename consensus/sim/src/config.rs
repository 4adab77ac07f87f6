//! What a simulation runs: the network, its faults and the nodes' behaviours.

use std::fmt;
use std::str::FromStr;

use cairn_consensus::Time;
use cairn_primitives::Height;
use serde::Serialize;

use crate::{Costs, Error};

/// One-way delay of a link (before jitter).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Latency {
    /// Every link takes exactly this long.
    Constant(Time),
    /// Each message takes a uniform delay in `[lo, hi]`.
    Uniform(Time, Time),
    /// Node `i` lives in region `region_of[i % len]`; a message from region `a` to `b` takes `matrix[a][b]`.
    Regions { region_of: Vec<usize>, matrix: Vec<Vec<Time>> },
}

impl FromStr for Latency {
    type Err = Error;

    /// `50ms`, `50` or `50ms..150ms`.
    fn from_str(s: &str) -> Result<Latency, Error> {
        let err = |reason: &str| Error::Parse { what: "latency", input: s.into(), reason: reason.into() };
        let ms = |part: &str| -> Result<Time, Error> {
            let t = part.trim();
            let t = t.strip_suffix("ms").unwrap_or(t);
            t.parse::<Time>().map_err(|_| err("expected milliseconds like `50ms` or a range `50ms..150ms`"))
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let (lo, hi) = (ms(a)?, ms(b)?);
                if lo > hi {
                    return Err(err("the range's low end is above its high end"));
                }
                Ok(Latency::Uniform(lo, hi))
            }
            None => Ok(Latency::Constant(ms(s)?)),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Constant(t) => write!(f, "{t}ms"),
            Latency::Uniform(a, b) => write!(f, "{a}ms..{b}ms"),
            Latency::Regions { matrix, .. } => write!(f, "regions({})", matrix.len()),
        }
    }
}

/// Nodes in different groups cannot exchange messages from `start` until `end` (messages sent in that window
/// between groups are lost). Nodes in no group form one more group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Partition {
    pub groups: Vec<Vec<usize>>,
    pub start: Time,
    pub end: Time,
}

impl Partition {
    /// `0-2|3-6@2000..6000` (node ranges separated by `|`) or `halves@2000..6000`.
    pub fn parse(s: &str, nodes: usize) -> Result<Partition, Error> {
        let err = |reason: &str| Error::Parse { what: "partition", input: s.into(), reason: reason.into() };
        let (groups, window) =
            s.split_once('@').ok_or_else(|| err("expected GROUPS@START..END, e.g. `halves@2000..6000`"))?;
        let (a, b) = window.split_once("..").ok_or_else(|| err("expected a window START..END in ms"))?;
        let parse_t = |t: &str| {
            let t = t.trim();
            t.strip_suffix("ms").unwrap_or(t).parse::<Time>().map_err(|_| err("window ends must be ms"))
        };
        let (start, end) = (parse_t(a)?, parse_t(b)?);
        if start > end {
            return Err(err("the window starts after it ends"));
        }
        let groups = if groups.trim() == "halves" {
            vec![(0..nodes / 2).collect(), (nodes / 2..nodes).collect()]
        } else {
            let mut out = Vec::new();
            for g in groups.split('|') {
                let mut members = Vec::new();
                for part in g.split(',') {
                    let (lo, hi) = match part.split_once('-') {
                        Some((lo, hi)) => (lo, hi),
                        None => (part, part),
                    };
                    let lo: usize = lo.trim().parse().map_err(|_| err("groups are node ranges like 0-2"))?;
                    let hi: usize = hi.trim().parse().map_err(|_| err("groups are node ranges like 0-2"))?;
                    if lo > hi || hi >= nodes {
                        return Err(err("a node range is empty or names a node that does not exist"));
                    }
                    members.extend(lo..=hi);
                }
                out.push(members);
            }
            out
        };
        Ok(Partition { groups, start, end })
    }

    fn group_of(&self, node: usize) -> usize {
        self.groups.iter().position(|g| g.contains(&node)).unwrap_or(self.groups.len())
    }

    /// Whether a message sent at `now` from `a` to `b` is cut.
    pub fn cuts(&self, now: Time, a: usize, b: usize) -> bool {
        now >= self.start && now < self.end && self.group_of(a) != self.group_of(b)
    }
}

/// Messages from `from` to `to` sent in `[start, end)` are lost (one direction only): finer than a partition,
/// e.g. two validators that cannot hear each other while both hear everyone else (adversarial schedules in
/// named scenarios).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LinkCut {
    pub from: usize,
    pub to: usize,
    pub start: Time,
    pub end: Time,
}

impl LinkCut {
    /// Whether a message sent at `now` from `from` to `to` is cut.
    pub fn cuts(&self, now: Time, from: usize, to: usize) -> bool {
        now >= self.start && now < self.end && (from, to) == (self.from, self.to)
    }
}

/// A node stops at `at` (losing everything not persisted) and, if `restart` is set, comes back then from its
/// WAL and block store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Crash {
    pub node: usize,
    pub at: Time,
    pub restart: Option<Time>,
    /// Crash in the middle of the node's first batch at or after `at` that persists a WAL record: the records
    /// are durable, the messages that were to follow them are never sent (the worst moment for double votes).
    pub torn: bool,
}

/// Churn: `fraction` of the nodes (chosen by `seed`, never those listed in `skip`) each crash once at a random
/// time in `[start, start + span)` and restart `downtime` ms later from their WAL and block store.
pub fn churn(
    nodes: usize,
    fraction: f64,
    seed: u64,
    skip: &[usize],
    start: Time,
    span: Time,
    downtime: Time,
) -> Vec<Crash> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xC4_u64.rotate_left(56));
    let count = ((nodes as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
    let mut candidates: Vec<usize> = (0..nodes).filter(|i| !skip.contains(i)).collect();
    let mut out = Vec::new();
    while out.len() < count && !candidates.is_empty() {
        let node = candidates.swap_remove(rng.gen_range(0..candidates.len()));
        let at = start + rng.gen_range(0..span.max(1));
        out.push(Crash { node, at, restart: Some(at + downtime), torn: false });
    }
    out.sort_by_key(|c| (c.at, c.node));
    out
}

/// How a Byzantine node misbehaves. Each lives in its own file under `byzantine/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    /// Never sends anything.
    Silent,
    /// Double-signs: two conflicting proposals/votes, one to each half of the network.
    Equivocate,
    /// As leader, proposes one block to half the network and another to the other half.
    Conflict,
    /// Votes only to nullify, never notarizes or finalizes.
    Null,
    /// Sends random garbage bytes and random well-formed but nonsensical messages.
    Random,
    /// Sends its votes with signatures that do not verify.
    Impersonate,
    /// (Sampling engines) answers polls with the minority preference.
    Balance,
    /// As leader, proposes a fresh block where it must re-propose the notarized one (hides the notarization).
    Unjustified,
    /// Signs `Nullify(v)` and `Finalize(v)` both.
    NullifyAndFinalize,
    /// Two honest engines with one key, each talking to one side of the network.
    Twins,
    /// Notarize votes to half the network only, nullify votes that claim nothing, no help to laggards, fresh
    /// blocks where a re-proposal is due: splits honest timers to attack the fast path.
    SplitVotes,
}

impl Behaviour {
    pub const ALL_BFT: [Behaviour; 10] = [
        Behaviour::Silent,
        Behaviour::Equivocate,
        Behaviour::Conflict,
        Behaviour::Null,
        Behaviour::Random,
        Behaviour::Impersonate,
        Behaviour::Unjustified,
        Behaviour::NullifyAndFinalize,
        Behaviour::Twins,
        Behaviour::SplitVotes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Silent => "silent",
            Behaviour::Equivocate => "equivocate",
            Behaviour::Conflict => "conflict",
            Behaviour::Null => "null",
            Behaviour::Random => "random",
            Behaviour::Impersonate => "impersonate",
            Behaviour::Balance => "balance",
            Behaviour::Unjustified => "unjustified",
            Behaviour::NullifyAndFinalize => "nullify_and_finalize",
            Behaviour::Twins => "twins",
            Behaviour::SplitVotes => "split_votes",
        }
    }
}

impl FromStr for Behaviour {
    type Err = Error;
    fn from_str(s: &str) -> Result<Behaviour, Error> {
        [Behaviour::Balance].into_iter().chain(Behaviour::ALL_BFT).find(|b| b.name() == s).ok_or_else(|| {
            Error::Parse {
                what: "behaviour",
                input: s.into(),
                reason: "expected silent, equivocate, conflict, null, random, impersonate, unjustified, \
                         nullify_and_finalize, twins, split_votes or balance"
                    .into(),
            }
        })
    }
}

/// A change of the validator set: from `height` on, node `i` has weight `weights[i]` (0 = not a validator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetChange {
    pub height: Height,
    pub weights: Vec<u64>,
}

/// A whole simulation. `Default` is 4 honest nodes, 50 ms links, 10 decisions.
#[derive(Clone, Debug, Serialize)]
pub struct SimConfig {
    pub nodes: usize,
    pub latency: Latency,
    /// Extra uniform delay in `[0, jitter]` per message.
    pub jitter: Time,
    /// Probability that a message is lost, in `[0, 1)`.
    pub loss: f64,
    pub partitions: Vec<Partition>,
    pub link_cuts: Vec<LinkCut>,
    pub crashes: Vec<Crash>,
    /// Byzantine nodes and what they do (nodes not listed are honest).
    pub byzantine: Vec<(usize, Behaviour)>,
    /// Initial weights (empty = every node weight 1).
    pub weights: Vec<u64>,
    /// Validator set changes; the application "returns" each at `height - 2`.
    pub set_changes: Vec<SetChange>,
    /// Stop once every live honest node has finalized this many heights.
    pub decisions: u64,
    /// Stop at this virtual time whatever happened (0 = `decisions × 10 s + 60 s`).
    pub max_time: Time,
    pub seed: u64,
    pub leader_timeout: Time,
    /// Execution lags finalization by this long (0 = a block is executed the instant it is finalized). A
    /// node restarts from its last *executed* height, as a real node does, so a crash in the lag window makes
    /// the engine re-learn heights it already finalized — and voted above.
    pub exec_delay: Time,
    /// CPU and bandwidth costs of each node (`Costs::free()` for none).
    pub costs: Costs,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 4,
            latency: Latency::Constant(50),
            jitter: 0,
            loss: 0.0,
            partitions: Vec::new(),
            link_cuts: Vec::new(),
            crashes: Vec::new(),
            byzantine: Vec::new(),
            weights: Vec::new(),
            set_changes: Vec::new(),
            decisions: 10,
            max_time: 0,
            seed: 1,
            leader_timeout: 500,
            exec_delay: 0,
            costs: Costs::default(),
        }
    }
}

impl SimConfig {
    /// The first `count` nodes behave as `behaviour` (the leader schedule is random, so which ones does not matter).
    pub fn with_byzantine(mut self, count: usize, behaviour: Behaviour) -> SimConfig {
        self.byzantine = (0..count).map(|i| (i, behaviour)).collect();
        self
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.nodes == 0 || self.nodes > 100_000 {
            return bad(format!("--nodes must be between 1 and 100000, got {}", self.nodes));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return bad(format!("--loss must be in [0, 1), got {}", self.loss));
        }
        if self.decisions == 0 {
            return bad("--decisions must be at least 1".into());
        }
        if self.leader_timeout == 0 {
            return bad("--leader-timeout must be positive".into());
        }
        if self.link_cuts.iter().any(|c| c.from >= self.nodes || c.to >= self.nodes) {
            return bad("a link cut names a node that does not exist".into());
        }
        if self.byzantine.iter().any(|(i, _)| *i >= self.nodes) {
            return bad("a Byzantine node index is out of range".into());
        }
        if self.byzantine.len() >= self.nodes {
            return bad(format!(
                "--byzantine {} leaves no honest node of {}",
                self.byzantine.len(),
                self.nodes
            ));
        }
        if !self.weights.is_empty() && self.weights.len() != self.nodes {
            return bad("weights must list one weight per node".into());
        }
        for c in &self.set_changes {
            if c.weights.len() != self.nodes || c.weights.iter().all(|w| *w == 0) {
                return bad("a validator set change must give one weight per node, not all zero".into());
            }
            if c.height.0 < 3 {
                return bad(
                    "validator set changes apply from height 3 on (an update at H applies at H+2)".into()
                );
            }
        }
        if let Latency::Regions { region_of, matrix } = &self.latency
            && (region_of.is_empty()
                || region_of.iter().any(|r| *r >= matrix.len())
                || matrix.iter().any(|row| row.len() != matrix.len()))
        {
            return bad("the region matrix must be square and cover every region".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency() {
        assert_eq!("50ms".parse::<Latency>().unwrap(), Latency::Constant(50));
        assert_eq!("50".parse::<Latency>().unwrap(), Latency::Constant(50));
        assert_eq!("50ms..150ms".parse::<Latency>().unwrap(), Latency::Uniform(50, 150));
        assert!("150ms..50ms".parse::<Latency>().is_err());
        assert!("fast".parse::<Latency>().is_err());
    }

    #[test]
    fn parses_partitions() {
        let p = Partition::parse("0-2|3,5-6@1000..4000", 7).unwrap();
        assert_eq!(p.groups, vec![vec![0, 1, 2], vec![3, 5, 6]]);
        // Node 4 is in no group: a group of its own.
        assert!(p.cuts(1000, 0, 4) && p.cuts(3999, 3, 4) && !p.cuts(4000, 0, 4) && !p.cuts(999, 0, 3));
        assert!(!p.cuts(2000, 5, 6));
        let h = Partition::parse("halves@0..10", 4).unwrap();
        assert_eq!(h.groups, vec![vec![0, 1], vec![2, 3]]);
        assert!(Partition::parse("0-9@0..10", 7).is_err());
        assert!(Partition::parse("0-2|3-6", 7).is_err());
        assert!(Partition::parse("0-2@10..0", 7).is_err());
    }

    #[test]
    fn parses_behaviours() {
        for b in Behaviour::ALL_BFT {
            assert_eq!(b.name().parse::<Behaviour>().unwrap(), b);
        }
        assert_eq!("balance".parse::<Behaviour>().unwrap(), Behaviour::Balance);
        assert!("evil".parse::<Behaviour>().is_err());
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(SimConfig { nodes: 0, ..SimConfig::default() }.validate().is_err());
        assert!(SimConfig { loss: 1.0, ..SimConfig::default() }.validate().is_err());
        assert!(SimConfig::default().with_byzantine(4, Behaviour::Silent).validate().is_err());
        assert!(SimConfig::default().validate().is_ok());
    }
}
