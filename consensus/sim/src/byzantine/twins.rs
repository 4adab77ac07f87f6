//! Twins (Bano et al., OPODIS 2021): a validator whose key runs in two unmodified honest engines. The
//! simulator builds the second copy and splits the network between them (see `Simulation::twin_side`): each copy
//! hears, and is heard by, one side only, so the pair double-votes whenever the two sides differ — equivocation,
//! nullify + finalize, forgotten state — with nothing but honest code.

use cairn_consensus::Engine;

use crate::NodeContext;
use crate::protocol::Bft;

/// One copy of a twinned validator: the honest engine itself.
pub fn twin(ctx: &NodeContext) -> Box<dyn Engine> {
    Box::new(Bft::engine(ctx))
}
