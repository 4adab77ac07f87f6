#![doc = include_str!("../README.md")]

mod engine;
mod error;
mod fast;
mod leader;
mod signer;
mod votes;
mod wire;

pub use engine::{BftEngine, Config, KEPT_FINALIZATIONS, MAX_FUTURE_MESSAGES, MAX_VIEW_AHEAD};
pub use error::Error;
pub use fast::binds;
pub use leader::leader;
pub use signer::WalEntry;
pub use votes::{Added, VoteBook};
pub use wire::Message;
