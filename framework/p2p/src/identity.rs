//! A cairn [`Keypair`] as a libp2p identity — the node's p2p key, apart from its consensus key (which a peer
//! proves with a [`crate::Binding`] instead).
//!
//! The libp2p ed25519 keypair is built from the same 32-byte seed as the [`Keypair`], so a [`PeerId`] maps 1:1 to
//! a cairn [`PublicKey`] and the p2p layer can name peers by `PublicKey`. Signatures cannot be confused between
//! the two protocols, so a node that still uses one key for both (a home not yet migrated) is safe too: libp2p
//! signs its handshake payloads with its own prefix (`noise-libp2p-static-key:`) and gossip with
//! `libp2p-pubsub:`, while cairn signs `cairn/v1 ‖ chain id ‖ purpose ‖ message` with length prefixes — neither
//! can produce bytes the other accepts.

use cairn_primitives::{Keypair, PublicKey};
use libp2p::PeerId;
use libp2p::identity;

use crate::P2pError;

/// The multihash code of an "identity" (inline) multihash: ed25519 peer ids carry the key itself.
const IDENTITY_MULTIHASH: u64 = 0x00;

/// The libp2p identity for a cairn key (same seed, same public key).
pub fn libp2p_keypair(key: &Keypair) -> Result<identity::Keypair, P2pError> {
    let mut seed = hex::decode(key.secret_hex()).map_err(|e| P2pError::InvalidKey(e.to_string()))?;
    let pair =
        identity::Keypair::ed25519_from_bytes(&mut seed).map_err(|e| P2pError::InvalidKey(e.to_string()));
    // ed25519_from_bytes zeroes the slice it is given; make sure nothing of the seed survives either way.
    seed.iter_mut().for_each(|b| *b = 0);
    pair
}

/// The [`PeerId`] of the p2p key `key`.
pub fn peer_id_of(key: &PublicKey) -> Result<PeerId, P2pError> {
    let ed = identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| P2pError::InvalidKey(format!("{key} is not an ed25519 public key: {e}")))?;
    Ok(PeerId::from_public_key(&identity::PublicKey::from(ed)))
}

/// The p2p key behind a [`PeerId`], or `None` for a peer id that is not an inlined ed25519 key (such a
/// peer is not a cairn node and is disconnected).
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let hash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    if hash.code() != IDENTITY_MULTIHASH {
        return None;
    }
    let key = identity::PublicKey::try_decode_protobuf(hash.digest()).ok()?;
    let ed = key.try_into_ed25519().ok()?;
    Some(PublicKey(ed.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_round_trips_to_the_consensus_key() {
        for i in 0..8 {
            let k = Keypair::derived("p2p-identity", i);
            let lib = libp2p_keypair(&k).unwrap();
            let pid = lib.public().to_peer_id();
            assert_eq!(pid, peer_id_of(&k.public()).unwrap());
            assert_eq!(public_key_of(&pid), Some(k.public()));
        }
    }

    #[test]
    fn libp2p_and_cairn_share_the_public_key_but_not_signatures() {
        let k = Keypair::derived("p2p-identity", 1);
        let lib = libp2p_keypair(&k).unwrap();
        let ed = lib.public().try_into_ed25519().unwrap();
        assert_eq!(ed.to_bytes(), k.public().0);
        // A cairn signature over `m` does not verify as a plain signature over `m` (it covers a prefixed message).
        let chain: cairn_primitives::ChainId = "c".parse().unwrap();
        let sig = k.sign(&chain, cairn_primitives::Purpose::Handshake, b"m");
        assert!(!ed.verify(b"m", &sig.0));
    }

    #[test]
    fn non_ed25519_peer_ids_have_no_consensus_key() {
        let sha_hash = libp2p::multihash::Multihash::<64>::wrap(0x12, &[7u8; 32]).unwrap();
        let pid = PeerId::from_multihash(sha_hash).unwrap();
        assert_eq!(public_key_of(&pid), None);
    }

    #[test]
    fn keys_that_are_not_curve_points_are_refused() {
        let mut refused = 0;
        for b in 0..=255u8 {
            let pk = PublicKey([b; 32]);
            if pk.validate().is_err() {
                assert!(peer_id_of(&pk).is_err(), "{pk} is invalid for cairn but accepted by libp2p");
                refused += 1;
            }
        }
        assert!(refused > 0, "the sweep found no invalid point to test with");
    }
}
