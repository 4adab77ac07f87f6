//! The node's signer: the validator key behind a last-signed-state guard (CometBFT's `priv_validator_state.json`).
//!
//! The engines keep every vote they sign in the WAL and never sign against it (cairn-bft's signing chokepoint,
//! snow's fallback). That protection is gone if the WAL is lost — deleted, damaged and set aside, or an older copy
//! restored. `data/priv_validator_state.json` is the second line: the (height, view, kind) of the latest signature,
//! written and fsynced *before* the first signature at each new (height, view). At start, if the WAL holds no
//! record at that height, the node refuses to sign anything at or below it: it stays silent (always safe) until the
//! chain is past the heights it may already have voted at. `cairn unsafe-reset-all` removes the file with the rest
//! of `data/` (that reset is unsafe for a validator for exactly this reason).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_consensus::{HandshakeRefused, SignError, Signer, Vote};
use cairn_primitives::{ChainId, Height, Keypair, PublicKey, Purpose, Signature};
use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::error::NodeError;

/// The file's name in the node's data directory.
pub const STATE_FILE: &str = "priv_validator_state.json";

/// The latest signature's place: what the file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSigned {
    pub height: u64,
    pub view: u64,
    /// The vote kind's name (informational: the guard compares heights and views).
    pub kind: String,
}

/// The validator key, guarded.
pub struct GuardedSigner {
    key: Keypair,
    path: PathBuf,
    state: Mutex<Guard>,
}

struct Guard {
    last: LastSigned,
    /// Nothing at or below this height is signed (0: no restriction).
    silent_through: u64,
}

impl GuardedSigner {
    /// Opens (or starts) the state file in `data_dir`. `wal_heights` are the heights the WAL holds records at: if
    /// none is the file's height, the WAL lost what we signed there.
    pub fn open(key: Keypair, data_dir: &Path, wal_heights: &[Height]) -> Result<GuardedSigner, NodeError> {
        let path = data_dir.join(STATE_FILE);
        let last = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<LastSigned>(&text).map_err(|e| {
                NodeError::Internal(format!(
                    "{} is unreadable ({e}): it guards against signing twice; restore it, or remove it only if this \
                     key has never signed at the heights the chain is at",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LastSigned::default(),
            Err(e) => return Err(NodeError::Internal(format!("cannot read {}: {e}", path.display()))),
        };
        let lost = last.height > 0 && !wal_heights.contains(&Height(last.height));
        let silent_through = if lost { last.height } else { 0 };
        if lost {
            warn!(height = last.height, file = %path.display(),
                "the WAL holds none of the votes this key signed at its last height: signing nothing up to it");
        }
        Ok(GuardedSigner { key, path, state: Mutex::new(Guard { last, silent_through }) })
    }

    /// The height up to which this signer refuses (0: none).
    pub fn silent_through(&self) -> u64 {
        self.lock().silent_through
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Guard> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, last: &LastSigned) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(serde_json::to_string(last).unwrap_or_default().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Signer for GuardedSigner {
    fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    fn sign_vote(&self, chain_id: &ChainId, vote: &Vote) -> Result<Signature, SignError> {
        let mut g = self.lock();
        if vote.height.0 <= g.silent_through {
            return Err(SignError::refused(
                vote,
                format!("the WAL lost what this key signed up to height {}", g.silent_through),
            ));
        }
        if (vote.height.0, vote.view) > (g.last.height, g.last.view) {
            let last =
                LastSigned { height: vote.height.0, view: vote.view, kind: format!("{:?}", vote.kind) };
            // Durable before the signature exists: a crash after this point leaves the guard ahead, never behind.
            self.persist(&last).map_err(|e| {
                SignError::refused(vote, format!("cannot write {}: {e}", self.path.display()))
            })?;
            g.last = last;
        }
        Ok(vote.sign(chain_id, &self.key))
    }

    /// The p2p binding: signed with the same key, outside the guard (it is no vote, so it can neither equivocate
    /// nor be held back by a lost WAL).
    fn sign_handshake(&self, chain_id: &ChainId, message: &[u8]) -> Result<Signature, HandshakeRefused> {
        Ok(self.key.sign(chain_id, Purpose::Handshake, message))
    }
}

#[cfg(test)]
mod tests {
    use cairn_consensus::VoteKind;
    use cairn_primitives::Hash;

    use super::*;

    fn vote(height: u64, view: u64) -> Vote {
        Vote { kind: VoteKind::Notarize, height: Height(height), view, block: Hash::digest(b"b") }
    }

    fn read(dir: &Path) -> LastSigned {
        serde_json::from_str(&std::fs::read_to_string(dir.join(STATE_FILE)).unwrap()).unwrap()
    }

    #[test]
    fn the_state_is_written_before_signing_and_only_moves_up() {
        let dir = tempfile::tempdir().unwrap();
        let chain: ChainId = "t".parse().unwrap();
        let s = GuardedSigner::open(Keypair::derived("g", 0), dir.path(), &[]).unwrap();
        assert!(s.sign_vote(&chain, &vote(5, 2)).is_ok());
        assert_eq!((read(dir.path()).height, read(dir.path()).view), (5, 2));
        // A later view's vote at a lower height (e.g. a late finalize) signs but never moves the file back.
        assert!(s.sign_vote(&chain, &vote(5, 1)).is_ok());
        assert_eq!((read(dir.path()).height, read(dir.path()).view), (5, 2));
        assert!(s.sign_vote(&chain, &vote(6, 0)).is_ok());
        assert_eq!(read(dir.path()).height, 6);
    }

    #[test]
    fn after_losing_the_wal_nothing_up_to_the_last_signed_height_is_signed() {
        let dir = tempfile::tempdir().unwrap();
        let chain: ChainId = "t".parse().unwrap();
        let key = Keypair::derived("g", 1);
        GuardedSigner::open(key.clone(), dir.path(), &[]).unwrap().sign_vote(&chain, &vote(7, 0)).unwrap();

        // The WAL still holds height 7: no restriction (the engine's own record guards that height).
        let kept = GuardedSigner::open(key.clone(), dir.path(), &[Height(7)]).unwrap();
        assert_eq!(kept.silent_through(), 0);
        assert!(kept.sign_vote(&chain, &vote(7, 1)).is_ok());

        // The WAL lost it: silent through 7, signing again above it.
        let lost = GuardedSigner::open(key, dir.path(), &[]).unwrap();
        assert_eq!(lost.silent_through(), 7);
        for (h, v) in [(3, 0), (7, 0), (7, 9)] {
            let err = lost.sign_vote(&chain, &vote(h, v)).unwrap_err();
            assert!(err.reason.contains("WAL lost"), "{err}");
        }
        assert!(lost.sign_vote(&chain, &vote(8, 0)).is_ok());
    }

    #[test]
    fn the_p2p_binding_is_signed_outside_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let chain: ChainId = "t".parse().unwrap();
        let key = Keypair::derived("g", 3);
        GuardedSigner::open(key.clone(), dir.path(), &[]).unwrap().sign_vote(&chain, &vote(7, 0)).unwrap();
        let before = std::fs::read(dir.path().join(STATE_FILE)).unwrap();
        // The WAL lost height 7: votes up to it are refused, the binding is not, and the state file does not move.
        let s = GuardedSigner::open(key.clone(), dir.path(), &[]).unwrap();
        let peer = Keypair::derived("g", 4).public();
        let b = cairn_p2p::Binding::sign_with(&chain, s.public_key(), peer, |c, m| s.sign_handshake(c, m))
            .unwrap();
        assert_eq!(b.verify(&chain, &peer), Ok(()));
        assert_eq!(
            b,
            cairn_p2p::Binding::sign(&chain, &key, peer),
            "the same signature as with the key itself"
        );
        assert_eq!(std::fs::read(dir.path().join(STATE_FILE)).unwrap(), before);
        assert!(s.sign_vote(&chain, &vote(7, 0)).is_err());
    }

    #[test]
    fn an_unreadable_state_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{ not json").unwrap();
        let err = GuardedSigner::open(Keypair::derived("g", 2), dir.path(), &[]).err().unwrap().to_string();
        assert!(err.contains(STATE_FILE) && err.contains("signing twice"), "{err}");
    }
}
