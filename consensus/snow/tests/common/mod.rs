//! What the snow integration tests share: an engine started at height 1 with the set known for heights 1 and 2.

use std::sync::Arc;

use cairn_consensus::{Engine, Input, PlainVerifier};
use cairn_primitives::{ChainId, Hash, Height, Keypair, ValidatorSet};
use cairn_snow::{Config, Params, SamplerCache, SnowEngine};

/// An engine signing with `key`, told `set` for heights 1 and 2, and started from genesis.
pub fn started_engine(
    chain: &ChainId,
    key: &Keypair,
    seed: Hash,
    params: Params,
    set: &Arc<ValidatorSet>,
) -> SnowEngine {
    let mut engine = SnowEngine::new(Config {
        chain_id: chain.clone(),
        signer: Arc::new(key.clone()),
        seed,
        params,
        verifier: Arc::new(PlainVerifier),
        samplers: Arc::new(SamplerCache::default()),
    })
    .expect("valid params");
    let mut out = Vec::new();
    for h in [Height(1), Height(2)] {
        engine.handle(0, Input::ValidatorSet { height: h, validators: set.clone() }, &mut out);
    }
    engine.handle(0, Input::Start { last_finalized: (Height(0), Hash::ZERO), wal: Vec::new() }, &mut out);
    engine
}
