#![doc = include_str!("../README.md")]
#![no_std]

extern crate alloc;

pub mod contract;
pub mod msg;
pub mod slashing;
pub mod staking;
pub mod state;

cairn_sdk::entry_points! {
    instantiate: contract::instantiate,
    execute: contract::execute,
    query: contract::query,
    migrate: contract::migrate,
    begin_block: contract::begin_block,
    end_block: contract::end_block,
    validator_set_updates: contract::validator_set_updates,
}
