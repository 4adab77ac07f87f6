use cairn_bft::{BftEngine, Message};
use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time};
use cairn_primitives::{PublicKey, Signature};

use crate::NodeContext;
use crate::protocol::Bft;

/// Sends every proposal and vote with a signature that does not verify (a forger that cannot sign).
pub struct Impersonate {
    inner: BftEngine,
    buf: Vec<Effect>,
}

impl Impersonate {
    pub fn new(ctx: &NodeContext) -> Impersonate {
        Impersonate { inner: Bft::engine(ctx), buf: Vec::new() }
    }
}

fn forge(mut sig: Signature) -> Signature {
    sig.0[0] ^= 0x01;
    sig.0[40] ^= 0x80;
    sig
}

impl Engine for Impersonate {
    fn handle(&mut self, now: Time, input: Input, effects: &mut Vec<Effect>) {
        self.buf.clear();
        self.inner.handle(now, input, &mut self.buf);
        for effect in std::mem::take(&mut self.buf) {
            let bytes = match &effect {
                Effect::Broadcast { bytes } | Effect::Send { bytes, .. } => bytes,
                _ => {
                    effects.push(effect);
                    continue;
                }
            };
            let forged = match Message::decode(bytes) {
                Ok(Message::Proposal { vote, signature, justify }) => {
                    Message::Proposal { vote, signature: forge(signature), justify }.encode()
                }
                Ok(Message::Vote { vote, signature }) => {
                    Message::Vote { vote, signature: forge(signature) }.encode()
                }
                Ok(Message::Retry { vote, signature }) => {
                    Message::Retry { vote, signature: forge(signature) }.encode()
                }
                _ => bytes.clone(),
            };
            effects.push(match effect {
                Effect::Send { to, .. } => Effect::Send { to, bytes: forged },
                _ => Effect::Broadcast { bytes: forged },
            });
        }
    }

    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }

    fn status(&self) -> Status {
        self.inner.status()
    }

    fn dropped(&self) -> DropCounters {
        self.inner.dropped()
    }
}
