//! One-way latency of gossip and direct messages among 4 nodes on loopback, and a gossip burst.
//!
//! `cargo run --release -p cairn-p2p --example gossip_latency [-- ROUNDS]`
//!
//! All nodes run in this process on one tokio runtime, so send and receive times come from one clock. Each
//! round waits for every delivery before the next, so the figures are unloaded latencies; the burst then
//! measures how fast one node's small gossip messages reach the other three, and the last 10 s measure the
//! CPU an idle, connected node uses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_p2p::{NetEvent, NetStats, Network, NetworkHandle, P2pConfig, Topic};
use cairn_primitives::{ChainId, Keypair};
use tokio::sync::mpsc;

const NODES: usize = 4;

/// A receipt: (round, receiving node, nanoseconds since the shared epoch).
type Receipt = (u64, usize, u128);

fn stamp(epoch: Instant, round: u64, pad: usize) -> Vec<u8> {
    let mut v = round.to_le_bytes().to_vec();
    v.extend_from_slice(&epoch.elapsed().as_nanos().to_le_bytes());
    v.resize(16 + 8 + pad, 0);
    v
}

fn read_stamp(data: &[u8]) -> Option<(u64, u128)> {
    let round = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
    let sent = u128::from_le_bytes(data.get(8..24)?.try_into().ok()?);
    Some((round, sent))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(what: &str, mut micros: Vec<f64>) {
    micros.sort_by(f64::total_cmp);
    println!(
        "{what:<28} n={:<5} p50={:>7.0} µs  p99={:>7.0} µs  max={:>7.0} µs",
        micros.len(),
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
        micros.last().copied().unwrap_or(f64::NAN)
    );
}

/// Forwards every gossip/direct stamp a node receives as a receipt (answers requests by echoing).
fn spawn_receiver(
    node: usize,
    mut events: cairn_p2p::NetEvents,
    epoch: Instant,
    out: mpsc::UnboundedSender<Receipt>,
) {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            let data = match ev {
                NetEvent::Gossip { data, .. } | NetEvent::Direct { data, .. } => data,
                NetEvent::Request { data, reply, .. } => {
                    let _ = reply.send(data).await;
                    continue;
                }
                _ => continue,
            };
            let now = epoch.elapsed().as_nanos();
            if let Some((round, sent)) = read_stamp(&data) {
                let _ = out.send((round, node, now.saturating_sub(sent)));
            }
        }
    });
}

async fn collect(
    rx: &mut mpsc::UnboundedReceiver<Receipt>,
    round: u64,
    want: usize,
    into: &mut Vec<f64>,
) -> Result<()> {
    let mut got = 0;
    while got < want {
        let (r, _, nanos) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .context("delivery timed out")?
            .context("closed")?;
        if r == round {
            got += 1;
            into.push(nanos as f64 / 1000.0);
        }
    }
    Ok(())
}

/// CPU time (user + system) this process has used, from /proc (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

#[tokio::main]
async fn main() -> Result<()> {
    let rounds: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let chain: ChainId = "latency".parse()?;
    let epoch = Instant::now();
    let (receipts_tx, mut receipts) = mpsc::unbounded_channel();

    let mut nets: Vec<NetworkHandle> = Vec::new();
    for i in 0..NODES {
        let mut cfg = P2pConfig::new(chain.clone(), SocketAddr::from(([127, 0, 0, 1], 0)));
        cfg.bootstrap = nets.iter().map(|n| n.local_peer_addr()).collect();
        let (net, events) = Network::start(&Keypair::derived("latency", i as u64), cfg).await?;
        spawn_receiver(i, events, epoch, receipts_tx.clone());
        nets.push(net);
    }
    for net in &nets {
        let start = Instant::now();
        while net.gossip_peers(Topic::Consensus).await.len() < NODES - 1 {
            if start.elapsed() > Duration::from_secs(10) {
                bail!("the mesh did not form");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("{NODES} nodes on loopback, {rounds} rounds each");

    let mut round = 0u64;
    for (label, pad) in [("gossip 100 B", 100usize), ("gossip 64 KiB", 64 * 1024)] {
        let mut lat = Vec::new();
        for r in 0..rounds {
            round += 1;
            nets[(r as usize) % NODES].broadcast(Topic::Consensus, stamp(epoch, round, pad)).await?;
            collect(&mut receipts, round, NODES - 1, &mut lat).await?;
        }
        report(label, lat);
    }

    let mut lat = Vec::new();
    for r in 0..rounds {
        round += 1;
        let from = (r as usize) % NODES;
        let to = (from + 1) % NODES;
        nets[from].send(nets[to].local_peer(), stamp(epoch, round, 100)).await?;
        collect(&mut receipts, round, 1, &mut lat).await?;
    }
    report("direct 100 B", lat);

    let mut rtt = Vec::new();
    for r in 0..rounds {
        let from = (r as usize) % NODES;
        let to = (from + 1) % NODES;
        let t = Instant::now();
        nets[from].request(nets[to].local_peer(), vec![0; 100], Duration::from_secs(5)).await?;
        rtt.push(t.elapsed().as_secs_f64() * 1e6);
    }
    report("request round trip 100 B", rtt);

    // Burst: one node publishes many small tx-sized messages back to back.
    let burst = rounds * 20;
    let first = round + 1;
    let t = Instant::now();
    let mut queue_full = 0u64;
    for _ in 0..burst {
        round += 1;
        // A full send queue is backpressure: wait a little and try again, as a mempool gossiper would.
        while let Err(e) = nets[0].broadcast(Topic::Txs, stamp(epoch, round, 200)).await {
            match e {
                cairn_p2p::P2pError::Publish(_) => {
                    queue_full += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                other => return Err(other.into()),
            }
        }
    }
    let mut seen = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen < burst * (NODES as u64 - 1) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), receipts.recv()).await {
            Ok(Some((r, _, _))) if r >= first => seen += 1,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let dropped: u64 = nets.iter().map(|n| NetStats::get(&n.stats().events_dropped)).sum();
    println!(
        "gossip burst: {burst} × 224 B from one node, {seen}/{} deliveries in {secs:.2} s = {:.0} msgs/s per receiver ({dropped} events dropped, {queue_full} waits on full send queues)",
        burst * (NODES as u64 - 1),
        seen as f64 / (NODES as f64 - 1.0) / secs
    );
    // Idle: the 4 connected nodes with nothing to say (pings, gossipsub heartbeats, redial/ban ticks).
    if let Some(before) = cpu_seconds() {
        let idle = Duration::from_secs(10);
        tokio::time::sleep(idle).await;
        if let Some(after) = cpu_seconds() {
            let per_node = (after - before) / idle.as_secs_f64() / NODES as f64 * 100.0;
            println!("idle: {per_node:.2} % of one core per node over {idle:?}");
        }
    }
    let all = Arc::new(nets);
    for n in all.iter() {
        n.shutdown().await;
    }
    Ok(())
}
