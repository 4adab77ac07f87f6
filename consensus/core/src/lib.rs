#![doc = include_str!("../README.md")]

mod certificate;
mod engine;
mod error;
mod evidence;
mod signer;
mod verifier;
mod vote;

pub use certificate::{Certificate, MAX_CERTIFICATE_SIGNERS};
pub use engine::{
    DropCounters, Effect, Engine, Finalized, Input, MAX_MESSAGE_BYTES, Status, Time, TimerId, WalRecord,
};
pub use error::Error;
pub use evidence::{Evidence, EvidenceKind};
pub use signer::{HandshakeRefused, SignError, Signer};
pub use verifier::{PlainVerifier, SignatureVerifier};
pub use vote::{SignedVote, Vote, VoteKind};
