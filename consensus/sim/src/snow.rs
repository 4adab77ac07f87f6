//! The Snowman-family engine of `cairn-snow` as a simulator protocol.

use std::sync::Arc;

use cairn_consensus::{Certificate, Engine, VoteKind};
use cairn_snow::{ATTEST_VIEW, Config, Params, SamplerCache, SnowEngine};

use crate::byzantine::{self, snow as bz};
use crate::{Behaviour, Error, NodeContext, Protocol};

/// Runs `cairn-snow` with `params`; all simulated nodes share one sampler cache.
#[derive(Clone, Default)]
pub struct Snow {
    pub params: Params,
    samplers: Arc<SamplerCache>,
}

impl Snow {
    pub fn new(params: Params) -> Snow {
        Snow { params, samplers: Arc::new(SamplerCache::default()) }
    }

    /// An honest engine for `ctx` (Byzantine wrappers build on it).
    pub fn engine(&self, ctx: &NodeContext) -> Result<SnowEngine, Error> {
        SnowEngine::new(Config {
            chain_id: ctx.chain_id.clone(),
            signer: std::sync::Arc::new(ctx.key.clone()),
            seed: ctx.seed,
            params: self.params,
            verifier: ctx.verifier.clone(),
            samplers: self.samplers.clone(),
        })
        .map_err(|e| Error::Config(e.to_string()))
    }
}

impl Protocol for Snow {
    fn name(&self) -> &'static str {
        "snow"
    }

    fn honest(&self, ctx: &NodeContext) -> Box<dyn Engine> {
        match self.engine(ctx) {
            Ok(e) => Box::new(e),
            // Parameters are validated when the simulation is built (`byzantine`/`validate` paths); a node that
            // cannot be built stays silent rather than panicking.
            Err(_) => Box::new(byzantine::Silent::new(ctx)),
        }
    }

    fn byzantine(&self, behaviour: Behaviour, ctx: &NodeContext) -> Result<Box<dyn Engine>, Error> {
        let inner = self.engine(ctx)?;
        Ok(match behaviour {
            Behaviour::Silent => Box::new(byzantine::Silent::new(ctx)),
            Behaviour::Balance => Box::new(bz::Balance::new(ctx, inner)),
            Behaviour::Random => Box::new(bz::Random::new(ctx, inner)),
            Behaviour::Conflict => Box::new(bz::Conflict::new(ctx, inner)),
            other => return Err(Error::UnsupportedBehaviour { engine: "snow", behaviour: other.name() }),
        })
    }

    fn validate(&self) -> Result<(), Error> {
        self.params.validate().map_err(|e| Error::Config(e.to_string()))
    }

    /// Blocks finalized by the quorum fallback carry a `Finalize` certificate of a fallback view (≥ 1); sampled ones
    /// a `Prefer` attestation, or — for a node that took a committee certificate of members' sampled
    /// finalizations — a `Finalize` of `ATTEST_VIEW`: that height was decided by sampling, not by the fallback.
    fn is_fallback(&self, certificate: &Certificate) -> bool {
        certificate.vote.kind == VoteKind::Finalize && certificate.vote.view != ATTEST_VIEW
    }
}
