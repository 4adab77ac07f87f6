//! The summary of a run: what `cairn sim --json` prints.

use std::collections::BTreeMap;

use cairn_consensus::{Certificate, DropCounters, Time};
use cairn_primitives::Height;
use serde::Serialize;

/// Nearest-rank percentiles of finality latency, in virtual milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
    /// Number of (node, decision) latencies measured.
    pub samples: u64,
}

impl Percentiles {
    pub fn of(values: &[u64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let rank = |p: f64| {
            let idx = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
            v.get(idx).copied().unwrap_or_default()
        };
        let sum: u128 = v.iter().map(|x| u128::from(*x)).sum();
        Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            max: v.last().copied().unwrap_or_default(),
            mean: round3(sum as f64 / v.len() as f64),
            samples: v.len() as u64,
        }
    }
}

/// What happened to messages on the simulated links.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkCounters {
    /// Messages handed to the network (one per recipient of a broadcast).
    pub sent: u64,
    pub delivered: u64,
    /// Lost to `--loss`.
    pub lost: u64,
    /// Cut by a partition.
    pub partitioned: u64,
    /// Addressed to a node that was down when it arrived.
    pub to_crashed: u64,
}

/// One run's results. Serialises to the JSON of `cairn sim --json`: the same seed gives the same bytes.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub engine: &'static str,
    pub nodes: usize,
    pub byzantine: usize,
    pub behaviours: Vec<&'static str>,
    pub seed: u64,
    pub latency: String,
    pub loss: f64,
    pub leader_timeout_ms: Time,
    pub decisions: u64,
    /// Heights finalized by every honest node that is up at the end (at most `decisions`).
    pub decided: u64,
    /// (height, node) pairs where an honest node finalized a block other than the one another honest node did.
    pub safety_violations: u64,
    /// From the proposal's payload being built to finalization, at every honest node, for every decision.
    pub finality_ms: Percentiles,
    /// Time between consecutive heights being first finalized (includes views lost to silent leaders, which
    /// `finality_ms` does not: it starts at the proposal that succeeded).
    pub decision_interval_ms: Percentiles,
    /// Views used per decided height (1 = decided in its first view).
    pub views_per_decision: f64,
    /// Messages sent per honest node per decided height (a broadcast counts once per recipient).
    pub msgs_per_node_per_decision: f64,
    pub bytes_per_node_per_decision: f64,
    pub virtual_time_ms: Time,
    pub network: NetworkCounters,
    /// Inputs honest engines refused, summed over honest nodes.
    pub engine_drops: DropCounters,
    /// Decided heights that some honest node finalized through a fallback path (the snow engine's quorum
    /// epoch; always 0 for engines without one).
    pub fallbacks: u64,
    /// Distinct pieces of equivocation evidence honest nodes reported.
    pub evidence: u64,
    /// Evidence naming an honest node (must be 0: honest nodes never double-sign, even across restarts).
    pub evidence_against_honest: u64,
    /// blake3 over every event of the run: equal digests ⇔ identical runs.
    pub audit_digest: String,
    /// (finalized at, latency) of every sample, for plots.
    #[serde(skip)]
    pub samples: Vec<(Time, u64)>,
    /// The certificate each decided height was first finalized with.
    #[serde(skip)]
    pub certificates: BTreeMap<Height, Certificate>,
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
