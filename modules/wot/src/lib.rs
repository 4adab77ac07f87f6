#![doc = include_str!("../README.md")]
#![no_std]

extern crate alloc;

pub mod contract;
pub mod distance;
pub mod msg;
pub mod state;
mod web;

cairn_sdk::entry_points! {
    instantiate: contract::instantiate,
    execute: contract::execute,
    query: contract::query,
    migrate: contract::migrate,
    end_block: contract::end_block,
    validator_set_updates: contract::validator_set_updates,
    quota: contract::quota,
}
