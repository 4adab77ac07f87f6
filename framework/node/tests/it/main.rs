//! Scenario tests of the node: real redb files in temp dirs; real libp2p sockets on loopback unless a test says
//! it uses the in-memory hub.

mod common;
mod config_errors;
mod divergence;
mod evidence;
mod handshake;
mod localnet;
mod restart_and_sync;
