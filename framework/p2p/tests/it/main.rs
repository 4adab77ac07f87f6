//! Scenario tests on real loopback sockets: connect, gossip, direct messages, restarts, misbehaving peers.

mod abuse;
mod basics;
mod binding;
mod properties;
mod restart;
mod support;
