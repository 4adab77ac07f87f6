#![doc = include_str!("../README.md")]

mod addr;
mod batch;
mod binding;
mod codec;
mod config;
mod error;
mod events;
mod filter;
mod identity;
mod network;
mod rate;
mod score;

pub use addr::PeerAddr;
pub use binding::{Binding, BindingError};
pub use config::{
    DEFAULT_MAX_CONSENSUS_BYTES, DEFAULT_MAX_MESSAGE_BYTES, MAX_MESSAGE_CEILING, P2pConfig, Topic,
};
pub use error::P2pError;
pub use events::{EventLane, NetEvent, NetEvents, PEER_SHARE_DIVISOR, ResponseHandle};
pub use filter::{AcceptAll, GossipFilter, GossipVerdict, TxVerdict};
pub use identity::{libp2p_keypair, peer_id_of, public_key_of};
pub use network::{NetStats, Network, NetworkHandle};

/// The libp2p version this crate is built on, for callers that need its types (e.g. `PeerId`).
pub use libp2p;
