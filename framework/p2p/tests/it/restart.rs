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

/// The body of the child process in the SIGKILL test: this test binary re-runs itself with only this
/// (otherwise ignored) test and `CAIRN_P2P_CHILD=SEED,LISTEN` set, and the child prints what it sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "runs only as the child process of the SIGKILL test"]
async fn child_node_process() -> Result<()> {
    let spec = std::env::var("CAIRN_P2P_CHILD")?;
    let (seed, listen) =
        spec.split_once(',').ok_or_else(|| anyhow::anyhow!("CAIRN_P2P_CHILD=SEED,LISTEN"))?;
    let mut node = Node::start(seed.parse()?, config(listen.parse()?, vec![])).await?;
    println!("listening {}", node.addr());
    while let Some(ev) = node.events.recv().await {
        if let NetEvent::Gossip { from, topic, data } = ev {
            println!("gossip {} {from} {}", topic.name(), hex::encode(data));
        }
    }
    Ok(())
}

struct Child {
    proc: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Child {
    fn spawn(seed: u64, listen: std::net::SocketAddr) -> Result<Child> {
        use std::io::BufRead;
        let mut proc = std::process::Command::new(std::env::current_exe()?)
            .args(["--exact", "restart::child_node_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env("CAIRN_P2P_CHILD", format!("{seed},{listen}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = proc.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Child { proc, lines })
    }

    async fn line_starting(&mut self, prefix: &str) -> Result<String> {
        loop {
            let line = tokio::time::timeout(WAIT, self.lines.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("child exited before printing {prefix:?}"))?;
            // The test harness may print its own "test … ... " before our first line.
            if let Some(at) = line.find(prefix) {
                return Ok(line[at..].to_string());
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_process_killed_with_sigkill_is_reconnected_after_restart() -> Result<()> {
    init_tracing();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child_key = key(120).public();
    let mut child = Child::spawn(120, port)?;
    let listening = child.line_starting("listening ").await?;
    assert_eq!(listening, format!("listening {child_key}@{port}"));

    let mut a =
        Node::start(121, config(any_port(), vec![cairn_p2p::PeerAddr::new(Some(child_key), port)])).await?;
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == child_key).then_some(())).await?;

    // SIGKILL: no goodbye, the kernel just closes the sockets.
    child.proc.kill()?;
    child.proc.wait()?;
    a.next(|e| matches!(e, NetEvent::PeerDisconnected(p) if p == child_key).then_some(())).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;

    let restarted = Instant::now();
    let mut child = Child::spawn(120, port)?;
    child.line_starting("listening ").await?;
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == child_key).then_some(())).await?;
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(2), "reconnection took {took:?}");
    println!("reconnected {took:?} after the process restart");

    // The restarted process hears a's gossip, attributed to a.
    let payload = b"after kill -9".to_vec();
    let want = format!("gossip consensus {} {}", a.pk(), hex::encode(&payload));
    eventually("gossip subscription", || async { !a.net.gossip_peers(Topic::Consensus).await.is_empty() })
        .await?;
    a.net.broadcast(Topic::Consensus, payload).await?;
    assert_eq!(child.line_starting("gossip ").await?, want);
    a.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_into_a_black_hole_times_out_and_is_retried() -> Result<()> {
    init_tracing();
    // A tarpit on the peer's port: accepts TCP and never answers, like a link that drops everything.
    let tarpit = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = tarpit.local_addr()?;
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    let pit = tokio::spawn(async move {
        while let Ok((sock, _)) = tarpit.accept().await {
            keep.lock().await.push(sock);
        }
    });
    let mut cfg = config(any_port(), vec![cairn_p2p::PeerAddr::new(Some(key(131).public()), port)]);
    cfg.dial_timeout = Duration::from_millis(500);
    let mut a = Node::start(130, cfg).await?;
    eventually("a dialled the tarpit", || async { !held.lock().await.is_empty() }).await?;

    // The link heals: the real peer listens there now, while a's first dial still hangs in the tarpit.
    pit.abort();
    let _ = pit.await;
    let healed = Instant::now();
    let b = Node::start(131, config(port, vec![])).await?;
    let pb = b.pk();
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await?;
    let took = healed.elapsed();
    assert!(took < Duration::from_secs(2), "connected {took:?} after the link healed");
    assert!(
        !held.lock().await.is_empty(),
        "the hung connection must still be open for the test to mean anything"
    );
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_network_and_frees_the_port() -> Result<()> {
    let node = Node::start(140, config(any_port(), vec![])).await?;
    let port = node.net.local_addr();
    let clone = node.net.clone();
    drop(node);
    // One handle is still alive: the port stays taken.
    assert!(Node::start(141, config(port, vec![])).await.is_err());
    drop(clone);
    let deadline = Instant::now() + WAIT;
    let restarted = loop {
        match Node::start(140, config(port, vec![])).await {
            Ok(n) => break n,
            Err(e) if Instant::now() > deadline => anyhow::bail!("the port never came free: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    restarted.net.shutdown().await;
    Ok(())
}

/// A TCP relay between two nodes that can be frozen: it keeps both sockets open but swallows every byte, like
/// a partitioned link that never sends a FIN or RST.
async fn freezable_relay(
    target: std::net::SocketAddr,
) -> Result<(std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicBool>)> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let frozen = std::sync::Arc::new(AtomicBool::new(false));
    let flag = frozen.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { continue };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            for (mut from, mut to) in [(ri, wo), (ro, wi)] {
                let flag = flag.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match from.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if flag.load(Ordering::Relaxed) {
                            continue;
                        }
                        if to.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        }
    });
    Ok((addr, frozen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_goes_silent_is_detected_by_ping_and_closed() -> Result<()> {
    init_tracing();
    let mut fast = config(any_port(), vec![]);
    fast.ping_interval = Duration::from_millis(200);
    let b = Node::start(210, fast.clone()).await?;
    let (relay, frozen) = freezable_relay(b.net.local_addr()).await?;
    fast.bootstrap = vec![cairn_p2p::PeerAddr::new(Some(b.pk()), relay)];
    let mut a = Node::start(211, fast).await?;
    let pb = b.pk();
    a.next(|e| matches!(e, NetEvent::PeerConnected(p) if p == pb).then_some(())).await?;

    frozen.store(true, std::sync::atomic::Ordering::Relaxed);
    let cut = Instant::now();
    a.next(|e| matches!(e, NetEvent::PeerDisconnected(p) if p == pb).then_some(())).await?;
    let took = cut.elapsed();
    assert!(took < Duration::from_secs(3), "the silent link was noticed after {took:?}");
    println!("silent link closed {took:?} after it froze");
    a.net.shutdown().await;
    b.net.shutdown().await;
    Ok(())
}
