use std::time::Duration;

use anyhow::Result;
use cairn_p2p::{NetEvent, P2pError, PeerAddr, Topic};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_exchange_gossip_direct_messages_and_requests() -> Result<()> {
    init_tracing();
    let mut a = Node::start(0, config(any_port(), vec![])).await?;
    let mut b = Node::start(1, config(any_port(), vec![a.addr()])).await?;

    // Both sides see the other's consensus key: the noise handshake authenticated it.
    let (pa, pb) = (a.pk(), b.pk());
    assert_eq!(
        b.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pa).then_some(())).await.ok(),
        Some(())
    );
    assert_eq!(
        a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await.ok(),
        Some(())
    );
    assert_eq!(a.net.peers().await, vec![pb]);
    wait_for_mesh(&[a.net.clone(), b.net.clone()], 1).await?;

    for topic in Topic::ALL {
        let data = format!("hello on {}", topic.name()).into_bytes();
        a.net.broadcast(topic, data.clone()).await?;
        assert_eq!(b.next_gossip().await?, (pa, topic, data));
    }

    a.net.send(pb, b"direct".to_vec()).await?;
    let (from, data) = b
        .next(|e| match e {
            NetEvent::Direct { from, data } => Some((from, data)),
            _ => None,
        })
        .await?;
    assert_eq!((from, data.as_slice()), (pa, &b"direct"[..]));

    // A request answered by the other node's event loop.
    let server = tokio::spawn(async move {
        let (from, data, reply) = a
            .next(|e| match e {
                NetEvent::Request { from, data, reply } => Some((from, data, reply)),
                _ => None,
            })
            .await?;
        let mut answer = data.clone();
        answer.reverse();
        reply.send(answer).await?;
        anyhow::Ok((a, from, data))
    });
    let answer = b.net.request(pa, b"ping".to_vec(), Duration::from_secs(5)).await?;
    assert_eq!(answer, b"gnip");
    let (mut a, from, data) = server.await??;
    assert_eq!((from, data.as_slice()), (pb, &b"ping"[..]));

    // Gossip is not echoed back to its author.
    b.net.broadcast(Topic::Txs, b"from b".to_vec()).await?;
    assert_eq!(a.next_gossip().await?, (pb, Topic::Txs, b"from b".to_vec()));
    a.net.broadcast(Topic::Txs, b"from a".to_vec()).await?;
    assert_eq!(b.next_gossip().await?.2, b"from a");
    let echo = tokio::time::timeout(Duration::from_millis(300), a.next_gossip()).await;
    assert!(echo.is_err(), "a received gossip it did not expect: {echo:?}");

    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_gossip_reaches_everyone_through_a_hub() -> Result<()> {
    init_tracing();
    let hub = Node::start(10, config(any_port(), vec![])).await?;
    // Three ways to name the hub: keyed, bare address (key learnt from the handshake), multiaddr.
    let forms: Vec<PeerAddr> = vec![
        hub.addr(),
        PeerAddr::new(None, hub.net.local_addr()),
        hub.addr().to_multiaddr().to_string().parse()?,
    ];
    let mut nodes = vec![hub];
    for (i, form) in forms.into_iter().enumerate() {
        nodes.push(Node::start(11 + i as u64, config(any_port(), vec![form])).await?);
    }
    // The spokes know only the hub; gossip between spokes is forwarded by it.
    let nets: Vec<_> = nodes.iter().map(|n| n.net.clone()).collect();
    wait_for_mesh(&nets[1..], 1).await?;
    wait_for_mesh(&nets[..1], 3).await?;
    // Give the mesh one heartbeat to graft the spokes (forwarding goes along the mesh).
    tokio::time::sleep(Duration::from_millis(200)).await;

    let keys: Vec<_> = nodes.iter().map(|n| n.pk()).collect();
    for (sender, topic) in
        [(1usize, Topic::Consensus), (2, Topic::Txs), (3, Topic::Blocks), (0, Topic::Consensus)]
    {
        let data = format!("{sender}:{}", topic.name()).into_bytes();
        nodes[sender].net.broadcast(topic, data.clone()).await?;
        for (i, node) in nodes.iter_mut().enumerate() {
            if i == sender {
                continue;
            }
            let got = node.next_gossip().await?;
            // Tx batches are anonymous: they come from the peer that relayed them (the hub, between spokes).
            let from = if topic == Topic::Txs && i != 0 { keys[0] } else { keys[sender] };
            assert_eq!(got, (from, topic, data.clone()), "node {i} got the wrong message");
        }
    }
    for n in &nodes {
        n.net.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_unknown_peers_are_refused_by_the_sender() -> Result<()> {
    init_tracing();
    let a = Node::start(20, config(any_port(), vec![])).await?;
    let stranger = key(99).public();
    let cfg = a.net.config().clone();
    let big = vec![0u8; cfg.max_consensus_bytes + 1];
    assert_eq!(
        a.net.broadcast(Topic::Consensus, big.clone()).await,
        Err(P2pError::TooLarge { len: big.len(), max: cfg.max_consensus_bytes })
    );
    // The same bytes are fine for blocks, whose limit is larger; with no peers it is a counted no-op.
    a.net.broadcast(Topic::Blocks, big).await?;
    assert_eq!(cairn_p2p::NetStats::get(&a.net.stats().broadcasts_without_peers), 1);
    let huge = vec![0u8; cfg.max_message_bytes + 1];
    assert!(matches!(a.net.send(stranger, huge.clone()).await, Err(P2pError::TooLarge { .. })));
    assert!(matches!(
        a.net.request(stranger, huge, Duration::from_secs(1)).await,
        Err(P2pError::TooLarge { .. })
    ));
    assert_eq!(a.net.send(stranger, b"x".to_vec()).await, Err(P2pError::NotConnected(stranger)));
    assert_eq!(
        a.net.request(stranger, b"x".to_vec(), Duration::from_secs(1)).await,
        Err(P2pError::NotConnected(stranger))
    );
    a.net.shutdown().await;
    assert_eq!(a.net.send(stranger, b"x".to_vec()).await, Err(P2pError::Shutdown));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_clear_error() -> Result<()> {
    let a = Node::start(30, config(any_port(), vec![])).await?;
    let err = Node::start(31, config(a.net.local_addr(), vec![])).await.err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(err.contains(&a.net.local_addr().to_string()), "{err}");
    assert!(err.contains("cannot listen"), "{err}");
    a.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_time_out_when_the_peer_never_answers() -> Result<()> {
    let mut a = Node::start(40, config(any_port(), vec![])).await?;
    let b = Node::start(41, config(any_port(), vec![a.addr()])).await?;
    let pa = a.pk();
    eventually("connected", || async { b.net.peers().await.contains(&pa) }).await?;
    let started = std::time::Instant::now();
    // a sees the request but keeps the reply handle without answering.
    let holder = tokio::spawn(async move {
        let reply = a.next(|e| match e {
            NetEvent::Request { reply, .. } => Some(reply),
            _ => None,
        });
        let r = reply.await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(r);
        a
    });
    let r = b.net.request(pa, b"?".to_vec(), Duration::from_millis(300)).await;
    assert_eq!(r, Err(P2pError::Timeout(pa)));
    assert!(started.elapsed() < Duration::from_secs(2));
    let a = holder.await?;
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txs_travel_in_batches_but_arrive_one_by_one_in_order() -> Result<()> {
    init_tracing();
    let a = Node::start(110, config(any_port(), vec![])).await?;
    let mut b = Node::start(111, config(any_port(), vec![a.addr()])).await?;
    wait_for_mesh(&[a.net.clone(), b.net.clone()], 1).await?;
    // Sizes up to the per-tx limit: the largest fills a batch by itself.
    let max = a.net.config().topic_limit(Topic::Txs);
    let txs: Vec<Vec<u8>> =
        (0..2000u32).map(|i| i.to_be_bytes().repeat(1 + (i as usize % 50))).chain([vec![9; max]]).collect();
    for tx in &txs {
        a.net.broadcast(Topic::Txs, tx.clone()).await?;
    }
    assert!(matches!(a.net.broadcast(Topic::Txs, vec![0; max + 1]).await, Err(P2pError::TooLarge { .. })));
    for (i, tx) in txs.iter().enumerate() {
        let (from, topic, data) = b.next_gossip().await?;
        assert_eq!((from, topic), (a.pk(), Topic::Txs));
        assert!(data == *tx, "tx {i} arrived out of order or changed");
    }
    assert_eq!(cairn_p2p::NetStats::get(&a.net.stats().broadcasts_failed), 0);
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_gossip_is_one_message_within_the_dedup_window_and_goes_out_again_after_it() -> Result<()> {
    init_tracing();
    let mut cfg = config(any_port(), vec![]);
    cfg.dedup_window = Duration::from_millis(500);
    let a = Node::start(170, cfg.clone()).await?;
    // The receiver's window is what decides whether a copy counts as new.
    cfg.bootstrap = vec![a.addr()];
    let mut b = Node::start(171, cfg).await?;
    wait_for_mesh(&[a.net.clone(), b.net.clone()], 1).await?;

    let vote = b"the same vote".to_vec();
    a.net.broadcast(Topic::Consensus, vote.clone()).await?;
    a.net.broadcast(Topic::Consensus, vote.clone()).await?;
    a.net.broadcast(Topic::Consensus, b"marker".to_vec()).await?;
    assert_eq!(b.next_gossip().await?.2, vote);
    assert_eq!(b.next_gossip().await?.2, b"marker", "the duplicate was delivered twice");

    // After the window (and some traffic, which is when gossipsub expires its cache) the same bytes go out
    // again, as an engine re-sending its vote after a partition heals needs.
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.net.broadcast(Topic::Consensus, b"traffic".to_vec()).await?;
    assert_eq!(b.next_gossip().await?.2, b"traffic");
    a.net.broadcast(Topic::Consensus, vote.clone()).await?;
    assert_eq!(b.next_gossip().await?.2, vote);
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_direct_messages_arrives_complete() -> Result<()> {
    init_tracing();
    let mut a = Node::start(180, config(any_port(), vec![])).await?;
    let b = Node::start(181, config(any_port(), vec![a.addr()])).await?;
    let pa = a.pk();
    eventually("connected", || async { b.net.peers().await.contains(&pa) }).await?;
    const N: u32 = 2000;
    for i in 0..N {
        b.net.send(pa, i.to_be_bytes().to_vec()).await?;
    }
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < N as usize {
        let data = a
            .next(|e| match e {
                NetEvent::Direct { data, .. } => Some(data),
                _ => None,
            })
            .await?;
        seen.insert(data);
    }
    assert_eq!(seen.len(), N as usize);
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_falls_behind_loses_messages_but_never_connection_events() -> Result<()> {
    init_tracing();
    let mut cfg = config(any_port(), vec![]);
    cfg.event_queue = 2;
    let mut a = Node::start(190, cfg).await?;
    let pa = a.pk();
    let b = Node::start(191, config(any_port(), vec![a.addr()])).await?;
    eventually("b connected", || async { b.net.peers().await.contains(&pa) }).await?;
    // a's node is not reading: b's messages overflow its queue and are dropped (and counted).
    for i in 0..50u32 {
        b.net.send(pa, i.to_be_bytes().to_vec()).await?;
    }
    eventually("messages dropped", || async { cairn_p2p::NetStats::get(&a.net.stats().events_dropped) > 0 })
        .await?;
    let c = Node::start(192, config(any_port(), vec![a.addr()])).await?;
    let d = Node::start(193, config(any_port(), vec![a.addr()])).await?;
    eventually("c and d connected", || async {
        c.net.peers().await.contains(&pa) && d.net.peers().await.contains(&pa)
    })
    .await?;
    // Connection events waited: a learns of every peer once it reads again.
    let mut connected = std::collections::BTreeSet::new();
    while connected.len() < 3 {
        connected.insert(a.next(|e| if let NetEvent::PeerConnected(p) = e { Some(p) } else { None }).await?);
    }
    assert_eq!(connected, [b.pk(), c.pk(), d.pk()].into_iter().collect());
    for n in [&a.net, &b.net, &c.net, &d.net] {
        n.shutdown().await;
    }
    Ok(())
}

/// Issue 10's queue rule: a tx flood never crowds consensus out. `a` does not read while `b` gossips 2,000 txs
/// (far over a's 64-event queue) and then one consensus message: the txs overflow their own lane (dropped and
/// counted) and the consensus message is still delivered. With one shared queue it was dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tx_flood_never_crowds_out_consensus() -> Result<()> {
    init_tracing();
    let mut cfg = config(any_port(), vec![]);
    cfg.event_queue = 64;
    cfg.tx_batch_delay = Duration::ZERO;
    let mut a = Node::start(194, cfg).await?;
    let b = Node::start(195, config(any_port(), vec![a.addr()])).await?;
    wait_for_mesh(&[a.net.clone(), b.net.clone()], 1).await?;
    for i in 0..2_000u32 {
        b.net.broadcast(Topic::Txs, i.to_be_bytes().to_vec()).await?;
    }
    eventually("tx events dropped", || async {
        cairn_p2p::NetStats::get(&a.net.stats().tx_events_dropped) > 0
    })
    .await?;
    b.net.broadcast(Topic::Consensus, b"vote".to_vec()).await?;
    // Delivered although 64 txs wait unread (the lanes' order is checked in the crate's unit tests).
    let vote = a.next(|e| match e {
        NetEvent::Gossip { topic: Topic::Consensus, data, .. } => Some(data),
        _ => None,
    });
    assert_eq!(vote.await?, b"vote".to_vec());
    assert_eq!(cairn_p2p::NetStats::get(&a.net.stats().events_dropped), 0, "no consensus event was dropped");
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

/// Validate before forwarding: `a` sits between `b` and `c` and its filter ignores consensus gossip from `b` (as a
/// node ignores a key that is not a validator). `b`'s tx reaches `c` through `a`; `b`'s consensus message reaches
/// neither `a`'s node nor `c`. Without gossipsub's message validation `a` forwarded it on receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_the_filter_ignores_is_neither_delivered_nor_forwarded() -> Result<()> {
    struct NotFrom(cairn_primitives::PublicKey);
    impl cairn_p2p::GossipFilter for NotFrom {
        fn check(
            &self,
            topic: Topic,
            author: &cairn_primitives::PublicKey,
            _: &[u8],
        ) -> cairn_p2p::GossipVerdict {
            if topic == Topic::Consensus && *author == self.0 {
                cairn_p2p::GossipVerdict::Ignore
            } else {
                cairn_p2p::GossipVerdict::Accept
            }
        }
    }
    init_tracing();
    let b_key = key(197);
    let (a_net, a_events) = cairn_p2p::Network::start_with_filter(
        &key(196),
        config(any_port(), vec![]),
        std::sync::Arc::new(NotFrom(b_key.public())),
    )
    .await?;
    let mut a = Node { key: key(196), net: a_net, events: a_events };
    let b = Node::start(197, config(any_port(), vec![a.addr()])).await?;
    let mut c = Node::start(198, config(any_port(), vec![a.addr()])).await?;
    wait_for_mesh(&[b.net.clone(), c.net.clone()], 1).await?;
    eventually("a meshes with both", || async { a.net.gossip_peers(Topic::Txs).await.len() == 2 }).await?;
    assert!(!b.net.peers().await.contains(&c.pk()), "b and c talk only through a");

    b.net.broadcast(Topic::Consensus, b"junk vote".to_vec()).await?;
    b.net.broadcast(Topic::Txs, b"a tx".to_vec()).await?;
    // c hears the tx (forwarded by a, so from a: tx batches are anonymous) and nothing on consensus; a's node got
    // the tx only.
    assert_eq!(c.next_gossip().await?, (a.pk(), Topic::Txs, b"a tx".to_vec()));
    assert_eq!(a.next_gossip().await?, (b.pk(), Topic::Txs, b"a tx".to_vec()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (name, n) in [("a", &mut a), ("c", &mut c)] {
        while let Ok(ev) = n.events.try_recv() {
            assert!(
                !matches!(ev, NetEvent::Gossip { topic: Topic::Consensus, .. }),
                "{name} got the ignored message"
            );
        }
    }
    assert!(cairn_p2p::NetStats::get(&a.net.stats().gossip_not_forwarded) >= 1);
    for n in [&a.net, &b.net, &c.net] {
        n.shutdown().await;
    }
    Ok(())
}

/// Tx gossip is forwarded only once the node accepted it: `a`'s node validates txs itself (as a cairn node does
/// with CheckTx), b — a — c in a line. The batch a's node ignores never reaches c; the one it accepts does; one it
/// never answers (the verdict dropped, e.g. a full intake) is not forwarded either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_gossip_is_forwarded_only_after_the_node_accepts_it() -> Result<()> {
    struct ValidatesTxs;
    impl cairn_p2p::GossipFilter for ValidatesTxs {
        fn check(&self, _: Topic, _: &cairn_primitives::PublicKey, _: &[u8]) -> cairn_p2p::GossipVerdict {
            cairn_p2p::GossipVerdict::Accept
        }
        fn validates_txs(&self) -> bool {
            true
        }
    }
    init_tracing();
    let (a_net, a_events) = cairn_p2p::Network::start_with_filter(
        &key(206),
        config(any_port(), vec![]),
        std::sync::Arc::new(ValidatesTxs),
    )
    .await?;
    let mut a = Node { key: key(206), net: a_net, events: a_events };
    let b = Node::start(207, config(any_port(), vec![a.addr()])).await?;
    let mut c = Node::start(208, config(any_port(), vec![a.addr()])).await?;
    wait_for_mesh(&[b.net.clone(), c.net.clone()], 1).await?;
    eventually("a meshes with both", || async { a.net.gossip_peers(Topic::Txs).await.len() == 2 }).await?;

    for (tx, verdict) in [
        (b"junk".to_vec(), Some(cairn_p2p::GossipVerdict::Ignore)),
        (b"unanswered".to_vec(), None),
        (b"good".to_vec(), Some(cairn_p2p::GossipVerdict::Accept)),
    ] {
        b.net.broadcast(Topic::Txs, tx.clone()).await?;
        let (from, txs, v) = a
            .next(|e| match e {
                NetEvent::TxBatch { from, txs, verdict } => Some((from, txs, verdict)),
                _ => None,
            })
            .await?;
        assert_eq!((from, txs), (b.pk(), vec![tx]));
        match verdict {
            Some(verdict) => v.report(verdict),
            None => drop(v),
        }
    }
    // c hears only the accepted batch (gossip keeps order per link, so the others would have come first), from a.
    assert_eq!(c.next_gossip().await?, (a.pk(), Topic::Txs, b"good".to_vec()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(ev) = c.events.try_recv() {
        assert!(
            !matches!(ev, NetEvent::Gossip { topic: Topic::Txs, .. }),
            "c got a batch a's node did not accept"
        );
    }
    assert_eq!(cairn_p2p::NetStats::get(&a.net.stats().gossip_not_forwarded), 2);
    for n in [&a.net, &b.net, &c.net] {
        n.shutdown().await;
    }
    Ok(())
}

/// Reserved slots: `a` has one ordinary slot and reserves `r` (as a node reserves validators). `x` takes the slot,
/// `y` is refused, and `r` still connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_peers_cannot_take_a_validators_slot() -> Result<()> {
    struct Reserve(cairn_primitives::PublicKey);
    impl cairn_p2p::GossipFilter for Reserve {
        fn check(&self, _: Topic, _: &cairn_primitives::PublicKey, _: &[u8]) -> cairn_p2p::GossipVerdict {
            cairn_p2p::GossipVerdict::Accept
        }
        fn reserved(&self, peer: &cairn_primitives::PublicKey) -> bool {
            *peer == self.0
        }
    }
    init_tracing();
    let mut cfg = config(any_port(), vec![]);
    cfg.max_peers = 1;
    cfg.reserved_peers = 4;
    let (a, _a_events) = cairn_p2p::Network::start_with_filter(
        &key(199),
        cfg,
        std::sync::Arc::new(Reserve(key(202).public())),
    )
    .await?;
    let pa = a.local_peer_addr();
    let x = Node::start(200, config(any_port(), vec![pa])).await?;
    eventually("x connected", || async { a.peers().await.contains(&x.pk()) }).await?;
    let y = Node::start(201, config(any_port(), vec![pa])).await?;
    eventually("y refused", || async { cairn_p2p::NetStats::get(&a.stats().peers_refused) > 0 }).await?;
    let r = Node::start(202, config(any_port(), vec![pa])).await?;
    eventually("r connected", || async { a.peers().await.contains(&r.pk()) }).await?;
    // And they stay so (y keeps redialling and keeps being refused; r and x are never dropped).
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let peers = a.peers().await;
        assert!(peers.contains(&x.pk()) && peers.contains(&r.pk()) && !peers.contains(&y.pk()), "{peers:?}");
    }
    for n in [&a, &x.net, &y.net, &r.net] {
        n.shutdown().await;
    }
    Ok(())
}
