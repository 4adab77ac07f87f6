//! The signing chokepoint. Every vote the engine signs goes through [`Signer::sign`], which enforces, in this one
//! place, every rule the safety argument (README, "Why it is safe") needs from an honest validator:
//!
//! - at most one `Notarize` per (height, view), and none after `Nullify` of that view;
//! - at most one `Finalize` per (height, view), and none after `Nullify` of that view;
//! - no `Nullify` after `Finalize` of that view, and a `Nullify` names the block we notarized in the view
//!   (`Hash::ZERO` if none): the fast path reads these claims (README, "The fast path");
//! - every vote is written to the WAL (`Effect::Persist`) before the caller can send it.
//!
//! The record of what we signed is kept per (height, view) for every height above the last finalized one and is
//! rebuilt from the WAL on restart, so the rules hold across crashes even when the node restarts from a height
//! below the engine's (execution lags finalization).

use std::collections::BTreeMap;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_consensus::{Effect, MAX_MESSAGE_BYTES, Vote, VoteKind, WalRecord};
use cairn_primitives::{ChainId, Hash, Height, Signature};

/// What the engine writes to its WAL: every vote it signs, before it is sent.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum WalEntry {
    Voted { vote: Vote, signature: Signature, proposal: bool },
}

/// Our own votes in one view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mine {
    pub notarized: Option<(Hash, Signature)>,
    /// Our nullify vote: the block it names (what we notarized, or `Hash::ZERO`) and its signature.
    pub nullified: Option<(Hash, Signature)>,
    pub finalized: Option<(Hash, Signature)>,
    /// Our notarize vote was our proposal (we led the view).
    pub proposed: bool,
}

impl Mine {
    /// Whether signing `vote` now is allowed. A repeat of a vote already signed is allowed (it is re-sent, not
    /// re-signed); anything that would contradict an earlier vote is not.
    fn allows(&self, vote: &Vote) -> bool {
        match vote.kind {
            VoteKind::Notarize => {
                self.nullified.is_none() && self.notarized.is_none_or(|(b, _)| b == vote.block)
            }
            VoteKind::Finalize => {
                self.nullified.is_none() && self.finalized.is_none_or(|(b, _)| b == vote.block)
            }
            VoteKind::Nullify => {
                self.finalized.is_none()
                    && vote.block == self.notarized.map_or(Hash::ZERO, |(b, _)| b)
                    && self.nullified.is_none_or(|(b, _)| b == vote.block)
            }
            VoteKind::Propose | VoteKind::Prefer => false,
        }
    }

    fn existing(&self, vote: &Vote) -> Option<Signature> {
        match vote.kind {
            VoteKind::Notarize => self.notarized.map(|(_, s)| s),
            VoteKind::Finalize => self.finalized.map(|(_, s)| s),
            VoteKind::Nullify => self.nullified.map(|(_, s)| s),
            _ => None,
        }
    }

    fn record(&mut self, vote: &Vote, signature: Signature, proposal: bool) {
        match vote.kind {
            VoteKind::Notarize => {
                self.notarized = Some((vote.block, signature));
                self.proposed |= proposal;
            }
            VoteKind::Finalize => self.finalized = Some((vote.block, signature)),
            VoteKind::Nullify => self.nullified = Some((vote.block, signature)),
            VoteKind::Propose | VoteKind::Prefer => {}
        }
    }
}

/// Holds the key and the record of every vote signed above the last finalized height.
pub(crate) struct Signer {
    chain_id: ChainId,
    key: Arc<dyn cairn_consensus::Signer>,
    mine: BTreeMap<(Height, u64), Mine>,
}

impl Signer {
    pub fn new(chain_id: ChainId, key: Arc<dyn cairn_consensus::Signer>) -> Signer {
        Signer { chain_id, key, mine: BTreeMap::new() }
    }

    /// Rebuilds the record from our WAL: every record above `floor` (the last finalized height the driver
    /// knows of), whatever height the engine starts at. A record we cannot read is skipped: it cannot make us
    /// sign anything new.
    pub fn restore(&mut self, wal: Vec<WalRecord>, floor: Height) {
        self.mine.clear();
        for rec in wal {
            let Ok(WalEntry::Voted { vote, signature, proposal }) =
                cairn_primitives::decode::<WalEntry>(&rec.bytes, MAX_MESSAGE_BYTES)
            else {
                continue;
            };
            // The vote's own height decides (the record's is only the driver's pruning hint); kinds we never
            // sign are ignored by `record`.
            if vote.height <= floor {
                continue;
            }
            self.mine.entry((vote.height, vote.view)).or_default().record(&vote, signature, proposal);
        }
    }

    /// Our votes in (`height`, `view`).
    pub fn mine(&self, height: Height, view: u64) -> Mine {
        self.mine.get(&(height, view)).copied().unwrap_or_default()
    }

    /// Every vote we signed at `height`, in view order (to count them again after a restart).
    pub fn votes_at(&self, height: Height) -> Vec<(Vote, Signature)> {
        let mut out = Vec::new();
        for ((_, view), m) in self.mine.range((height, 0)..=(height, u64::MAX)) {
            let v = |kind, block| Vote { kind, height, view: *view, block };
            out.extend(m.notarized.map(|(b, s)| (v(VoteKind::Notarize, b), s)));
            out.extend(m.nullified.map(|(b, s)| (v(VoteKind::Nullify, b), s)));
            out.extend(m.finalized.map(|(b, s)| (v(VoteKind::Finalize, b), s)));
        }
        out
    }

    /// The highest view at `height` in which we signed anything (where a restarted engine resumes).
    pub fn last_view(&self, height: Height) -> Option<u64> {
        self.mine.range((height, 0)..=(height, u64::MAX)).next_back().map(|((_, v), _)| *v)
    }

    /// Signs `vote` if no earlier vote of ours forbids it, persisting it first. Returns the signature (the
    /// earlier one if this exact vote was already signed: nothing is persisted then) or `None` if refused.
    pub fn sign(&mut self, vote: Vote, proposal: bool, fx: &mut Vec<Effect>) -> Option<Signature> {
        let mine = self.mine.entry((vote.height, vote.view)).or_default();
        if !mine.allows(&vote) {
            return None;
        }
        if let Some(signature) = mine.existing(&vote) {
            return Some(signature);
        }
        // The seam may refuse (the node's last-signed-state guard): then we stay silent, which is always safe.
        let signature = self.key.sign_vote(&self.chain_id, &vote).ok()?;
        let entry = WalEntry::Voted { vote, signature, proposal };
        fx.push(Effect::Persist(WalRecord { height: vote.height, bytes: cairn_primitives::encode(&entry) }));
        mine.record(&vote, signature, proposal);
        Some(signature)
    }

    /// Forgets heights at or below `finalized` (they are decided; the WAL below them is pruned too).
    pub fn prune(&mut self, finalized: Height) {
        self.mine = self.mine.split_off(&(finalized.next(), 0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::Keypair;

    fn signer() -> Signer {
        Signer::new("t".parse().unwrap(), Arc::new(Keypair::derived("signer", 0)))
    }

    /// A `Nullify` with an empty block names no block (`Hash::ZERO`).
    fn vote(kind: VoteKind, view: u64, block: &[u8]) -> Vote {
        let block =
            if kind == VoteKind::Nullify && block.is_empty() { Hash::ZERO } else { Hash::digest(block) };
        Vote { kind, height: Height(1), view, block }
    }

    /// The seam may refuse (the node's last-signed-state guard): the vote is then neither persisted nor recorded,
    /// and the same vote can be signed later once the seam allows it.
    #[test]
    fn a_refusing_signer_leaves_no_trace() {
        struct Refuses;
        impl cairn_consensus::Signer for Refuses {
            fn public_key(&self) -> cairn_primitives::PublicKey {
                Keypair::derived("signer", 0).public()
            }
            fn sign_vote(&self, _: &ChainId, v: &Vote) -> Result<Signature, cairn_consensus::SignError> {
                Err(cairn_consensus::SignError::refused(v, "test"))
            }
            fn sign_handshake(
                &self,
                _: &ChainId,
                _: &[u8],
            ) -> Result<Signature, cairn_consensus::HandshakeRefused> {
                Err(cairn_consensus::HandshakeRefused("test".into()))
            }
        }
        let mut s = Signer::new("t".parse().unwrap(), Arc::new(Refuses));
        let mut fx = Vec::new();
        assert!(s.sign(vote(VoteKind::Notarize, 3, b"a"), true, &mut fx).is_none());
        assert!(fx.is_empty(), "nothing persisted for a refused vote");
        assert_eq!(s.mine(Height(1), 3), Mine::default(), "nothing recorded");
    }

    /// Each row: votes signed before, the vote asked for, whether it is signed.
    #[test]
    fn never_sign_x_after_y() {
        use VoteKind::{Finalize as F, Notarize as N, Nullify as X};
        type Signed<'a> = (VoteKind, &'a [u8]);
        let rows: &[(&[Signed<'_>], Signed<'_>, bool)] = &[
            (&[], (N, b"a"), true),
            (&[(N, b"a")], (N, b"a"), true),
            (&[(N, b"a")], (N, b"b"), false),
            (&[(X, b"")], (N, b"a"), false),
            (&[(N, b"a")], (X, b"a"), true),
            // A nullify names what we notarized: nothing else, and not "nothing" after a notarize.
            (&[(N, b"a")], (X, b""), false),
            (&[(N, b"a")], (X, b"b"), false),
            (&[], (X, b"a"), false),
            (&[(X, b"")], (X, b""), true),
            (&[(N, b"a")], (F, b"a"), true),
            (&[(X, b"")], (F, b"a"), false),
            (&[(F, b"a")], (F, b"b"), false),
            (&[(F, b"a")], (X, b""), false),
            (&[(N, b"a"), (F, b"a")], (X, b"a"), false),
            (&[(N, b"a"), (X, b"a")], (F, b"a"), false),
        ];
        for (before, (kind, block), expected) in rows {
            let mut s = signer();
            let mut fx = Vec::new();
            for (k, b) in *before {
                assert!(s.sign(vote(*k, 3, b), false, &mut fx).is_some());
            }
            let persisted = fx.len();
            let got = s.sign(vote(*kind, 3, block), false, &mut fx);
            assert_eq!(got.is_some(), *expected, "{before:?} then {kind:?}");
            // Another view is unaffected.
            let block: &[u8] = if *kind == X { b"" } else { block };
            assert!(s.sign(vote(*kind, 4, block), false, &mut fx).is_some());
            if !expected {
                assert_eq!(fx.len(), persisted + 1, "a refused vote is not persisted");
            }
        }
    }

    #[test]
    fn restored_from_the_wal_across_heights() {
        let mut s = signer();
        let mut fx = Vec::new();
        let at = |h: u64, kind, block: &[u8]| Vote { height: Height(h), ..vote(kind, 0, block) };
        s.sign(at(1, VoteKind::Finalize, b"a"), false, &mut fx);
        s.sign(at(2, VoteKind::Notarize, b"b"), false, &mut fx);
        s.sign(at(3, VoteKind::Nullify, b""), false, &mut fx);
        let wal: Vec<WalRecord> =
            fx.into_iter().filter_map(|e| if let Effect::Persist(r) = e { Some(r) } else { None }).collect();
        let mut restarted = signer();
        restarted.restore(wal, Height(1));
        let mut fx = Vec::new();
        assert!(restarted.sign(at(2, VoteKind::Notarize, b"c"), false, &mut fx).is_none());
        assert!(restarted.sign(at(3, VoteKind::Finalize, b"c"), false, &mut fx).is_none());
        // Height 1 is at the floor (finalized): its records are not needed.
        assert!(restarted.sign(at(1, VoteKind::Nullify, b""), false, &mut fx).is_some());
        assert_eq!(restarted.last_view(Height(2)), Some(0));
        assert_eq!(restarted.votes_at(Height(2)).len(), 1);
        restarted.prune(Height(2));
        assert_eq!(restarted.votes_at(Height(2)).len(), 0);
        assert_eq!(restarted.votes_at(Height(3)).len(), 1);
    }

    #[test]
    fn a_repeated_vote_is_resent_not_resigned() {
        let mut s = signer();
        let mut fx = Vec::new();
        let v = vote(VoteKind::Notarize, 2, b"a");
        let first = s.sign(v, true, &mut fx);
        let again = s.sign(v, false, &mut fx);
        assert_eq!(first, again);
        assert_eq!(fx.len(), 1, "persisted once");
        let m = s.mine(Height(1), 2);
        assert_eq!(m.notarized.map(|(b, _)| b), Some(v.block));
        assert!(m.proposed, "a later plain re-send does not clear the proposal flag");
        assert_eq!((m.nullified, m.finalized), (None, None));
        assert_eq!(s.mine(Height(1), 3), Mine::default());
        // The same for the other kinds (each in its own view, so no rule forbids them).
        for (view, kind, block) in [(5, VoteKind::Finalize, &b"a"[..]), (6, VoteKind::Nullify, &b""[..])] {
            let v = vote(kind, view, block);
            let before = fx.len();
            let first = s.sign(v, false, &mut fx);
            assert!(first.is_some());
            assert_eq!(s.sign(v, false, &mut fx), first, "{kind:?}");
            assert_eq!(fx.len(), before + 1, "{kind:?} persisted once");
        }
    }

    #[test]
    fn restore_keeps_views_and_proposals_and_skips_foreign_records() {
        let mut s = signer();
        let mut fx = Vec::new();
        s.sign(Vote { height: Height(2), ..vote(VoteKind::Notarize, 3, b"a") }, true, &mut fx);
        s.sign(Vote { height: Height(2), ..vote(VoteKind::Nullify, 5, b"") }, false, &mut fx);
        let mut wal: Vec<WalRecord> =
            fx.into_iter().filter_map(|e| if let Effect::Persist(r) = e { Some(r) } else { None }).collect();
        // A record filed under another height than its vote's counts at its vote's height.
        let mut misfiled = wal[0].clone();
        misfiled.height = Height(7);
        wal.push(misfiled);
        // Votes at or below the floor (finalized heights) are not restored, whatever the record says.
        let mut old = wal[1].clone();
        old.height = Height(9);
        let mut below = signer();
        below.restore(vec![old], Height(2));
        assert_eq!(below.last_view(Height(2)), None);
        let mut r = signer();
        r.restore(wal, Height(1));
        assert_eq!(r.last_view(Height(2)), Some(5));
        assert!(r.mine(Height(2), 3).proposed);
        assert_eq!(r.last_view(Height(7)), None);
        assert_eq!(r.last_view(Height(3)), None);
    }
}
