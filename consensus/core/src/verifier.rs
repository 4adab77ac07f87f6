//! Signature checking as a capability passed in by construction.
//!
//! In a real node every message is verified by exactly one process, so [`PlainVerifier`] is right. In the
//! simulator the same signature reaches every simulated node; verifying it once per run (a shared cache keyed by
//! the signed bytes) makes a 100-validator run tens of times faster without changing any engine decision.

use cairn_primitives::{ChainId, PublicKey, Purpose, Signature};

/// Verifies a domain-separated signature. Implementations must be pure: same arguments, same answer.
pub trait SignatureVerifier: Send + Sync {
    fn verify(
        &self,
        chain_id: &ChainId,
        purpose: Purpose,
        signer: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> bool;
}

/// Verifies every signature with ed25519, no caching.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainVerifier;

impl SignatureVerifier for PlainVerifier {
    fn verify(
        &self,
        chain_id: &ChainId,
        purpose: Purpose,
        signer: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> bool {
        signer.verify(chain_id, purpose, message, signature).is_ok()
    }
}
