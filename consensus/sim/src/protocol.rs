//! How the simulator makes engines: one implementation per engine family, so any `Engine` plugs in.

use std::sync::Arc;

use cairn_bft::{BftEngine, Config};
use cairn_consensus::{Certificate, Engine, SignatureVerifier, Time};
use cairn_primitives::{ChainId, Hash, Keypair, PublicKey};

use crate::byzantine;
use crate::{Behaviour, Error};

/// Everything a simulated node is built from.
#[derive(Clone)]
pub struct NodeContext {
    pub index: usize,
    pub key: Keypair,
    pub chain_id: ChainId,
    /// The chain's shared seed (leader schedules, sampling).
    pub seed: Hash,
    /// A seed private to this node (for Byzantine randomness), derived from the run's seed.
    pub node_seed: u64,
    pub leader_timeout: Time,
    pub verifier: Arc<dyn SignatureVerifier>,
    /// Every node's key, by index (Byzantine nodes split the network by it). Shared: 10,000 nodes would
    /// otherwise hold 10,000 copies.
    pub peers: Arc<[PublicKey]>,
}

/// An engine family the simulator can run.
pub trait Protocol {
    /// Name used in reports (`bft`, `snow`).
    fn name(&self) -> &'static str;

    fn honest(&self, ctx: &NodeContext) -> Box<dyn Engine>;

    /// A node misbehaving as `behaviour`, or an error if this engine has no such behaviour.
    fn byzantine(&self, behaviour: Behaviour, ctx: &NodeContext) -> Result<Box<dyn Engine>, Error>;

    /// Checks the protocol's own parameters before a run.
    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Whether a finalization certificate came from a fallback path (counted in `Report::fallbacks`).
    fn is_fallback(&self, _certificate: &Certificate) -> bool {
        false
    }
}

/// The Simplex-family engine of `cairn-bft`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bft;

impl Bft {
    pub fn engine(ctx: &NodeContext) -> BftEngine {
        BftEngine::new(Config {
            chain_id: ctx.chain_id.clone(),
            key: ctx.key.clone(),
            seed: ctx.seed,
            leader_timeout: ctx.leader_timeout,
            verifier: ctx.verifier.clone(),
        })
    }
}

impl Protocol for Bft {
    fn name(&self) -> &'static str {
        "bft"
    }

    fn honest(&self, ctx: &NodeContext) -> Box<dyn Engine> {
        Box::new(Bft::engine(ctx))
    }

    fn byzantine(&self, behaviour: Behaviour, ctx: &NodeContext) -> Result<Box<dyn Engine>, Error> {
        Ok(match behaviour {
            Behaviour::Silent => Box::new(byzantine::Silent::new(ctx)),
            Behaviour::Equivocate => Box::new(byzantine::Equivocate::new(ctx)),
            Behaviour::Conflict => Box::new(byzantine::Conflict::new(ctx)),
            Behaviour::Null => Box::new(byzantine::Null::new(ctx)),
            Behaviour::Random => Box::new(byzantine::Random::new(ctx)),
            Behaviour::Impersonate => Box::new(byzantine::Impersonate::new(ctx)),
            Behaviour::Balance => {
                return Err(Error::UnsupportedBehaviour { engine: "bft", behaviour: "balance" });
            }
        })
    }
}
