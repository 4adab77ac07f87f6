use std::time::{Duration, Instant};

use anyhow::Result;
use cairn_p2p::{NetEvent, Topic};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_redialled_by_its_peers_within_two_seconds() -> Result<()> {
    init_tracing();
    let a = Node::start(50, config(any_port(), vec![])).await?;
    let b = Node::start(51, config(any_port(), vec![])).await?;
    let b_addr = b.addr();
    // a knows b from its config; b knows nobody, so only a's redial can bring them back together.
    a.net.shutdown().await;
    let mut a = Node::start(50, config(a.net.local_addr(), vec![b_addr])).await?;
    let pb = b.pk();
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await?;

    // b dies (as if killed: no goodbye) and comes back on the same port with the same key.
    let port = b.net.local_addr();
    b.net.shutdown().await;
    drop(b);
    a.next(|e| matches!(e, NetEvent::PeerDisconnected(p) if p == pb).then_some(())).await?;
    // Stay down long enough for a's backoff to grow to its cap.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let restarted = Instant::now();
    let mut b = Node::start(51, config(port, vec![])).await?;
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await?;
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(2), "reconnection took {took:?}");
    println!("reconnected {took:?} after the restart");

    // And gossip flows again both ways.
    wait_for_mesh(&[a.net.clone(), b.net.clone()], 1).await?;
    a.net.broadcast(Topic::Blocks, b"after restart".to_vec()).await?;
    assert_eq!(b.next_gossip().await?, (a.pk(), Topic::Blocks, b"after restart".to_vec()));
    b.net.broadcast(Topic::Blocks, b"hello again".to_vec()).await?;
    assert_eq!(a.next_gossip().await?, (pb, Topic::Blocks, b"hello again".to_vec()));
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_peer_that_starts_late_is_connected_to() -> Result<()> {
    // Reserve a port, free it, and point a at it before anything listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut a =
        Node::start(52, config(any_port(), vec![cairn_p2p::PeerAddr::new(Some(key(53).public()), port)]))
            .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = Node::start(53, config(port, vec![])).await?;
    let pb = b.pk();
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await?;
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}
