//! Which peer is which validator: a validator's signed claim that a network identity speaks for it.
//!
//! A node's p2p key (its libp2p identity, what noise authenticates) is not its consensus key: the consensus key
//! can then live apart (a signer, an HSM, a file only the validator process reads), a leaked p2p key lets nobody
//! sign votes, and the p2p key can be rotated without touching the validator set. The price is that "this
//! connection is validator V" is no longer proven by the handshake, so each validator signs, with its consensus
//! key, a [`Binding`] of `(chain id, validator key, p2p key)` and presents it in identify's agent version on
//! every connection. A peer counts as V only when V's signature covers *that* peer's p2p key, so a binding copied
//! from another connection proves nothing.
//!
//! Why identify: it already runs once per connection, right after noise, over the authenticated connection, in
//! both directions, and carries a free-form string — no new protocol, no extra round trip, and the claim is
//! bound to the connection that carried it. Identify only reaches direct peers, so the binding is also gossiped
//! (`network/relay.rs`): gossip relayed from a validator we have no connection to is still known as its.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{ChainId, Keypair, PublicKey, Purpose, Signature};

/// Marks the binding inside identify's agent version: `cairn/<version> binding=<hex of the borsh binding>`.
const AGENT_MARKER: &str = " binding=";
/// Domain label inside the signed message, so no other handshake-purpose signature can pass for a binding.
const LABEL: &[u8] = b"cairn-p2p-binding/1";

/// A validator's signed statement that the p2p key `peer` speaks for it on the chain the signature names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Binding {
    /// The consensus (validator) key that signed.
    pub validator: PublicKey,
    /// The p2p key (libp2p ed25519 identity) it vouches for.
    pub peer: PublicKey,
    /// By `validator`, over [`Binding::message`] with the chain id and [`Purpose::Handshake`] in its domain.
    pub signature: Signature,
}

/// Why a presented binding does not make its peer a validator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Not hex, or not a borsh binding.
    #[error("undecodable binding: {0}")]
    Malformed(String),
    /// A valid binding, but for another p2p key than the connection's (copied from another peer).
    #[error("the binding is for peer key {bound}, not for this connection's {actual}")]
    OtherPeer { bound: PublicKey, actual: PublicKey },
    /// The validator's signature does not verify (forged, or for another chain).
    #[error("the binding's signature by {0} does not verify")]
    BadSignature(PublicKey),
}

impl Binding {
    /// Signs a binding of `peer` (our p2p public key) to `validator` for `chain_id`, with the key in memory.
    pub fn sign(chain_id: &ChainId, validator: &Keypair, peer: PublicKey) -> Binding {
        let signed = Binding::sign_with(chain_id, validator.public(), peer, |chain, message| {
            Ok::<_, std::convert::Infallible>(validator.sign(chain, Purpose::Handshake, message))
        });
        match signed {
            Ok(binding) => binding,
            Err(never) => match never {},
        }
    }

    /// Signs a binding through `sign`, which must sign the message it is given on the chain it is given with
    /// `validator`'s key for [`Purpose::Handshake`]: a validator key that lives behind a signer (the node's
    /// guarded signer, a remote one) never reaches this crate.
    pub fn sign_with<E>(
        chain_id: &ChainId,
        validator: PublicKey,
        peer: PublicKey,
        sign: impl FnOnce(&ChainId, &[u8]) -> Result<Signature, E>,
    ) -> Result<Binding, E> {
        let signature = sign(chain_id, &Binding::message(&validator, &peer))?;
        Ok(Binding { validator, peer, signature })
    }

    /// The signed bytes: a label, then both keys.
    pub fn message(validator: &PublicKey, peer: &PublicKey) -> Vec<u8> {
        let mut m = Vec::with_capacity(LABEL.len() + 64);
        m.extend_from_slice(LABEL);
        m.extend_from_slice(&validator.0);
        m.extend_from_slice(&peer.0);
        m
    }

    /// Checks that the binding vouches for `actual` (the connection's p2p key) with a valid signature.
    pub fn verify(&self, chain_id: &ChainId, actual: &PublicKey) -> Result<(), BindingError> {
        if self.peer != *actual {
            return Err(BindingError::OtherPeer { bound: self.peer, actual: *actual });
        }
        let message = Binding::message(&self.validator, &self.peer);
        self.validator
            .verify_strict(chain_id, Purpose::Handshake, &message, &self.signature)
            .map_err(|_| BindingError::BadSignature(self.validator))
    }

    /// Identify's agent version carrying this binding after `base` (e.g. `cairn/0.1.0`).
    pub fn agent_version(binding: Option<&Binding>, base: &str) -> String {
        match binding {
            Some(b) => format!("{base}{AGENT_MARKER}{}", hex::encode(borsh::to_vec(b).unwrap_or_default())),
            None => base.to_string(),
        }
    }

    /// The binding an agent version carries: `None` when it carries none (a full node, or another client).
    pub fn from_agent_version(agent: &str) -> Option<Result<Binding, BindingError>> {
        let (_, encoded) = agent.split_once(AGENT_MARKER)?;
        // 128 bytes of borsh; refuse anything longer before decoding it.
        if encoded.len() > 2 * 128 {
            return Some(Err(BindingError::Malformed(format!("{} hex digits", encoded.len()))));
        }
        let bytes = hex::decode(encoded).map_err(|e| BindingError::Malformed(e.to_string()));
        Some(bytes.and_then(|b| borsh::from_slice(&b).map_err(|e| BindingError::Malformed(e.to_string()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        "binding-test".parse().unwrap()
    }

    #[test]
    fn a_binding_verifies_only_for_its_peer_and_chain() {
        let (v, p, q) = (Keypair::derived("b", 0), Keypair::derived("b", 1), Keypair::derived("b", 2));
        let b = Binding::sign(&chain(), &v, p.public());
        assert_eq!(b.verify(&chain(), &p.public()), Ok(()));
        assert!(matches!(b.verify(&chain(), &q.public()), Err(BindingError::OtherPeer { .. })));
        let other: ChainId = "other-chain".parse().unwrap();
        assert_eq!(b.verify(&other, &p.public()), Err(BindingError::BadSignature(v.public())));
        // Re-pointed at another peer without a new signature: the signature no longer covers it.
        let moved = Binding { peer: q.public(), ..b };
        assert_eq!(moved.verify(&chain(), &q.public()), Err(BindingError::BadSignature(v.public())));
        // Claimed for another validator: the signature is not by that key.
        let claimed = Binding { validator: q.public(), ..b };
        assert!(claimed.verify(&chain(), &p.public()).is_err());
    }

    #[test]
    fn agent_version_round_trip() {
        let b = Binding::sign(&chain(), &Keypair::derived("b", 0), Keypair::derived("b", 1).public());
        let agent = Binding::agent_version(Some(&b), "cairn/0.1.0");
        assert!(agent.starts_with("cairn/0.1.0 binding="));
        assert_eq!(Binding::from_agent_version(&agent), Some(Ok(b)));
        assert_eq!(Binding::from_agent_version("cairn/0.1.0"), None);
        assert!(matches!(Binding::from_agent_version("x binding=zz"), Some(Err(BindingError::Malformed(_)))));
        let long = format!("x binding={}", "00".repeat(1000));
        assert!(matches!(Binding::from_agent_version(&long), Some(Err(BindingError::Malformed(_)))));
    }
}
