//! Byzantine behaviours for the BFT engine, one file each. Most wrap an honest engine (so they stay in step with
//! the protocol) and rewrite what it sends; none of them can forge another validator's signature.

mod conflict;
mod equivocate;
mod impersonate;
mod null;
mod nullify_and_finalize;
mod random;
mod silent;
pub mod snow;
mod split_votes;
mod twins;
mod unjustified;

use bytes::Bytes;
use cairn_bft::Message;
use cairn_consensus::Effect;
use cairn_primitives::{Hash, PublicKey};

pub use conflict::Conflict;
pub use equivocate::Equivocate;
pub use impersonate::Impersonate;
pub use null::Null;
pub use nullify_and_finalize::NullifyAndFinalize;
pub use random::Random;
pub use silent::Silent;
pub use split_votes::SplitVotes;
pub use twins::twin;
pub use unjustified::Unjustified;

use crate::NodeContext;

/// The other nodes split in two halves by index.
fn halves(ctx: &NodeContext) -> (Vec<PublicKey>, Vec<PublicKey>) {
    let others: Vec<PublicKey> =
        ctx.peers.iter().enumerate().filter(|(i, _)| *i != ctx.index).map(|(_, k)| *k).collect();
    let mid = others.len() / 2;
    (others[..mid].to_vec(), others[mid..].to_vec())
}

/// A block id no honest node would ever build, derived from a real one.
fn evil_twin(block: &Hash) -> Hash {
    Hash::digest_parts(&[b"cairn/sim/evil", &block.0])
}

fn send_all(to: &[PublicKey], bytes: &Bytes, out: &mut Vec<Effect>) {
    out.extend(to.iter().map(|k| Effect::Send { to: *k, bytes: bytes.clone() }));
}

/// Decodes an outgoing broadcast of the wrapped engine (it is always well-formed).
fn outgoing(effect: &Effect) -> Option<Message> {
    match effect {
        Effect::Broadcast { bytes } => Message::decode(bytes).ok(),
        _ => None,
    }
}
