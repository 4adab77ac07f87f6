//! Misbehaving peers: a hand-rolled libp2p client speaking garbage on the direct protocol, raw TCP garbage,
//! other chains, and peers the node reports.

use std::io;
use std::time::Duration;

use anyhow::Result;
use cairn_p2p::libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use cairn_p2p::libp2p::swarm::SwarmEvent;
use cairn_p2p::libp2p::{self, StreamProtocol, noise, request_response, tcp, yamux};
use cairn_p2p::{NetEvent, NetStats, libp2p_keypair, peer_id_of};
use tokio::io::AsyncWriteExt as _;

use crate::support::*;

/// Writes whatever bytes it is given: lets a test send frames the real codec would never produce.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io.take(1 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        io.take(1 << 20).read_to_end(&mut v).await?;
        Ok(v)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await?;
        io.close().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&res).await?;
        io.close().await
    }
}

/// Connects to `target` as the holder of `key(i)` and sends each of `frames` as a raw direct-protocol
/// request, returning what happened to each (a response, or the failure).
async fn send_raw_frames(
    i: u64,
    target: &Node,
    frames: Vec<Vec<u8>>,
) -> Result<Vec<Result<Vec<u8>, String>>> {
    let identity = libp2p_keypair(&key(i))?;
    let protocol = StreamProtocol::try_from_owned(format!("/cairn/{}/direct/1", chain()))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawCodec,
                [(protocol, request_response::ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
            )
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    let target_id = peer_id_of(&target.pk())?;
    swarm.dial(target.addr().to_multiaddr())?;
    let mut results = Vec::new();
    for frame in frames {
        // Reconnects as needed: the target hangs up on us after each bad frame.
        let id = swarm.behaviour_mut().send_request_with_addresses(
            &target_id,
            frame,
            vec![target.addr().to_multiaddr()],
        );
        let outcome = tokio::time::timeout(WAIT, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    }) if request_id == id => return Ok(response),
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) if request_id == id => {
                        return Err(error.to_string());
                    }
                    _ => {}
                }
            }
        })
        .await?;
        results.push(outcome);
    }
    Ok(results)
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(kind);
    v.extend_from_slice(payload);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_direct_protocol_is_punished_and_the_node_keeps_serving() -> Result<()> {
    init_tracing();
    let mut node = Node::start(60, config(any_port(), vec![])).await?;
    let good = Node::start(61, config(any_port(), vec![node.addr()])).await?;
    let pn = node.pk();
    eventually("good peer connected", || async { good.net.peers().await.contains(&pn) }).await?;

    // A well-formed frame from the raw client is delivered (the harness itself is sound)…
    let ok = send_raw_frames(62, &node, vec![frame(0, b"well formed")]).await?;
    assert_eq!(
        ok,
        vec![Ok(vec![0, 0, 0, 0])],
        "a valid one-way frame is acknowledged with an empty receipt frame"
    );
    let (from, data) = node
        .next(|e| match e {
            NetEvent::Direct { from, data } => Some((from, data)),
            _ => None,
        })
        .await?;
    assert_eq!((from, data.as_slice()), (key(62).public(), &b"well formed"[..]));

    // …then garbage: a 4 GiB length prefix, an unknown kind, trailing bytes, an oversized frame.
    let max = node.net.config().max_message_bytes;
    let mut trailing = frame(0, b"x");
    trailing.extend_from_slice(b"junk");
    let frames = vec![vec![0xff; 64], frame(9, b"?"), trailing, frame(1, &vec![7; max + 10])];
    // One connection per frame: the node hangs up after each bad frame, and a frame sent on the connection it is
    // closing would be lost rather than judged.
    let mut results = Vec::new();
    for frame in frames {
        results.extend(send_raw_frames(62, &node, vec![frame]).await?);
    }
    // The node hangs up without a receipt (the raw client sees an empty stream or a closed connection).
    let receipt = Ok(vec![0, 0, 0, 0]);
    assert!(results.iter().all(|r| *r != receipt), "garbage was acknowledged: {results:?}");
    // The oversized frame (over this node's limit, under the protocol ceiling) is no offence: it may be a peer
    // with larger limits. The other three are.
    eventually("three offences recorded", || async { NetStats::get(&node.net.stats().offences) >= 3 })
        .await?;
    // Enough offences in a row: banned, and a fresh attempt is refused outright.
    assert!(node.net.is_banned(key(62).public()).await);
    let refused = send_raw_frames(62, &node, vec![frame(0, b"again")]).await?;
    assert!(refused[0] != receipt, "a banned peer was served: {refused:?}");

    // The honest peer never noticed.
    let server = tokio::spawn(async move {
        let reply = node
            .next(|e| match e {
                NetEvent::Request { reply, .. } => Some(reply),
                _ => None,
            })
            .await?;
        reply.send(b"still here".to_vec()).await?;
        anyhow::Ok(node)
    });
    assert_eq!(good.net.request(pn, b"?".to_vec(), Duration::from_secs(5)).await?, b"still here");
    let node = server.await??;
    node.net.shutdown().await;
    good.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_garbage_does_not_hurt_the_node() -> Result<()> {
    init_tracing();
    let mut node = Node::start(70, config(any_port(), vec![])).await?;
    for junk in [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0u8; 4096][..], &[0xff; 100][..]] {
        let mut s = tokio::net::TcpStream::connect(node.net.local_addr()).await?;
        s.write_all(junk).await?;
        let _ = s.shutdown().await;
    }
    let good = Node::start(71, config(any_port(), vec![node.addr()])).await?;
    let pn = node.pk();
    eventually("good peer connected", || async { good.net.peers().await.contains(&pn) }).await?;
    good.net.send(pn, b"hi".to_vec()).await?;
    let data = node
        .next(|e| match e {
            NetEvent::Direct { data, .. } => Some(data),
            _ => None,
        })
        .await?;
    assert_eq!(data, b"hi");
    node.net.shutdown().await;
    good.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twice_reported_peer_is_disconnected_banned_and_later_readmitted() -> Result<()> {
    init_tracing();
    let mut a = Node::start(80, config(any_port(), vec![])).await?;
    // b keeps redialling a, so it would come straight back if the ban did not hold.
    let b = Node::start(81, config(any_port(), vec![a.addr()])).await?;
    let pb = b.pk();
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await?;

    // One report is a strike (an honest peer can trip a check once), the second soon after a ban.
    a.net.report_bad(pb, "sent an undecodable vote").await;
    a.next(|e| matches!(e, NetEvent::PeerDisconnected(p) if p == pb).then_some(())).await?;
    assert!(!a.net.is_banned(pb).await, "one report must not ban");
    // The strike shows in the published scores (what `cairn status` and the metrics read).
    let score = a.net.stats().peer_scores().get(&pb).copied();
    assert!(score.is_some_and(|s| (-60..=-59).contains(&s)), "b's score after one report: {score:?}");
    let banned_at = std::time::Instant::now();
    a.net.report_bad(pb, "sent another undecodable vote").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(a.net.is_banned(pb).await);
    assert_eq!(NetStats::get(&a.net.stats().bans), 1);
    assert_eq!(a.net.stats().peer_scores().get(&pb), None, "a banned peer starts clean when the ban ends");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!a.net.peers().await.contains(&pb), "a banned peer got back in");
    // b's redials complete their handshake on b's side before a hangs up, so b may briefly believe it is
    // connected; whatever it sends then must not reach a's node.
    let _ = b.net.send(a.pk(), b"let me in".to_vec()).await;

    // The ban (2 s in these tests) ends and b's redial gets through.
    let mut leaked = false;
    a.next(|e| match e {
        NetEvent::Direct { from, .. } if from == pb => {
            leaked = true;
            None
        }
        NetEvent::PeerConnected(p) if p == pb => Some(()),
        _ => None,
    })
    .await?;
    assert!(!leaked, "a message from the banned peer reached the node");
    assert!(banned_at.elapsed() >= Duration::from_secs(2), "readmitted after {:?}", banned_at.elapsed());
    assert!(!a.net.is_banned(pb).await);
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_chain_is_turned_away() -> Result<()> {
    init_tracing();
    let mut a = Node::start(90, config(any_port(), vec![])).await?;
    let mut other = config(any_port(), vec![a.addr()]);
    other.chain_id = "some-other-chain".parse()?;
    let b = Node::start(91, other).await?;
    let pb = b.pk();
    // Identify tells a the peer's chain; a bans it.
    eventually("the foreign node is banned", || async { a.net.is_banned(pb).await }).await?;
    eventually("the foreign node is gone", || async { !a.net.peers().await.contains(&pb) }).await?;
    assert!(a.net.gossip_peers(cairn_p2p::Topic::Consensus).await.is_empty());
    let _ = a.events.try_recv();
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

/// A peer whose limits are larger than ours (a configuration mismatch, not an attack) sends gossip over our limit:
/// it is dropped and counted, not forwarded, and the peer is not punished — its next in-limit message arrives at
/// once. (Only a message above the protocol ceiling, which no cairn node accepts, is an offence: see the direct
/// protocol's garbage test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_gossip_from_a_peer_with_larger_limits_is_dropped_without_blame() -> Result<()> {
    init_tracing();
    let mut a = Node::start(100, config(any_port(), vec![])).await?;
    let mut loose = config(any_port(), vec![a.addr()]);
    loose.max_consensus_bytes = 200 * 1024;
    let b = Node::start(101, loose).await?;
    let pb = b.pk();
    wait_for_mesh(&[a.net.clone(), b.net.clone()], 1).await?;

    let limit = a.net.config().max_consensus_bytes;
    b.net.broadcast(cairn_p2p::Topic::Consensus, vec![1; limit + 1000]).await?;
    eventually("the oversized message is dropped", || async {
        NetStats::get(&a.net.stats().oversized_dropped) >= 1
    })
    .await?;
    b.net.broadcast(cairn_p2p::Topic::Consensus, vec![2; limit]).await?;
    let (from, _, data) = a.next_gossip().await?;
    assert_eq!(from, pb);
    assert_eq!(data.len(), limit, "only the in-limit message may be delivered");
    assert_eq!(NetStats::get(&a.net.stats().offences), 0, "a limit mismatch is no offence");
    assert!(a.net.peers().await.contains(&pb), "still connected");
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_peer_is_held_to_its_rate_and_others_still_get_through() -> Result<()> {
    init_tracing();
    let mut cfg = config(any_port(), vec![]);
    cfg.max_peer_msgs_per_sec = 50;
    let mut a = Node::start(150, cfg).await?;
    let flood = Node::start(151, config(any_port(), vec![a.addr()])).await?;
    let calm = Node::start(152, config(any_port(), vec![a.addr()])).await?;
    let (pa, pf, pc) = (a.pk(), flood.pk(), calm.pk());
    eventually("both connected", || async { a.net.peers().await.len() == 2 }).await?;

    let started = std::time::Instant::now();
    for i in 0..500u32 {
        flood.net.send(pa, i.to_be_bytes().to_vec()).await?;
    }
    calm.net.send(pa, b"calm".to_vec()).await?;
    let mut from_flood = 0;
    let mut calm_arrived = false;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(300), a.events.recv()).await {
        match ev {
            NetEvent::Direct { from, .. } if from == pf => from_flood += 1,
            NetEvent::Direct { from, data } if from == pc => calm_arrived = data == b"calm",
            _ => {}
        }
    }
    // Some of the flood may also be refused earlier, by the per-connection stream limit; what matters is
    // that the node saw no more than the rate allows and the calm peer was not drowned out.
    assert!(NetStats::get(&a.net.stats().rate_limited) > 0, "nothing was rate limited");
    let allowance = 50 + (started.elapsed().as_secs_f64() * 50.0).ceil() as usize;
    assert!(from_flood <= allowance, "{from_flood} flood messages got through (allowance {allowance})");
    assert!(from_flood >= 50, "the burst allowance was not honoured: {from_flood}");
    assert!(calm_arrived, "the calm peer's message was lost in the flood");
    for n in [&a.net, &flood.net, &calm.net] {
        n.shutdown().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_address_pinned_to_another_key_is_never_connected() -> Result<()> {
    init_tracing();
    let b = Node::start(160, config(any_port(), vec![])).await?;
    // a expects key 161 at b's address; b holds key 160. The noise handshake proves it is not 161.
    let wrong = cairn_p2p::PeerAddr::new(Some(key(161).public()), b.net.local_addr());
    let a = Node::start(162, config(any_port(), vec![wrong])).await?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(a.net.peers().await.is_empty(), "connected to an impostor");
    assert!(b.net.peers().await.is_empty());
    // Control: the right key at the same address connects.
    let c = Node::start(163, config(any_port(), vec![b.addr()])).await?;
    let pb = b.pk();
    eventually("the correctly pinned peer connects", || async { c.net.peers().await == vec![pb] }).await?;
    for n in [&a.net, &b.net, &c.net] {
        n.shutdown().await;
    }
    Ok(())
}

type TxClient = libp2p::Swarm<cairn_p2p::libp2p::gossipsub::Behaviour>;

/// A bare gossipsub client of the node's tx gossip (its own protocol id, anonymous: no author, sequence number or
/// signature), connected and subscribed. `signed` makes it sign its messages anyway, as a Strict peer would.
async fn tx_client(i: u64, target: &Node, signed: bool) -> Result<TxClient> {
    use cairn_p2p::libp2p::gossipsub;
    let identity = libp2p_keypair(&key(i))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key| -> Result<gossipsub::Behaviour, Box<dyn std::error::Error + Send + Sync>> {
            let (auth, mode) = if signed {
                (gossipsub::MessageAuthenticity::Signed(key.clone()), gossipsub::ValidationMode::Strict)
            } else {
                (gossipsub::MessageAuthenticity::Anonymous, gossipsub::ValidationMode::Anonymous)
            };
            let cfg = gossipsub::ConfigBuilder::default()
                .protocol_id_prefix(format!("/cairn/{}/txgossip", chain()))
                .validation_mode(mode)
                .heartbeat_interval(Duration::from_millis(50))
                .build()?;
            Ok(gossipsub::Behaviour::new(auth, cfg)?)
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    swarm.behaviour_mut().subscribe(&txs_topic())?;
    swarm.dial(target.addr().to_multiaddr())?;
    let target_id = peer_id_of(&target.pk())?;
    // Wait until the node has told us it subscribes to the topic (on the tx-gossip protocol).
    tokio::time::timeout(WAIT, async {
        loop {
            if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, .. }) =
                swarm.select_next_some().await
                && peer_id == target_id
            {
                break;
            }
        }
    })
    .await?;
    Ok(swarm)
}

fn txs_topic() -> cairn_p2p::libp2p::gossipsub::IdentTopic {
    cairn_p2p::libp2p::gossipsub::IdentTopic::new(cairn_p2p::Topic::Txs.topic_string(&chain()))
}

/// Drives the client for `time` (so what it published leaves), returning the messages it received.
async fn drive(client: &mut TxClient, time: Duration) -> Vec<cairn_p2p::libp2p::gossipsub::Message> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(time, async {
        loop {
            if let SwarmEvent::Behaviour(cairn_p2p::libp2p::gossipsub::Event::Message { message, .. }) =
                client.select_next_some().await
            {
                got.push(message);
            }
        }
    })
    .await;
    got
}

/// Publishes exactly the bytes it is given on the txs topic, from a fresh anonymous client.
async fn publish_raw_txs(i: u64, target: &Node, payloads: Vec<Vec<u8>>) -> Result<()> {
    let mut client = tx_client(i, target, false).await?;
    for p in payloads {
        client.behaviour_mut().publish(txs_topic(), p)?;
    }
    drive(&mut client, Duration::from_millis(500)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_tx_batch_punishes_the_peer_that_relayed_it() -> Result<()> {
    init_tracing();
    let mut node = Node::start(200, config(any_port(), vec![])).await?;
    // A well-formed batch of two txs from the bare client is unpacked into two events, from the relaying peer…
    let good = [&[0u8, 0, 0, 2][..], &[0, 0, 0, 1, 7], &[0, 0, 0, 2, 8, 9]].concat();
    publish_raw_txs(201, &node, vec![good]).await?;
    let first = node.next_gossip().await?;
    let second = node.next_gossip().await?;
    assert_eq!((first.0, first.2, second.2), (key(201).public(), vec![7], vec![8, 9]));
    assert_eq!(NetStats::get(&node.net.stats().offences), 0);
    // …a batch that claims more than it holds carries no author: the peer that relayed it is punished.
    publish_raw_txs(202, &node, vec![vec![0, 0, 0, 9, 0, 0, 0, 1]]).await?;
    eventually("the malformed batch is punished", || async {
        NetStats::get(&node.net.stats().offences) >= 1
    })
    .await?;
    let no_event = tokio::time::timeout(Duration::from_millis(200), node.next_gossip()).await;
    assert!(no_event.is_err(), "a malformed batch produced an event: {no_event:?}");
    node.net.shutdown().await;
    Ok(())
}

/// Tx gossip is anonymous: what a node publishes has no author, sequence number or signature; identical batches
/// from two peers are still one message (ids are content hashes); and a signed message on it is invalid — its
/// peer is charged through gossipsub's score, by propagation source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_gossip_carries_no_author_and_is_still_deduplicated_and_validated() -> Result<()> {
    init_tracing();
    let mut node = Node::start(210, config(any_port(), vec![])).await?;
    let mut watcher = tx_client(211, &node, false).await?;
    let pw = key(211).public();
    eventually("the node sees the watcher subscribed", || async {
        node.net.gossip_peers(cairn_p2p::Topic::Txs).await.contains(&pw)
    })
    .await?;
    node.net.broadcast(cairn_p2p::Topic::Txs, vec![5; 40]).await?;
    let got = drive(&mut watcher, Duration::from_millis(500)).await;
    assert_eq!(got.len(), 1, "the node's batch: {got:?}");
    assert_eq!((got[0].source, got[0].sequence_number), (None, None), "an anonymous message");

    // The same batch from two peers is delivered once.
    let batch = [&[0u8, 0, 0, 1][..], &[0, 0, 0, 3, 1, 2, 3]].concat();
    publish_raw_txs(212, &node, vec![batch.clone()]).await?;
    publish_raw_txs(213, &node, vec![batch]).await?;
    let (_, _, data) = node.next_gossip().await?;
    assert_eq!(data, vec![1, 2, 3]);
    let again = tokio::time::timeout(Duration::from_millis(300), node.next_gossip()).await;
    assert!(again.is_err(), "a duplicate was delivered: {again:?}");
    assert_eq!(NetStats::get(&node.net.stats().offences), 0);

    // A signed message is refused before it reaches the node, and its peer punished.
    let mut signer = tx_client(214, &node, true).await?;
    signer.behaviour_mut().publish(txs_topic(), [&[0u8, 0, 0, 1][..], &[0, 0, 0, 1, 9]].concat())?;
    drive(&mut signer, Duration::from_millis(300)).await;
    eventually("the signed message is punished", || async { NetStats::get(&node.net.stats().offences) >= 1 })
        .await?;
    let none = tokio::time::timeout(Duration::from_millis(200), node.next_gossip()).await;
    assert!(none.is_err(), "a signed tx batch was delivered: {none:?}");
    node.net.shutdown().await;
    Ok(())
}
