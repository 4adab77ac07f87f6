//! The signing seam: engines sign only through a [`Signer`], never with a key of their own.
//!
//! Why a trait: the key may live elsewhere (a remote signer, an HSM — CometBFT's privval, Malachite's signing
//! provider), and the node wraps every signature in its own guard (the last-signed state, so a node that lost its
//! WAL cannot sign again what it already signed). Every signature an engine makes is a [`Vote`] statement, so one
//! method covers them all. A signer may refuse; the engine then stays silent for that vote, which is always safe.
//! The one signature the validator key makes outside consensus — the p2p binding, naming the network identity
//! that speaks for it — goes through the same seam ([`Signer::sign_handshake`]), so the key never has to be
//! handed to the networking code.

use cairn_primitives::{ChainId, Keypair, PublicKey, Purpose, Signature};

use crate::Vote;

/// Why a signer refused to sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signer refused to sign {kind:?} at height {height}, view {view}: {reason}")]
pub struct SignError {
    pub kind: crate::VoteKind,
    pub height: u64,
    pub view: u64,
    pub reason: String,
}

impl SignError {
    pub fn refused(vote: &Vote, reason: impl Into<String>) -> SignError {
        SignError { kind: vote.kind, height: vote.height.0, view: vote.view, reason: reason.into() }
    }
}

/// Why a signer refused a handshake signature (e.g. a remote signer that cannot be reached).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signer refused the handshake signature: {0}")]
pub struct HandshakeRefused(pub String);

/// Who signs for this validator.
pub trait Signer: Send + Sync {
    fn public_key(&self) -> PublicKey;

    /// Signs `vote` on `chain_id` (domain-separated by the vote kind's purpose), or refuses.
    fn sign_vote(&self, chain_id: &ChainId, vote: &Vote) -> Result<Signature, SignError>;

    /// Signs `message` on `chain_id` for [`Purpose::Handshake`] (the p2p binding). Not a vote: a guard over votes
    /// must neither consult nor move its last-signed state for it.
    fn sign_handshake(&self, chain_id: &ChainId, message: &[u8]) -> Result<Signature, HandshakeRefused>;
}

/// A key in memory signs everything it is asked to (simulations, tests, and the node's guard underneath).
impl Signer for Keypair {
    fn public_key(&self) -> PublicKey {
        self.public()
    }

    fn sign_vote(&self, chain_id: &ChainId, vote: &Vote) -> Result<Signature, SignError> {
        Ok(vote.sign(chain_id, self))
    }

    fn sign_handshake(&self, chain_id: &ChainId, message: &[u8]) -> Result<Signature, HandshakeRefused> {
        Ok(self.sign(chain_id, Purpose::Handshake, message))
    }
}
