//! Which consensus engine runs, built from the consensus params. The driver only sees `Box<dyn Engine>`: the BFT
//! engine and the sampling engine are one arm each.

use std::sync::Arc;

use cairn_abci::EngineKind;
use cairn_consensus::{Engine, PlainVerifier};
use cairn_primitives::{ChainId, Hash, Height, PublicKey, ValidatorSet};

use crate::error::NodeError;

/// Builds engine instances for this node (its key, the chain, the timeouts).
pub(crate) struct EngineFactory {
    pub chain_id: ChainId,
    /// Signs for this validator: the node's guarded signer (`crate::signer`).
    pub signer: Arc<dyn cairn_consensus::Signer>,
    /// Chain-wide seed (the genesis hash); each epoch derives its own leader schedule seed from it.
    pub seed: Hash,
    pub leader_timeout_ms: u64,
}

impl EngineFactory {
    /// The seed of the engine instance deciding from `epoch` on (its leader or proposer schedule).
    fn epoch_seed(&self, epoch: Height) -> Hash {
        Hash::digest_parts(&[b"cairn/node/engine-seed", self.seed.as_bytes(), &epoch.0.to_le_bytes()])
    }

    /// The proposer the BFT engine of `epoch` requires at (`height`, `view`): block sync checks it against a
    /// finalized header, as the engine does for a live proposal.
    pub fn bft_leader(
        &self,
        validators: &ValidatorSet,
        epoch: Height,
        height: Height,
        view: u64,
    ) -> PublicKey {
        cairn_bft::leader(validators, &self.epoch_seed(epoch), height, view)
    }

    /// Checks a snow fallback certificate of the engine of `epoch`: its signers are positions in the height's
    /// fallback committee (the whole set up to `committee_seats` validators) and must hold > 2/3 of its seats.
    pub fn snow_fallback_ok(
        &self,
        validators: &ValidatorSet,
        epoch: Height,
        cert: &cairn_consensus::Certificate,
    ) -> Result<(), cairn_consensus::Error> {
        let seats = cairn_snow::Params::default().committee_seats;
        cairn_snow::verify_fallback_certificate(
            cert,
            validators,
            &self.epoch_seed(epoch),
            seats,
            &self.chain_id,
            &PlainVerifier,
        )
    }

    /// A fresh engine of `kind` for the epoch starting at `epoch` (first height it decides).
    pub fn make(&self, kind: EngineKind, epoch: Height) -> Result<Box<dyn Engine>, NodeError> {
        let seed = self.epoch_seed(epoch);
        match kind {
            EngineKind::Bft => Ok(Box::new(cairn_bft::BftEngine::new(cairn_bft::Config {
                chain_id: self.chain_id.clone(),
                signer: self.signer.clone(),
                seed,
                leader_timeout: self.leader_timeout_ms,
                verifier: Arc::new(PlainVerifier),
            }))),
            // Sampling: avalanchego's thresholds (k = 20, α = 15, β = 20) with 8 polls in flight (not 4: see `Params`), scaled down by the
            // engine itself when the network has fewer than k other validators.
            EngineKind::Snow => {
                let engine = cairn_snow::SnowEngine::new(cairn_snow::Config {
                    chain_id: self.chain_id.clone(),
                    signer: self.signer.clone(),
                    seed,
                    params: cairn_snow::Params::default(),
                    verifier: Arc::new(PlainVerifier),
                    samplers: Arc::new(cairn_snow::SamplerCache::default()),
                })
                .map_err(|e| NodeError::Engine(format!("cannot build the snow engine: {e}")))?;
                Ok(Box::new(engine))
            }
        }
    }
}
