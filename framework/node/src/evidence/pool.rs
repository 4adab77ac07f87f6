//! Evidence this node saw (its engine's `Effect::Evidence`) waiting for a block, and the ids of evidence the
//! chain already committed. Both bounded: the pool by count and bytes, the committed ids by age (older evidence is
//! refused as too old anyway, so its id need not be remembered).

use std::collections::BTreeMap;

use cairn_consensus::Evidence;
use cairn_primitives::{ChainId, Hash, Height, ValidatorSet};

use super::check::{check_one, evidence_id};
use super::{MAX_EVIDENCE_AGE, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_PER_BLOCK};

/// Most items pending.
pub const MAX_POOL_ITEMS: usize = 256;
/// Most bytes pending.
pub const MAX_POOL_BYTES: usize = 256 * 1024;

#[derive(Debug, Default)]
pub struct EvidencePool {
    /// Pending items by (offence height, id): the oldest offences go into blocks first (they expire first).
    pending: BTreeMap<(Height, Hash), Vec<u8>>,
    bytes: usize,
    /// Committed ids and their offence heights.
    committed: BTreeMap<Hash, Height>,
}

impl EvidencePool {
    /// Adds evidence unless it is committed or pending already. When full, the oldest offence is dropped for a
    /// newer one (it would expire first); returns whether the item was kept.
    pub fn add(&mut self, e: &Evidence) -> bool {
        let bytes = cairn_primitives::encode(e);
        let id = evidence_id(&bytes);
        let key = (e.first.vote.height, id);
        if self.committed.contains_key(&id) || self.pending.contains_key(&key) {
            return false;
        }
        while self.pending.len() >= MAX_POOL_ITEMS || self.bytes + bytes.len() > MAX_POOL_BYTES {
            let Some((oldest, _)) = self.pending.first_key_value() else { return false };
            if *oldest >= key {
                return false;
            }
            if let Some((_, b)) = self.pending.pop_first() {
                self.bytes -= b.len();
            }
        }
        self.bytes += bytes.len();
        self.pending.insert(key, bytes);
        true
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn is_committed(&self, id: &Hash) -> bool {
        self.committed.contains_key(id)
    }

    /// Items for a block at `height`: the oldest first, each passing the checks every validator will run, within
    /// the per-block bounds.
    pub fn reap<'a>(
        &self,
        height: Height,
        chain_id: &ChainId,
        set_at: impl Fn(Height) -> Option<&'a ValidatorSet>,
    ) -> Vec<Vec<u8>> {
        let committed = |id: &Hash| self.is_committed(id);
        let mut out = Vec::new();
        let mut bytes = 0;
        for item in self.pending.values() {
            if out.len() >= MAX_EVIDENCE_PER_BLOCK || bytes + item.len() > MAX_EVIDENCE_BYTES {
                break;
            }
            if check_one(item, height, chain_id, &set_at, &committed).is_ok() {
                bytes += item.len();
                out.push(item.clone());
            }
        }
        out
    }

    /// A block at `height` committed `items`: remember their ids, drop them from the pending ones, and forget
    /// what is now too old to be included.
    pub fn commit(&mut self, height: Height, items: &[Vec<u8>]) {
        for bytes in items {
            let id = evidence_id(bytes);
            let offence = cairn_primitives::decode::<Evidence>(bytes, super::MAX_EVIDENCE_ITEM_BYTES)
                .map_or(height, |e| e.first.vote.height);
            self.committed.insert(id, offence);
            if let Some(b) = self.pending.remove(&(offence, id)) {
                self.bytes -= b.len();
            }
        }
        // Evidence of offences below this is refused from the next block on.
        let floor = height.next().0.saturating_sub(MAX_EVIDENCE_AGE);
        self.committed.retain(|_, h| h.0 >= floor);
        let stale: Vec<(Height, Hash)> =
            self.pending.keys().take_while(|(h, _)| h.0 < floor).copied().collect();
        for key in stale {
            if let Some(b) = self.pending.remove(&key) {
                self.bytes -= b.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cairn_consensus::{SignedVote, Vote, VoteKind};
    use cairn_primitives::{Keypair, Validator};

    use super::*;

    fn evidence(signer: u64, height: u64) -> Evidence {
        let chain: ChainId = "t".parse().unwrap();
        let k = Keypair::derived("pool", signer);
        let v = |b: &[u8]| Vote {
            kind: VoteKind::Notarize,
            height: Height(height),
            view: 0,
            block: Hash::digest(b),
        };
        Evidence::equivocation(SignedVote::new(v(b"a"), &chain, &k), SignedVote::new(v(b"b"), &chain, &k))
            .unwrap()
    }

    #[test]
    fn the_pool_is_bounded_and_keeps_the_newest_offences() {
        let mut pool = EvidencePool::default();
        for i in 0..MAX_POOL_ITEMS as u64 + 10 {
            pool.add(&evidence(i, 10 + i));
        }
        assert_eq!(pool.len(), MAX_POOL_ITEMS);
        assert!(pool.bytes() <= MAX_POOL_BYTES);
        assert!(!pool.add(&evidence(1000, 1)), "older than everything held: refused when full");
        assert!(
            !pool.add(&evidence(MAX_POOL_ITEMS as u64 + 9, 10 + MAX_POOL_ITEMS as u64 + 9)),
            "a duplicate"
        );
    }

    #[test]
    fn committed_evidence_leaves_the_pool_and_is_not_reaped_again() {
        let chain: ChainId = "t".parse().unwrap();
        let set = ValidatorSet::new(
            (0..3)
                .map(|i| Validator { public_key: Keypair::derived("pool", i).public(), power: 1 })
                .collect(),
        )
        .unwrap();
        let mut pool = EvidencePool::default();
        assert!(pool.add(&evidence(0, 5)));
        assert!(pool.add(&evidence(1, 5)));
        assert!(pool.add(&evidence(7, 5)), "the pool takes what the engine saw; reap filters");
        let reaped = pool.reap(Height(6), &chain, |_| Some(&set));
        assert_eq!(reaped.len(), 2, "the non-validator's evidence is not proposed");
        let first = cairn_primitives::encode(&evidence(0, 5));
        pool.commit(Height(6), std::slice::from_ref(&first));
        assert_eq!(pool.len(), 2);
        assert!(!pool.add(&evidence(0, 5)), "committed evidence is not pooled again");
        let again = pool.reap(Height(7), &chain, |_| Some(&set));
        assert_eq!(again, vec![cairn_primitives::encode(&evidence(1, 5))]);
        // Far later, everything left is too old: pruned.
        pool.commit(Height(5 + MAX_EVIDENCE_AGE + 1), &[]);
        assert_eq!(pool.len(), 0);
        assert_eq!(pool.bytes(), 0);
    }
}
