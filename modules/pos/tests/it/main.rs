//! One integration-test binary per crate (faster to link than one per file).

mod common;
mod hybrid;
mod invariants;
mod slashing;
mod staking;
