#![doc = include_str!("../README.md")]

pub mod byzantine;
mod cache;
mod config;
mod costs;
mod digest;
mod error;
mod keymap;
mod protocol;
mod queue;
mod report;
mod sim;
mod snow;

pub use cache::SharedVerifier;
pub use config::{Behaviour, Crash, Latency, LinkCut, Partition, SetChange, SimConfig, churn};
pub use costs::{Costs, Work};
pub use error::Error;
pub use protocol::{Bft, NodeContext, Protocol};
pub use report::{NetworkCounters, Percentiles, Report};
pub use sim::{CHAIN_ID, Simulation, node_key, run};
pub use snow::Snow;
