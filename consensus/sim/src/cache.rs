//! A signature verifier shared by all simulated nodes: each distinct (key, message, signature) is checked with
//! ed25519 once per run. Lookups never iterate the map, so its order cannot leak into results.

use std::collections::HashMap;
use std::sync::Mutex;

use cairn_consensus::SignatureVerifier;
use cairn_primitives::{ChainId, PublicKey, Purpose, Signature};

/// Entries kept before the cache is emptied (bounds memory on long runs).
const MAX_ENTRIES: usize = 1 << 21;

#[derive(Default)]
pub struct SharedVerifier {
    seen: Mutex<HashMap<[u8; 32], bool>>,
}

impl SignatureVerifier for SharedVerifier {
    fn verify(
        &self,
        chain_id: &ChainId,
        purpose: Purpose,
        signer: &PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> bool {
        let mut h = blake3::Hasher::new();
        h.update(chain_id.as_str().as_bytes());
        h.update(&[0]);
        h.update(purpose.tag().as_bytes());
        h.update(&signer.0);
        h.update(&signature.0);
        h.update(message);
        let key = *h.finalize().as_bytes();
        if let Ok(seen) = self.seen.lock()
            && let Some(ok) = seen.get(&key)
        {
            return *ok;
        }
        let ok = signer.verify(chain_id, purpose, message, signature).is_ok();
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= MAX_ENTRIES {
                seen.clear();
            }
            seen.insert(key, ok);
        }
        ok
    }
}
