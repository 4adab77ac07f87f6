#![doc = include_str!("../README.md")]

mod app;
pub mod state;
pub mod tx;

pub use app::KvStore;
pub use state::State;
