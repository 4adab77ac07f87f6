//! Validator bindings on real sockets: a peer counts as validator V only when V signed a binding to that peer's
//! own p2p key. A binding copied from another peer, or one "signed" by anyone but V, gets the peer neither V's
//! consensus gossip rights nor V's reserved slot.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use cairn_p2p::{Binding, GossipFilter, GossipVerdict, NetEvent, NetStats, Network, Topic};
use cairn_primitives::{Keypair, PublicKey, Purpose};

use crate::support::*;

/// A node's filter in miniature: consensus gossip only from validator `0`, who also holds a reserved slot.
struct OneValidator(PublicKey);

impl GossipFilter for OneValidator {
    fn check(&self, topic: Topic, author: &PublicKey, _: &[u8]) -> GossipVerdict {
        if topic == Topic::Consensus && *author != self.0 {
            GossipVerdict::Ignore
        } else {
            GossipVerdict::Accept
        }
    }
    fn reserved(&self, peer: &PublicKey) -> bool {
        *peer == self.0
    }
}

/// The validator's consensus key: never used as anyone's p2p key here.
fn validator() -> Keypair {
    Keypair::derived("binding-validator", 0)
}

/// Starts a peer with p2p key `key(i)` presenting `binding`, bootstrapping to `to`.
async fn peer(i: u64, binding: Option<Binding>, to: Option<cairn_p2p::PeerAddr>) -> Result<Node> {
    let mut cfg = config(any_port(), to.into_iter().collect());
    cfg.binding = binding;
    Node::start(i, cfg).await
}

/// A binding signed by someone other than V that claims V.
fn forged(i: u64) -> Binding {
    let forger = key(i);
    let message = Binding::message(&validator().public(), &forger.public());
    Binding {
        validator: validator().public(),
        peer: forger.public(),
        signature: forger.sign(&chain(), Purpose::Handshake, &message),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_peer_a_validator_signed_for_speaks_as_that_validator() -> Result<()> {
    init_tracing();
    let v = validator().public();
    let (a_net, a_events) =
        Network::start_with_filter(&key(301), config(any_port(), vec![]), Arc::new(OneValidator(v))).await?;
    let mut a = Node { key: key(301), net: a_net, events: a_events };
    let honest = Binding::sign(&chain(), &validator(), key(302).public());
    let mut b = peer(302, Some(honest), Some(a.addr())).await?;
    // c replays b's binding; d signs a claim to V with its own key.
    let c = peer(303, Some(honest), Some(a.addr())).await?;
    let d = peer(304, Some(forged(304)), Some(a.addr())).await?;
    eventually("a knows all three", || async { a.net.peers().await.len() == 3 }).await?;
    let peers = a.net.peers().await;
    assert!(peers.contains(&v), "b is known by its validator key: {peers:?}");
    assert!(!peers.contains(&b.pk()), "and not by its p2p key: {peers:?}");
    assert!(peers.contains(&c.pk()) && peers.contains(&d.pk()), "c and d are plain peers: {peers:?}");
    assert_eq!(NetStats::get(&a.net.stats().bad_bindings), 2, "both bad bindings were refused (and counted)");
    wait_for_mesh(&[b.net.clone(), c.net.clone(), d.net.clone()], 1).await?;

    // Consensus gossip from the impostors is neither delivered nor forwarded; b's is, as V's.
    c.net.broadcast(Topic::Consensus, b"c's vote".to_vec()).await?;
    d.net.broadcast(Topic::Consensus, b"d's vote".to_vec()).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.net.broadcast(Topic::Consensus, b"b's vote".to_vec()).await?;
    let (from, topic, data) = a.next_gossip().await?;
    assert_eq!((from, topic, data), (v, Topic::Consensus, b"b's vote".to_vec()));
    assert!(NetStats::get(&a.net.stats().gossip_not_forwarded) >= 2);

    // A message addressed to V reaches b, the peer bound to it.
    a.net.send(v, b"to the validator".to_vec()).await?;
    let got = b.next(|e| match e {
        NetEvent::Direct { from, data } => Some((from, data)),
        _ => None,
    });
    assert_eq!(got.await?, (a.pk(), b"to the validator".to_vec()));
    for n in [&a.net, &b.net, &c.net, &d.net] {
        n.shutdown().await;
    }
    Ok(())
}

/// `a` has one ordinary slot, taken by `x`; V's slot is reserved. A peer with a copied or forged binding for V is
/// refused like any ordinary peer; the peer V really signed for gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_or_forged_binding_gets_no_reserved_slot() -> Result<()> {
    init_tracing();
    let v = validator().public();
    let mut cfg = config(any_port(), vec![]);
    cfg.max_peers = 1;
    cfg.reserved_peers = 4;
    let (a, _a_events) = Network::start_with_filter(&key(310), cfg, Arc::new(OneValidator(v))).await?;
    let pa = a.local_peer_addr();
    let x = peer(311, None, Some(pa)).await?;
    eventually("x connected", || async { a.peers().await.contains(&x.pk()) }).await?;

    let honest = Binding::sign(&chain(), &validator(), key(314).public());
    let copier = peer(312, Some(honest), Some(pa)).await?;
    let forger = peer(313, Some(forged(313)), Some(pa)).await?;
    eventually("both refused", || async { NetStats::get(&a.stats().peers_refused) >= 2 }).await?;
    let b = peer(314, Some(honest), Some(pa)).await?;
    eventually("b connected as V", || async { a.peers().await.contains(&v) }).await?;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let peers = a.peers().await;
        assert!(peers.contains(&x.pk()) && peers.contains(&v), "{peers:?}");
        assert!(!peers.contains(&copier.pk()) && !peers.contains(&forger.pk()), "{peers:?}");
    }
    for n in [&a, &x.net, &copier.net, &forger.net, &b.net] {
        n.shutdown().await;
    }
    Ok(())
}

/// A bootstrap entry written before its node moved to a separate p2p key pins the node's validator key. The
/// node found at that address proves the pinned key with its binding, so it is kept (and known by that key);
/// an impostor that proves nothing is not (`abuse::a_bootstrap_address_pinned_to_another_key_is_never_connected`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_entry_pinning_a_validator_key_reaches_the_peer_that_proves_it() -> Result<()> {
    init_tracing();
    let v = validator().public();
    let b = peer(320, Some(Binding::sign(&chain(), &validator(), key(320).public())), None).await?;
    let pin = cairn_p2p::PeerAddr::new(Some(v), b.net.local_addr());
    let a = Node::start(321, config(any_port(), vec![pin])).await?;
    eventually("a reaches b as V", || async { a.net.peers().await == vec![v] }).await?;
    for n in [&a.net, &b.net] {
        n.shutdown().await;
    }
    Ok(())
}

/// a — b — {c, d}: a is not connected to c, yet c's consensus gossip, relayed by b, is heard as validator V's
/// because c gossips its binding (checked against c's own key by b and by a). d gossips c's binding as its own:
/// it names another peer, so b rejects it and never forwards it, and d's consensus gossip stays ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_validator_is_heard_through_its_gossiped_binding_and_a_copier_is_not() -> Result<()> {
    init_tracing();
    let v = validator().public();
    let quick = |mut cfg: cairn_p2p::P2pConfig, binding: Option<Binding>| {
        cfg.binding = binding;
        cfg.binding_republish = Duration::from_millis(300);
        cfg
    };
    let start = |i: u64, cfg| async move {
        let (net, events) = Network::start_with_filter(&key(i), cfg, Arc::new(OneValidator(v))).await?;
        anyhow::Ok(Node { key: key(i), net, events })
    };
    let mut a = start(330, quick(config(any_port(), vec![]), None)).await?;
    let b = start(331, quick(config(any_port(), vec![a.addr()]), None)).await?;
    let honest = Binding::sign(&chain(), &validator(), key(332).public());
    let c = start(332, quick(config(any_port(), vec![b.addr()]), Some(honest))).await?;
    let d = start(333, quick(config(any_port(), vec![b.addr()]), Some(honest))).await?;
    wait_for_mesh(&[a.net.clone(), c.net.clone(), d.net.clone()], 1).await?;
    eventually("b meshes with all three", || async { b.net.gossip_peers(Topic::Consensus).await.len() == 3 })
        .await?;
    assert!(!a.net.peers().await.contains(&c.pk()) && !a.net.peers().await.contains(&v), "a and c are apart");

    // c's binding reaches a within a few republish periods: from then on its votes are V's.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0u32;
    let heard = loop {
        n += 1;
        d.net.broadcast(Topic::Consensus, format!("d's vote {n}").into_bytes()).await?;
        c.net.broadcast(Topic::Consensus, format!("c's vote {n}").into_bytes()).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut heard = None;
        while let Ok(ev) = a.events.try_recv() {
            if let NetEvent::Gossip { from, topic: Topic::Consensus, data } = ev {
                assert!(!data.starts_with(b"d's"), "d's vote was delivered as {from}");
                heard = Some((from, data));
            }
        }
        if let Some(h) = heard {
            break h;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "c's votes never reached a as V's");
    };
    assert_eq!(heard.0, v, "heard as the validator");
    assert!(heard.1.starts_with(b"c's vote"));
    eventually("b refused d's binding (identify and gossip)", || async {
        NetStats::get(&b.net.stats().bad_bindings) >= 2
    })
    .await?;
    for n in [&a.net, &b.net, &c.net, &d.net] {
        n.shutdown().await;
    }
    Ok(())
}
