//! Light-load submit → finalized latency and idle cost of 4 in-process validators over real libp2p on loopback,
//! fsync on, with the kvstore app.
//!
//! `cargo run --release -p cairn-node --example latency -- [TXS] [IDLE_SECS]` prints one JSON object.
//! Each tx is submitted (round robin over the nodes) only after the previous one finalized, so the figure is
//! latency, not queueing. Then the chain sits idle and the process's CPU time is sampled from /proc; last, a
//! fresh full node joins and block-syncs the whole chain (blocks/s, including its start-up).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_abci::{Application, ConsensusParams};
use cairn_node::{Genesis, GenesisValidator, Node, NodeConfig, NodeEvent, NodeHandle};
use cairn_primitives::{Height, Keypair};

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let txs: usize = args.next().map(|a| a.parse()).transpose().context("TXS")?.unwrap_or(200);
    let idle_secs: u64 = args.next().map(|a| a.parse()).transpose().context("IDLE_SECS")?.unwrap_or(20);
    let dir = tempfile::tempdir()?;
    let keys: Vec<Keypair> = (0..4).map(|i| Keypair::derived("latency", i)).collect();
    let genesis = Genesis {
        chain_id: "latency".parse()?,
        initial_height: Height(1),
        genesis_time_ms: 0,
        validators: keys
            .iter()
            .map(|k| GenesisValidator { public_key: k.public(), power: 1, name: String::new() })
            .collect(),
        consensus_params: ConsensusParams::default(),
        app_state: serde_json::Value::Null,
    };
    let mut nodes: Vec<NodeHandle> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mut config = NodeConfig::default();
        config.p2p.listen = "127.0.0.1:0".parse()?;
        config.p2p.bootstrap = nodes
            .iter()
            .zip(&keys)
            .filter_map(|(n, k)| Some(format!("{}@{}", k.public().to_hex(), n.p2p_addr()?)))
            .collect();
        config.fsync = true;
        let app: Arc<dyn Application> = Arc::new(kvstore::KvStore::new());
        let node = Node::builder(dir.path().join(format!("node{i}")))
            .config(config)
            .genesis(genesis.clone())
            .key(key.clone())
            .app(app)
            .start()
            .await?;
        nodes.push(node);
    }
    // Wait for the first block everywhere.
    let t0 = Instant::now();
    while nodes.iter().any(|n| n.status().height.0 < 1) {
        if t0.elapsed() > Duration::from_secs(30) {
            bail!("no first block within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut subs: Vec<_> = nodes.iter().map(|n| n.subscribe()).collect();
    let mut latencies = Vec::with_capacity(txs);
    for i in 0..txs {
        let k = i % nodes.len();
        let start = Instant::now();
        let (hash, _) = nodes[k].broadcast_tx(format!("lat{i}=x").into_bytes()).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), subs[k].recv()).await {
                Ok(Ok(NodeEvent::Tx { hash: h, .. })) if h == hash => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => bail!("event stream: {e}"),
                Err(_) => bail!("tx {i} not finalized within 10 s"),
            }
        }
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));

    // Idle: nothing submitted; empty blocks only every `empty_block_interval_ms`.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, h0, w0) = (cpu_seconds(), nodes[0].status().height.0, Instant::now());
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let (cpu1, h1, wall) = (cpu_seconds(), nodes[0].status().height.0, w0.elapsed().as_secs_f64());
    let idle_cpu_pct_per_node = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some((b - a) / wall * 100.0 / nodes.len() as f64),
        _ => None,
    };
    // Block sync: a fresh full node joins and fetches every block (with certificates) from the validators.
    let target = nodes[0].status().height.0;
    let mut config = NodeConfig::default();
    config.p2p.listen = "127.0.0.1:0".parse()?;
    config.p2p.bootstrap = nodes
        .iter()
        .zip(&keys)
        .filter_map(|(n, k)| Some(format!("{}@{}", k.public().to_hex(), n.p2p_addr()?)))
        .collect();
    let sync_start = Instant::now();
    let app: Arc<dyn Application> = Arc::new(kvstore::KvStore::new());
    let joiner = Node::builder(dir.path().join("joiner"))
        .config(config)
        .genesis(genesis.clone())
        .key(Keypair::derived("latency-joiner", 0))
        .app(app)
        .start()
        .await?;
    while joiner.status().height.0 < target {
        if sync_start.elapsed() > Duration::from_secs(120) {
            bail!("joiner did not sync {target} blocks within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sync_secs = sync_start.elapsed().as_secs_f64();
    let synced = joiner.counters().blocks_synced;
    joiner.shutdown().await;

    let out = serde_json::json!({
        "block_sync": {
            "blocks": target,
            "synced_by_sync": synced,
            "seconds_including_start": sync_secs,
            "blocks_per_s": target as f64 / sync_secs,
        },
        "nodes": nodes.len(),
        "txs": txs,
        "fsync": true,
        "finality_ms": {
            "p50": percentile(&latencies, 0.50),
            "p95": percentile(&latencies, 0.95),
            "p99": percentile(&latencies, 0.99),
            "max": latencies.last().copied().unwrap_or(0.0),
        },
        "idle": {
            "seconds": wall,
            "blocks": h1 - h0,
            "cpu_percent_per_node": idle_cpu_pct_per_node,
            "process_rss_mb_4_nodes": rss_mb(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    for n in &nodes {
        n.shutdown().await;
    }
    Ok(())
}
