#![doc = include_str!("../README.md")]

pub mod api;
mod attest;
pub mod config;
mod driver;
mod engines;
mod error;
pub mod evidence;
mod future_epoch;
pub mod genesis;
mod gossip_filter;
mod handle;
pub mod handshake;
mod intake;
pub mod keys;
pub mod net;
mod node;
mod p2p_transport;
mod per_key;
mod serve_budget;
mod shared;
pub mod signer;
pub mod state;
mod types;
pub mod wire;

pub use config::{AppMode, NodeConfig, NodeKeyFile, P2P_KEY_FILE, VALIDATOR_KEY_FILE};
pub use error::{ConfigError, HandshakeError, NodeError, SyncError};
pub use genesis::{Genesis, GenesisValidator};
pub use handle::NodeHandle;
pub use keys::{Migration, NodeKeys};
pub use node::{Node, NodeBuilder, connect_app, start};
pub use types::{NetCounters, NodeCounters, NodeEvent, NodeStatus, TxRecord};
