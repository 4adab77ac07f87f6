#![doc = include_str!("../README.md")]

mod attest;
mod blocks;
mod committee;
mod engine;
mod error;
mod fallback;
mod help;
mod params;
mod poll;
mod sampler;
mod sets;
mod tree;
mod wire;

pub use attest::ATTEST_VIEW;
pub use committee::{CommitteeCache, fallback_committee, verify_fallback_certificate};
pub use engine::{Config, PROPOSER_RANKS, SnowEngine, Stats, WalEntry};
pub use error::Error;
pub use fallback::{MAX_VIEW_AHEAD, PULL_FANOUT};
pub use params::{Params, Scaled, binomial_tail, split_failure_bound};
pub use sampler::{SamplerCache, WeightedSampler};
pub use tree::{KEPT_FINALIZED, MAX_AHEAD, MAX_CHILDREN};
pub use wire::{Header, MAX_HEADERS, MAX_SNOW_MESSAGE_BYTES, Message};
