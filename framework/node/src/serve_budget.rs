//! How many sync and body requests this node serves at once: [`MAX_SERVING`] in all and [`PER_PEER`] per peer, so
//! one peer asking for everything cannot take every server from the peers that are catching up honestly.

use std::sync::{Arc, Mutex};

use cairn_primitives::PublicKey;

use crate::per_key::PerKey;

/// Requests served at once, in all.
pub(crate) const MAX_SERVING: usize = 16;
/// Requests served at once for one peer.
pub(crate) const PER_PEER: usize = 4;

#[derive(Clone, Default)]
pub(crate) struct ServeBudget {
    inner: Arc<Mutex<Busy>>,
}

#[derive(Default)]
struct Busy {
    total: usize,
    per_peer: PerKey,
}

/// One request being served; dropping it frees the slot.
pub(crate) struct Slot {
    budget: ServeBudget,
    peer: PublicKey,
}

impl ServeBudget {
    /// A slot for `peer`'s request, or `None` when this node or this peer is at its limit (the peer is told
    /// "busy" and retries; it is not punished).
    pub fn try_take(&self, peer: PublicKey) -> Option<Slot> {
        let mut b = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mine = b.per_peer.get(&peer);
        if b.total >= MAX_SERVING || mine >= PER_PEER {
            return None;
        }
        b.total += 1;
        b.per_peer.add(peer, 1);
        Some(Slot { budget: self.clone(), peer })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut b = self.budget.inner.lock().unwrap_or_else(|p| p.into_inner());
        b.total = b.total.saturating_sub(1);
        b.per_peer.sub(&self.peer, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_primitives::Keypair;

    #[test]
    fn one_peer_cannot_take_every_server() {
        let budget = ServeBudget::default();
        let keys: Vec<PublicKey> = (0..5).map(|i| Keypair::derived("serve", i).public()).collect();
        let greedy: Vec<Slot> =
            (0..PER_PEER).map(|_| budget.try_take(keys[0]).expect("within its share")).collect();
        assert!(budget.try_take(keys[0]).is_none(), "a peer is served at most PER_PEER at once");
        let others: Vec<Slot> =
            keys[1..].iter().flat_map(|k| (0..PER_PEER).map(|_| budget.try_take(*k))).flatten().collect();
        assert_eq!(greedy.len() + others.len(), MAX_SERVING, "the node serves MAX_SERVING at once");
        assert!(budget.try_take(keys[4]).is_none());
        drop(greedy);
        assert!(budget.try_take(keys[0]).is_some(), "finished requests free their slots");
    }
}
