use cairn_consensus::{DropCounters, Effect, Engine, Input, Status, Time};
use cairn_primitives::PublicKey;

use crate::NodeContext;

/// A validator that is down from the start: it never sends anything.
pub struct Silent {
    me: PublicKey,
}

impl Silent {
    pub fn new(ctx: &NodeContext) -> Silent {
        Silent { me: ctx.key.public() }
    }
}

impl Engine for Silent {
    fn handle(&mut self, _now: Time, _input: Input, _effects: &mut Vec<Effect>) {}

    fn public_key(&self) -> PublicKey {
        self.me
    }

    fn status(&self) -> Status {
        Status::default()
    }

    fn dropped(&self) -> DropCounters {
        DropCounters::default()
    }
}
