//! One integration-test binary per crate (faster to link than one per file).

mod bench;
mod common;
mod distance;
mod invariants;
mod smiths;
mod wot;
