//! Who each connected peer is. A peer's *identity* — the key the node sees in every event and names in every
//! send — is the validator key it proved with a [`Binding`] on this connection, else its own p2p key. The two
//! cannot be confused: a p2p key that is not bound is only ever the peer's own (noise proved it holds it), and a
//! validator key is reached through its binding only.
//!
//! A peer is announced to the node ([`NetEvent::PeerConnected`]) once identify has told us whether it is a
//! validator, because only then do we know whether it holds a reserved slot. A peer that never identifies is
//! announced without a binding after [`IDENTIFY_TIMEOUT`].
//!
//! Bounded by the connections: one binding per connected peer, one peer per validator key (the latest to prove
//! it: only the validator can sign a binding, so only it can move itself), both forgotten on disconnect.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_primitives::PublicKey;
use libp2p::{PeerId, identify};

use super::{Task, protocol_version};
use crate::binding::Binding;
use crate::events::NetEvent;
use crate::identity::{peer_id_of, public_key_of};
use crate::score::Offence;

/// How long a connected peer may take to identify before it is announced as a plain (unbound) peer.
pub(super) const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(super) struct PeerIdentities {
    /// Connected, not yet identified: since when.
    pending: HashMap<PeerId, Instant>,
    /// The identity announced to the node, per announced peer (its disconnect names the same key).
    announced: HashMap<PeerId, PublicKey>,
    /// Verified bindings of connected peers, both ways.
    validator_of: HashMap<PeerId, PublicKey>,
    peer_of: HashMap<PublicKey, PeerId>,
    /// Verified bindings of gossip authors we may not be connected to (`relay.rs`).
    pub relayed: super::relay::Relayed,
}

impl PeerIdentities {
    pub fn new(chain_id: &cairn_primitives::ChainId) -> PeerIdentities {
        PeerIdentities {
            pending: HashMap::new(),
            announced: HashMap::new(),
            validator_of: HashMap::new(),
            peer_of: HashMap::new(),
            relayed: super::relay::Relayed::new(chain_id),
        }
    }

    /// The key a peer (or a gossip author) goes by: the validator key it proved on our connection or in its
    /// gossiped binding, else its p2p key (`None`: not an ed25519 identity).
    pub fn identity(&self, peer: &PeerId) -> Option<PublicKey> {
        self.validator_of
            .get(peer)
            .copied()
            .or_else(|| self.relayed.get(peer))
            .or_else(|| public_key_of(peer))
    }

    /// The peer an identity names: the peer bound to that validator key, else the peer whose p2p key it is.
    pub fn resolve(&self, key: &PublicKey) -> Result<PeerId, crate::P2pError> {
        match self.peer_of.get(key) {
            Some(peer) => Ok(*peer),
            None => peer_id_of(key),
        }
    }

    /// The identities of the peers announced to the node (connected and identified).
    pub fn announced(&self) -> impl Iterator<Item = PublicKey> + '_ {
        self.announced.values().copied()
    }

    fn forget(&mut self, peer: &PeerId) -> Option<PublicKey> {
        self.pending.remove(peer);
        if let Some(v) = self.validator_of.remove(peer)
            && self.peer_of.get(&v) == Some(peer)
        {
            self.peer_of.remove(&v);
        }
        self.announced.remove(peer)
    }
}

impl Task {
    /// A peer's first connection: it waits for identify before the node hears of it.
    pub(super) fn on_first_connection(&mut self, peer: PeerId) {
        self.peers.pending.insert(peer, Instant::now());
    }

    /// A peer's last connection closed: the node hears of it under the identity it was announced with.
    pub(super) fn on_last_disconnection(&mut self, peer: &PeerId) {
        if let Some(identity) = self.peers.forget(peer) {
            self.emit(NetEvent::PeerDisconnected(identity));
        }
    }

    /// Identify's answer: another chain's peer is punished; a binding in the agent version is checked against
    /// the connection's own key; then the peer gets its slot (or not) and is announced.
    pub(super) fn on_identify(&mut self, peer: PeerId, info: &identify::Info) {
        if info.protocol_version != protocol_version(&self.config) {
            let why = format!("peer speaks {:?}", info.protocol_version);
            self.punish(peer, Offence::WrongNetwork, &why);
            return;
        }
        if self.peers.pending.remove(&peer).is_none() {
            // Already announced (identify runs per connection and again later); the first answer stands.
            return;
        }
        let Some(own_key) = public_key_of(&peer) else { return };
        match Binding::from_agent_version(&info.agent_version)
            .map(|b| b.and_then(|b| b.verify(&self.config.chain_id, &own_key).map(|()| b.validator)))
        {
            None => {}
            Some(Ok(validator)) => self.bind(peer, validator),
            Some(Err(e)) => {
                // Counted, not punished: the peer gains nothing by it (it stays a plain peer under its own key),
                // and a disconnect would only invite it to redial.
                self.stats.bad_bindings.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, error = %e, "validator binding refused");
            }
        }
        self.settle(peer);
    }

    /// An identified peer (or one that did not identify in time) is kept and announced, or dropped.
    fn settle(&mut self, peer: PeerId) {
        if self.keeps_found_bootstrap(peer) {
            self.announce(peer);
        } else {
            self.peers.forget(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// A peer dialled because a bootstrap entry's pinned key was not its p2p key stays only if its binding
    /// proves the pinned key (a node that moved to a separate p2p key); otherwise the pin was right to refuse it.
    fn keeps_found_bootstrap(&mut self, peer: PeerId) -> bool {
        let identity = self.peers.identity(&peer);
        let mut keep = true;
        for b in self.bootstrap.iter_mut().filter(|b| b.found == Some(peer)) {
            if b.addr.key.is_some() && b.addr.key == identity {
                continue;
            }
            tracing::warn!(addr = %b.addr, "the peer at a pinned bootstrap address neither holds nor proves the \
                pinned key; not connecting to it");
            b.found = None;
            b.found_refused = true;
            b.peer = None;
            keep = false;
        }
        keep
    }

    /// Records that `peer` speaks for `validator`; a peer that spoke for it before is demoted to its own key.
    fn bind(&mut self, peer: PeerId, validator: PublicKey) {
        if let Some(old) = self.peers.peer_of.insert(validator, peer)
            && old != peer
        {
            self.peers.validator_of.remove(&old);
            if let (Some(announced), Some(own)) = (self.peers.announced.get_mut(&old), public_key_of(&old)) {
                *announced = own;
                self.emit(NetEvent::PeerDisconnected(validator));
                self.emit(NetEvent::PeerConnected(own));
            }
        }
        self.peers.validator_of.insert(peer, validator);
        tracing::debug!(%peer, %validator, "peer proved it speaks for a validator key");
    }

    /// Gives an identified peer its slot — a reserved one if it is a validator or bootstrap peer — or
    /// disconnects it when the ordinary slots are full, then tells the node.
    fn announce(&mut self, peer: PeerId) {
        let Some(identity) = self.peers.identity(&peer) else { return };
        if !self.swarm.is_connected(&peer) {
            return;
        }
        if self.ordinary_peers() > self.config.max_peers && !self.is_reserved(&identity) {
            tracing::debug!(%identity, "no free peer slot; disconnecting");
            self.stats.peers_refused.fetch_add(1, Ordering::Relaxed);
            self.peers.forget(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        tracing::debug!(%identity, "peer connected");
        self.peers.announced.insert(peer, identity);
        self.emit(NetEvent::PeerConnected(identity));
    }

    /// Peers that did not identify in time are announced as what their key says.
    pub(super) fn announce_overdue(&mut self, now: Instant) {
        let overdue: Vec<PeerId> = self
            .peers
            .pending
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= IDENTIFY_TIMEOUT)
            .map(|(p, _)| *p)
            .collect();
        for peer in overdue {
            self.peers.pending.remove(&peer);
            self.settle(peer);
        }
    }

    /// Connected peers that hold an ordinary slot.
    pub(super) fn ordinary_peers(&self) -> usize {
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        peers.iter().filter_map(|p| self.peers.identity(p)).filter(|pk| !self.is_reserved(pk)).count()
    }

    /// Bootstrap peers and the filter's reserved peers (validators, by their proven key) always get a slot.
    pub(super) fn is_reserved(&self, identity: &PublicKey) -> bool {
        self.bootstrap.iter().any(|b| {
            b.addr.key == Some(*identity) || b.peer.and_then(|p| self.peers.identity(&p)) == Some(*identity)
        }) || self.filter.reserved(identity)
    }
}
