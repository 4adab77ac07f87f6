//! # cairn-sim — a deterministic network simulator for consensus engines
//!
//! Runs N copies of any [`cairn_consensus::Engine`] over a simulated network in virtual time: latency (constant,
//! uniform range or region matrix) plus jitter, message loss, partitions that start and heal, crashes and restarts
//! from the node's WAL, and Byzantine behaviours (one file each in `byzantine/`). While it runs it checks safety
//! (no two honest nodes finalize different blocks at one height) and measures finality latency at every honest
//! node, messages and bytes per node per decision and views per decision.
//!
//! Same [`SimConfig`] (seed included) ⇒ the same events in the same order ⇒ the same [`Report`], byte for byte,
//! down to its `audit_digest` (blake3 over every event). One seeded ChaCha RNG draws every latency and loss;
//! Byzantine nodes get their own seeds derived from it; maps are ordered.
//!
//! Engines plug in through [`Protocol`] (how to build an honest node and each Byzantine behaviour); [`Bft`] is
//! the Simplex-family engine of `cairn-bft`.
//!
//! ```
//! use cairn_sim::{Bft, SimConfig, run};
//! let report = run(&Bft, &SimConfig { nodes: 4, decisions: 3, ..SimConfig::default() }, &mut |_| {}).unwrap();
//! assert_eq!(report.decided, 3);
//! assert_eq!(report.safety_violations, 0);
//! ```

pub mod byzantine;
mod cache;
mod config;
mod error;
mod protocol;
mod report;
mod sim;

pub use cache::SharedVerifier;
pub use config::{Behaviour, Crash, Latency, Partition, SetChange, SimConfig};
pub use error::Error;
pub use protocol::{Bft, NodeContext, Protocol};
pub use report::{NetworkCounters, Percentiles, Report};
pub use sim::{CHAIN_ID, Simulation, node_key, run};
