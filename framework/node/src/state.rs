//! The node's view of the chain after the last committed block: what the next block must say in its header,
//! which validators decide the next two heights, and which engine runs.
//!
//! It is a pure function of genesis (plus `InitChain`'s answer) and the stored `FinalizeBlock` results, so after
//! a crash it is recomputed from the last checkpoint in the block store's metadata by re-applying results.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_abci::{ConsensusParams, EngineKind, FinalizeBlockResponse};
use cairn_primitives::{Block, Hash, Height, ValidatorSet};
use cairn_store::BlockStore;

use crate::error::{HandshakeError, NodeError};

/// Metadata key of the latest checkpoint.
const STATE_KEY: &str = "chain_state";
/// Metadata key of the state right after `InitChain`.
const GENESIS_STATE_KEY: &str = "genesis_state";

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainState {
    /// Last committed height (`initial_height - 1` before the first block).
    pub height: Height,
    pub last_block_id: Hash,
    pub last_block_time_ms: u64,
    /// App hash after `height`: the next header's `app_hash`.
    pub app_hash: Hash,
    /// Params in force for `height + 1`.
    pub params: ConsensusParams,
    /// Validators deciding `height + 1`.
    pub next: ValidatorSet,
    /// Validators deciding `height + 2` (updates returned at `height` apply there).
    pub next_next: ValidatorSet,
    /// First height decided by the running engine instance; tags its WAL records and messages.
    pub engine_epoch: Height,
    /// Sets that decided recent heights, as `(first height, set)` in height order: enough to check a last
    /// commit (the set of `height`) and evidence up to `MAX_EVIDENCE_AGE` heights old against the set of the
    /// offence's height. A pure function of the results, like the rest of the state.
    pub past: Vec<(Height, ValidatorSet)>,
}

impl ChainState {
    /// The state before the first block.
    pub fn genesis(
        initial_height: Height,
        app_hash: Hash,
        params: ConsensusParams,
        validators: ValidatorSet,
    ) -> ChainState {
        ChainState {
            height: Height(initial_height.0.saturating_sub(1)),
            last_block_id: Hash::ZERO,
            last_block_time_ms: 0,
            app_hash,
            engine_epoch: initial_height,
            params,
            next: validators.clone(),
            next_next: validators,
            past: Vec::new(),
        }
    }

    /// The engine deciding `height + 1`.
    pub fn engine(&self) -> EngineKind {
        self.params.engine_at(self.height.next())
    }

    /// The state after `block` executed with `results`. Validator updates at H apply at H+2; param updates
    /// from H apply from H+1; an engine switch scheduled for H+1 starts a new engine epoch there.
    pub fn advance(&self, block: &Block, results: &FinalizeBlockResponse) -> Result<ChainState, NodeError> {
        let height = block.header.height;
        let next_next = if results.validator_updates.is_empty() {
            self.next_next.clone()
        } else {
            self.next_next.apply_updates(&results.validator_updates).map_err(|e| {
                NodeError::Internal(format!("validator updates returned at height {height} are invalid: {e}"))
            })?
        };
        let params = results.consensus_param_updates.clone().unwrap_or_else(|| self.params.clone());
        let following = height.next();
        let switch_now = params.engine_switch.is_some_and(|s| s.height == following);
        let mut past = self.past.clone();
        if past.last().is_none_or(|(_, set)| *set != self.next) {
            past.push((height, self.next.clone()));
        }
        // Keep the latest entry at or below the oldest height evidence may still come from, and all after it.
        let floor = Height(following.0.saturating_sub(crate::evidence::MAX_EVIDENCE_AGE));
        while past.get(1).is_some_and(|(from, _)| *from <= floor) {
            past.remove(0);
        }
        Ok(ChainState {
            height,
            last_block_id: block.id(),
            last_block_time_ms: block.header.time_ms,
            app_hash: results.app_hash,
            engine_epoch: if switch_now { following } else { self.engine_epoch },
            params,
            next: self.next_next.clone(),
            next_next,
            past,
        })
    }

    /// Set that decides `h`: `height + 1` and `height + 2`, and past heights back to `MAX_EVIDENCE_AGE` below
    /// `height + 1` (older ones, and heights before the first block, are unknown).
    pub fn validators_at(&self, h: Height) -> Option<&ValidatorSet> {
        if h == self.height.next() {
            Some(&self.next)
        } else if h == self.height.next().next() {
            Some(&self.next_next)
        } else if h <= self.height
            && h.0 >= self.height.next().0.saturating_sub(crate::evidence::MAX_EVIDENCE_AGE)
        {
            self.past.iter().rev().find(|(from, _)| *from <= h).map(|(_, set)| set)
        } else {
            None
        }
    }

    pub fn save(&self, store: &BlockStore) -> Result<(), NodeError> {
        store.put_meta(STATE_KEY, &cairn_primitives::encode(self))?;
        Ok(())
    }

    pub fn save_genesis(&self, store: &BlockStore) -> Result<(), NodeError> {
        store.put_meta(GENESIS_STATE_KEY, &cairn_primitives::encode(self))?;
        Ok(())
    }

    /// The genesis state recorded when the chain was first initialised, if any.
    pub fn load_genesis(store: &BlockStore) -> Result<Option<ChainState>, NodeError> {
        load(store, GENESIS_STATE_KEY)
    }

    /// Recovers the state after the store's last block: the latest checkpoint, rolled forward through stored
    /// results. `None` on a fresh store.
    pub fn recover(store: &BlockStore) -> Result<Option<ChainState>, NodeError> {
        let Some(mut state) = load(store, STATE_KEY)?.or(load(store, GENESIS_STATE_KEY)?) else {
            return Ok(None);
        };
        let last = store.last_height()?;
        while state.height < last {
            let h = state.height.next();
            let block = store.block(h)?.ok_or(HandshakeError::MissingBlock { height: h, last })?;
            let results = store
                .results(h)?
                .ok_or_else(|| HandshakeError::CorruptState(format!("results of height {h} are missing")))?;
            state = state.advance(&block, &results)?;
        }
        Ok(Some(state))
    }
}

fn load(store: &BlockStore, key: &str) -> Result<Option<ChainState>, NodeError> {
    match store.meta(key)? {
        None => Ok(None),
        Some(bytes) => cairn_primitives::decode(&bytes, 64 * 1024 * 1024)
            .map(Some)
            .map_err(|e| HandshakeError::CorruptState(format!("{key}: {e}")).into()),
    }
}

#[cfg(test)]
mod tests {
    use cairn_abci::EngineSwitch;
    use cairn_primitives::{Header, Keypair, Validator};

    use super::*;

    fn set(n: u64) -> ValidatorSet {
        ValidatorSet::new(
            (0..n).map(|i| Validator { public_key: Keypair::derived("s", i).public(), power: 1 }).collect(),
        )
        .unwrap()
    }

    fn block(h: u64) -> Block {
        let txs: Vec<Vec<u8>> = vec![];
        Block {
            header: Header {
                chain_id: "t".parse().unwrap(),
                height: Height(h),
                parent: Hash::ZERO,
                time_ms: h,
                proposer: Keypair::derived("s", 0).public(),
                txs_root: Block::txs_root(&txs),
                app_hash: Hash::ZERO,
                validators_hash: Hash::ZERO,
                last_commit_hash: Hash::ZERO,
                evidence_root: Hash::ZERO,
            },
            txs,
            last_commit: Vec::new(),
            evidence: Vec::new(),
        }
    }

    #[test]
    fn validator_updates_apply_two_heights_later() {
        let s0 = ChainState::genesis(Height(1), Hash::ZERO, ConsensusParams::default(), set(4));
        let added = Validator { public_key: Keypair::derived("s", 9).public(), power: 5 };
        let r1 = FinalizeBlockResponse { validator_updates: vec![added], ..Default::default() };
        let s1 = s0.advance(&block(1), &r1).unwrap();
        assert_eq!(s1.next.len(), 4, "height 2 still uses the old set");
        assert_eq!(s1.next_next.len(), 5, "height 3 uses the new set");
        let s2 = s1.advance(&block(2), &FinalizeBlockResponse::default()).unwrap();
        assert_eq!(s2.next.len(), 5);
        assert_eq!(s2.validators_at(Height(3)).unwrap().power_of(&added.public_key), 5);
        let s3 = s2.advance(&block(3), &FinalizeBlockResponse::default()).unwrap();
        assert_eq!(
            s3.validators_at(Height(2)).unwrap().len(),
            4,
            "past heights keep the set that decided them"
        );
        assert_eq!(s3.validators_at(Height(3)).unwrap().len(), 5);
        assert_eq!(s3.past.len(), 2, "one entry per change, not per height");
    }

    #[test]
    fn past_sets_are_forgotten_beyond_the_evidence_age() {
        let mut s = ChainState::genesis(Height(1), Hash::ZERO, ConsensusParams::default(), set(4));
        let age = crate::evidence::MAX_EVIDENCE_AGE;
        for h in 1..=age + 10 {
            let power = if h == 5 { 0 } else { 1 };
            // One change early on (a validator removed at 5, so heights from 7 use 3 validators).
            let updates = if power == 0 {
                vec![Validator { public_key: Keypair::derived("s", 3).public(), power: 0 }]
            } else {
                vec![]
            };
            let r = FinalizeBlockResponse { validator_updates: updates, ..Default::default() };
            s = s.advance(&block(h), &r).unwrap();
        }
        let top = s.height.0;
        assert_eq!(s.validators_at(Height(top)).unwrap().len(), 3);
        assert_eq!(s.validators_at(Height(top + 1 - age)).unwrap().len(), 3);
        assert!(s.validators_at(Height(top - age)).is_none(), "older than the evidence age");
        assert!(s.past.len() <= 2);
    }

    #[test]
    fn engine_switch_starts_a_new_epoch_at_its_height() {
        let s0 = ChainState::genesis(Height(1), Hash::ZERO, ConsensusParams::default(), set(4));
        let params = ConsensusParams {
            engine_switch: Some(EngineSwitch { engine: EngineKind::Bft, height: Height(3) }),
            ..ConsensusParams::default()
        };
        let r1 = FinalizeBlockResponse { consensus_param_updates: Some(params), ..Default::default() };
        let s1 = s0.advance(&block(1), &r1).unwrap();
        assert_eq!(s1.engine_epoch, Height(1));
        let s2 = s1.advance(&block(2), &FinalizeBlockResponse::default()).unwrap();
        assert_eq!(s2.engine_epoch, Height(3));
        let s3 = s2.advance(&block(3), &FinalizeBlockResponse::default()).unwrap();
        assert_eq!(s3.engine_epoch, Height(3));
    }
}
