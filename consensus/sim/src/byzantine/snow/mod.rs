//! Byzantine behaviours against the sampling engine, one file each. Each wraps an honest `SnowEngine` so it
//! follows the chain (knows blocks, finalizes, polls) and rewrites what it says.

mod balance;
mod conflict;
mod random;

use cairn_primitives::{Hash, Height};

pub use balance::Balance;
pub use conflict::Conflict;
pub use random::Random;

/// A block id no honest node would build, for `height` on `parent` (distinct per attacker).
fn twin(parent: &Hash, height: Height, attacker: usize) -> Hash {
    Hash::digest_parts(&[
        b"cairn/sim/snow/twin",
        &parent.0,
        &height.0.to_le_bytes(),
        &(attacker as u64).to_le_bytes(),
    ])
}
