//! The start-up handshake between the block store and the application (what CometBFT calls the handshake).
//!
//! The node writes a block and its results *before* it asks the app to `Commit`, so after a crash the app may be
//! behind the store, never ahead. The handshake asks the app where it is (`Info`), initialises it from genesis if
//! it is fresh (`InitChain`), replays every stored block it lacks (`FinalizeBlock` + `Commit`), and checks at each
//! step that the app's hash is the one the chain recorded — the next header's `app_hash`, or the results stored by
//! the original run. A mismatch stops the node with the height and both hashes.

use cairn_abci::{Application, FinalizeBlockRequest, InfoRequest};
use cairn_primitives::{Block, Hash, Height};
use cairn_store::BlockStore;
use tracing::{info, warn};

use crate::error::{HandshakeError, NodeError};
use crate::genesis::Genesis;
use crate::state::ChainState;

/// What the handshake found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandshakeReport {
    /// The app's height before the handshake.
    pub app_height: Height,
    /// The store's last height.
    pub store_height: Height,
    /// Blocks replayed into the app.
    pub replayed: u64,
    /// Whether `InitChain` was called.
    pub initialised: bool,
}

/// The `FinalizeBlock` call for a stored or finalized block. Misbehaviour and the last commit's signers come from
/// the block itself, never from what this node observed (that would make app hashes differ between nodes).
pub fn finalize_request(block: &Block) -> FinalizeBlockRequest {
    FinalizeBlockRequest {
        txs: block.txs.clone(),
        hash: block.id(),
        height: block.header.height,
        time_ms: block.header.time_ms,
        proposer: block.header.proposer,
        misbehavior: crate::evidence::misbehavior(block),
        decided_last_commit: crate::evidence::decided_last_commit(block),
    }
}

/// Brings `app` level with `store` and returns the chain state after the store's last block.
pub async fn handshake(
    app: &dyn Application,
    store: &BlockStore,
    genesis: &Genesis,
) -> Result<(ChainState, HandshakeReport), NodeError> {
    let info = app.info(InfoRequest {}).await?;
    let store_height = store.last_height()?;
    let base = Height(genesis.initial_height.0.saturating_sub(1));
    let mut report =
        HandshakeReport { app_height: info.last_height, store_height, replayed: 0, initialised: false };
    if info.last_height > store_height.max(base) {
        return Err(HandshakeError::AppAhead { app_height: info.last_height, store_height }.into());
    }

    let recorded_genesis = ChainState::load_genesis(store)?;
    let (mut app_height, mut app_hash) = (info.last_height, info.last_app_hash);
    let already_initialised = info.last_height == base
        && recorded_genesis.as_ref().is_some_and(|g| g.app_hash == info.last_app_hash);
    if info.last_height <= base && !already_initialised {
        let resp = app.init_chain(genesis.init_chain_request()).await?;
        report.initialised = true;
        let validators = if resp.validators.is_empty() {
            genesis.validator_set()
        } else {
            cairn_primitives::ValidatorSet::new(resp.validators.clone())
        }
        .map_err(|e| NodeError::Internal(format!("InitChain returned an invalid validator set: {e}")))?;
        let params = resp.consensus_params.clone().unwrap_or_else(|| genesis.consensus_params.clone());
        let fresh = ChainState::genesis(genesis.initial_height, resp.app_hash, params, validators);
        match &recorded_genesis {
            Some(recorded) if recorded.app_hash != resp.app_hash => {
                return Err(HandshakeError::AppHashMismatch {
                    height: base,
                    chain: recorded.app_hash,
                    app: resp.app_hash,
                }
                .into());
            }
            Some(_) => {}
            None => fresh.save_genesis(store)?,
        }
        app_height = base;
        app_hash = resp.app_hash;
        info!(app_hash = %app_hash, "application initialised from genesis");
    } else if recorded_genesis.is_none() {
        return Err(HandshakeError::CorruptState(format!(
            "the application is at height {} but this node's store has no genesis record; use a fresh \
             application state or the data directory that belongs to it",
            info.last_height
        ))
        .into());
    }

    let mut h = app_height.next();
    while h <= store_height {
        let block = store.block(h)?.ok_or(HandshakeError::MissingBlock { height: h, last: store_height })?;
        if block.header.app_hash != app_hash {
            return Err(HandshakeError::AppHashMismatch {
                height: Height(h.0 - 1),
                chain: block.header.app_hash,
                app: app_hash,
            }
            .into());
        }
        let recorded = store.results(h)?;
        let resp = app.finalize_block(finalize_request(&block)).await?;
        if resp.tx_results.len() != block.txs.len() {
            return Err(NodeError::Internal(format!(
                "FinalizeBlock at height {h} returned {} results for {} txs",
                resp.tx_results.len(),
                block.txs.len()
            )));
        }
        if let Some(recorded) = recorded
            && recorded.app_hash != resp.app_hash
        {
            return Err(HandshakeError::AppHashMismatch {
                height: h,
                chain: recorded.app_hash,
                app: resp.app_hash,
            }
            .into());
        }
        store.put_results(h, &resp)?;
        app.commit().await?;
        app_hash = resp.app_hash;
        report.replayed += 1;
        h = h.next();
    }
    if report.replayed > 0 {
        warn!(from = %app_height.next(), to = %store_height, "replayed blocks the application had not committed");
    }

    let state = ChainState::recover(store)?
        .ok_or_else(|| HandshakeError::CorruptState("no genesis record after InitChain".into()))?;
    if state.app_hash != app_hash {
        let chain: Hash = state.app_hash;
        return Err(HandshakeError::AppHashMismatch { height: state.height, chain, app: app_hash }.into());
    }
    Ok((state, report))
}
