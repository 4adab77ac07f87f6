//! What the snow integration tests share: a 4-validator network and an engine started at height 1 with the set
//! known for heights 1 and 2. Each test binary uses part of it.
#![allow(dead_code)]

use std::sync::Arc;

use cairn_consensus::{Engine, Input, PlainVerifier};
use cairn_primitives::{ChainId, Hash, Height, Keypair, Validator, ValidatorSet};
use cairn_snow::{Config, Message, Params, SamplerCache, SnowEngine};

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

/// Four validators of weight 1 (keys sorted), on the chain `label`, with keys derived from `label`.
pub struct Net {
    pub keys: Vec<Keypair>,
    pub set: Arc<ValidatorSet>,
    pub chain: ChainId,
    pub seed: Hash,
}

pub fn net(label: &str) -> Net {
    let mut keys: Vec<Keypair> = (0..4).map(|i| Keypair::derived(label, i)).collect();
    keys.sort_by_key(|k| k.public());
    let set = Arc::new(
        ValidatorSet::new(keys.iter().map(|k| Validator { public_key: k.public(), power: 1 }).collect())
            .unwrap(),
    );
    Net { keys, set, chain: label.parse().unwrap(), seed: Hash::digest(b"seed") }
}

/// `m` as received from validator `from`.
pub fn msg(net: &Net, from: usize, m: &Message) -> Input {
    Input::Message { from: net.keys[from].public(), bytes: m.encode() }
}
