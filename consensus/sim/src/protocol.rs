//! How the simulator makes engines: one implementation per engine family, so any `Engine` plugs in.

use std::sync::Arc;

use cairn_bft::{BftEngine, Config};
use cairn_consensus::{Certificate, Engine, SignatureVerifier, Time};
use cairn_primitives::{ChainId, Hash, Keypair, PublicKey};

use crate::byzantine;
use crate::{Behaviour, Error, Work};

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

    /// What processing the message `bytes` costs (the simulator charges `Costs` for it). Default: nothing.
    fn work(&self, _bytes: &[u8]) -> Work {
        Work::default()
    }

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
            signer: std::sync::Arc::new(ctx.key.clone()),
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

    /// From the borsh layout of `cairn_bft::Message`, without decoding (this runs for every delivery): a vote
    /// is 1 + 49 + 64 bytes; a certificate 1 + 49 + 4 + 68 per signer + 4 (+ 36 per nullify claim, counted
    /// here as about half a signer: an estimate); a proposal is a vote plus a list of certificates.
    fn work(&self, bytes: &[u8]) -> Work {
        const VOTE: usize = 1 + 49 + 64;
        const SIGNER: usize = 4 + 64;
        let verifies = match bytes.first() {
            Some(0) => {
                // The proposal's vote, then the certificates: a u32 count, each 49 + 4 bytes plus its signers.
                let certs = bytes
                    .get(VOTE..VOTE + 4)
                    .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                let body =
                    bytes.len().saturating_sub(VOTE + 4).saturating_sub(certs.saturating_mul(49 + 4 + 4));
                1 + body / SIGNER
            }
            Some(1 | 2) => 1,
            Some(3) => bytes.len().saturating_sub(1 + 49 + 4 + 4) / SIGNER,
            _ => 0,
        };
        Work { verifies: verifies as u32, carries_block: bytes.first() == Some(&0) }
    }

    fn byzantine(&self, behaviour: Behaviour, ctx: &NodeContext) -> Result<Box<dyn Engine>, Error> {
        Ok(match behaviour {
            Behaviour::Silent => Box::new(byzantine::Silent::new(ctx)),
            Behaviour::Equivocate => Box::new(byzantine::Equivocate::new(ctx)),
            Behaviour::Conflict => Box::new(byzantine::Conflict::new(ctx)),
            Behaviour::Null => Box::new(byzantine::Null::new(ctx)),
            Behaviour::Random => Box::new(byzantine::Random::new(ctx)),
            Behaviour::Impersonate => Box::new(byzantine::Impersonate::new(ctx)),
            Behaviour::Unjustified => Box::new(byzantine::Unjustified::new(ctx)),
            Behaviour::NullifyAndFinalize => Box::new(byzantine::NullifyAndFinalize::new(ctx)),
            Behaviour::Twins => byzantine::twin(ctx),
            Behaviour::SplitVotes => Box::new(byzantine::SplitVotes::new(ctx)),
            Behaviour::Balance => {
                return Err(Error::UnsupportedBehaviour { engine: "bft", behaviour: "balance" });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use cairn_bft::Message;
    use cairn_consensus::{Certificate, Vote, VoteKind};
    use cairn_primitives::{Hash, Height, Signature};

    use super::*;

    #[test]
    fn work_matches_the_messages() {
        let vote = Vote { kind: VoteKind::Notarize, height: Height(3), view: 2, block: Hash::digest(b"b") };
        let sig = Signature([7; 64]);
        let cert = |k: u32| Certificate::new(vote, (0..k).map(|i| (i, sig)).collect());
        let cases = [
            (Message::Vote { vote, signature: sig }, 1, false),
            (Message::Retry { vote, signature: sig }, 1, false),
            (Message::Certificate(cert(67)), 67, false),
            (Message::Proposal { vote, signature: sig, justify: vec![] }, 1, true),
            (Message::Proposal { vote, signature: sig, justify: vec![cert(5), cert(3)] }, 9, true),
            (Message::SyncRequest { height: Height(4) }, 0, false),
        ];
        for (msg, verifies, carries_block) in cases {
            assert_eq!(Bft.work(&msg.encode()), Work { verifies, carries_block }, "{msg:?}");
        }
    }
}
