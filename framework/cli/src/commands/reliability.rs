//! Reliability scenarios on a real localnet (processes on loopback), run by `scripts/reliability.sh`:
//!
//! * `cairn bench chaos`: kill -9 a random validator every few seconds (one down at a time) while transfers
//!   flow; then every node must hold identical blocks at every height, every transfer acknowledged as
//!   finalized must be on every node, restarted nodes must have caught up, and no node may report evidence of
//!   double signing.
//! * `cairn bench partition`: the nodes reach each other only through TCP proxies this process controls; a 2|2
//!   partition must finalize nothing (no quorum) and violate no safety; after healing, finality must resume
//!   within the limit (2 s by default).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_primitives::{Address, ChainId, Hash, Keypair};
use cairn_proto::node::v1 as pb;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use super::chain::{self, LocalnetSpec};
use super::demo;
use super::localnet::parse_duration;
use super::procs::Processes;
use super::{bank, client, template};

#[derive(clap::Args)]
pub struct ChaosArgs {
    /// How long transfers flow and validators get killed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Time between kills.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    interval: Duration,
    /// How long a killed validator stays down.
    #[arg(long, default_value = "1500ms", value_parser = parse_duration)]
    down: Duration,
    /// Seed of the choice of victims.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent senders (each waits for its transfer to finalize before the next).
    #[arg(long, default_value_t = 8)]
    senders: u64,
    /// Keep the chain directory (node logs) here.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PartitionArgs {
    /// How long the 2|2 partition lasts.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    partition: Duration,
    /// Finality must resume within this long after healing.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    resume_limit: Duration,
    /// Keep the chain directory (node logs) here.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

fn chain_dir(dir: &Option<std::path::PathBuf>) -> Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    Ok(match dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new().prefix("cairn-reliability-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    })
}

/// Heights of every running node.
async fn heights(procs: &Processes) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for n in &procs.nodes {
        let url = n.grpc_url();
        let h = match client::connect_quiet(&url).await {
            Some(mut c) => client::status(&mut c, &url).await.ok().map(|s| s.height),
            None => None,
        };
        out.push(if procs.is_running(n.index) { h } else { None });
    }
    out
}

/// Every node must hold the same block id at every height `1..=top`.
async fn check_identical_blocks(procs: &Processes, top: u64) -> Result<u64> {
    let mut clients = Vec::new();
    for n in &procs.nodes {
        clients.push((n.index, n.grpc_url(), client::connect(&n.grpc_url()).await?));
    }
    for h in 1..=top {
        let mut first: Option<Vec<u8>> = None;
        for (i, url, c) in clients.iter_mut() {
            let b = c
                .get_block(pb::GetBlockRequest { height: h })
                .await
                .map_err(|s| client::rpc_error(&format!("GetBlock({h}) on node{i}"), url, s))?
                .into_inner();
            match &first {
                None => first = Some(b.block_id),
                Some(id) if *id != b.block_id => bail!(
                    "SAFETY VIOLATION: node{i} has block {} at height {h}, node0 has {}",
                    hex::encode(&b.block_id),
                    hex::encode(id)
                ),
                Some(_) => {}
            }
        }
    }
    Ok(top)
}

/// A Prometheus gauge/counter value from a node's `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> Result<f64> {
    let body = client::http_get(addr, "/metrics").await?;
    body.lines()
        .find_map(|l| {
            l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
        })
        .with_context(|| format!("metric {name} missing at {addr}"))
}

/// Waits until every node reaches `height`.
async fn wait_all(procs: &mut Processes, height: u64, timeout: Duration) -> Result<()> {
    procs.wait_for_height(height, timeout).await
}

pub fn chaos(a: ChaosArgs) -> Result<()> {
    client::runtime()?.block_on(async {
        let (dir, _tmp) = chain_dir(&a.dir)?;
        let mut t = template::load("small")?;
        t.accounts.users = a.senders.max(2);
        let chain_id = ChainId::new(t.chain_id.clone())?;
        let spec =
            LocalnetSpec { validators: 4, chain_id: chain_id.clone(), fsync: true, derived_keys: false };
        let nodes = chain::write_localnet(&dir, &t, &spec, &|_, _, addr| addr)?;
        let mut procs = Processes::new(nodes)?;
        procs.start_all()?;
        let r = tokio::select! {
            r = chaos_body(&mut procs, &chain_id, &t, &a) => r,
            _ = super::client::interrupted() => Err(anyhow::anyhow!("interrupted")),
        };
        procs.stop_all().await;
        let v = r.with_context(|| format!("chaos scenario failed; node logs are in {}", dir.display()))?;
        println!("{}", if a.json { v.to_string() } else { serde_json::to_string_pretty(&v)? });
        Ok(())
    })
}

struct Acked {
    hash: Hash,
    height: u64,
}

async fn chaos_body(
    procs: &mut Processes,
    chain_id: &ChainId,
    t: &template::Template,
    a: &ChaosArgs,
) -> Result<serde_json::Value> {
    procs.wait_for_height(1, Duration::from_secs(60)).await?;
    let urls: Vec<String> = procs.nodes.iter().map(|n| n.grpc_url()).collect();
    let mut c0 = client::connect(&urls[0]).await?;
    let bank_addr = bank::module_address(&mut c0, &urls[0], bank::BANK_LABEL).await?;
    let users: Vec<Keypair> =
        (0..t.accounts.users).map(|i| template::user_key(chain_id.as_str(), i)).collect();
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let errors = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let up: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![true; urls.len()]));
    let mut senders = Vec::new();
    for (s, key) in users.iter().enumerate() {
        let (key, urls, acked, errors, stop, up, chain_id) = (
            key.clone(),
            urls.clone(),
            acked.clone(),
            errors.clone(),
            stop.clone(),
            up.clone(),
            chain_id.clone(),
        );
        let to = Address::from(users[(s + 1) % users.len()].public());
        senders.push(tokio::spawn(async move {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s as u64);
            let mut nonce: Option<u64> = None;
            while !stop.load(Ordering::Relaxed) {
                let live: Vec<usize> = {
                    let up = up.lock().unwrap_or_else(|p| p.into_inner());
                    (0..urls.len()).filter(|&i| up[i]).collect()
                };
                let url = &urls[live[rng.gen_range(0..live.len())]];
                let attempt = async {
                    let mut c = client::connect(url).await?;
                    let n = match nonce {
                        Some(n) => n,
                        None => bank::next_nonce(&mut c, url, &key.public()).await?,
                    };
                    let tx = bank::transfer_tx(&key, &chain_id, n, &bank_addr, &to, 1)?;
                    let r = c
                        .broadcast_tx(pb::BroadcastTxRequest {
                            tx: tx.to_bytes(),
                            mode: pb::BroadcastMode::Commit as i32,
                        })
                        .await
                        .map_err(|s| client::rpc_error("BroadcastTx", url, s))?
                        .into_inner();
                    anyhow::Ok((n, r))
                };
                match attempt.await {
                    Ok((n, r)) if r.check_code == 0 && r.result.as_ref().is_some_and(|x| x.code == 0) => {
                        let hash = Hash(r.hash.as_slice().try_into().unwrap_or([0; 32]));
                        acked
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Acked { hash, height: r.height });
                        nonce = Some(n + 1);
                    }
                    _ => {
                        // The node died under us or the tx was refused: re-learn the nonce from the chain.
                        errors.fetch_add(1, Ordering::Relaxed);
                        nonce = None;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
            }
        }));
    }
    // The killer: one validator down at a time.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let t0 = Instant::now();
    let mut kills = Vec::new();
    while t0.elapsed() + a.interval < a.duration {
        tokio::time::sleep(a.interval.saturating_sub(a.down)).await;
        let victim = rng.gen_range(0..procs.nodes.len());
        up.lock().unwrap_or_else(|p| p.into_inner())[victim] = false;
        let h_before = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
        procs.kill(victim).await?;
        eprintln!("[{:>5.1}s] kill -9 node{victim} at height ~{h_before}", t0.elapsed().as_secs_f64());
        tokio::time::sleep(a.down).await;
        procs.start(victim)?;
        // Back in rotation once it answers again.
        procs.wait_for_height(0, Duration::from_secs(30)).await?;
        up.lock().unwrap_or_else(|p| p.into_inner())[victim] = true;
        kills.push(serde_json::json!({"node": victim, "at_s": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0, "height": h_before}));
    }
    let remaining = a.duration.saturating_sub(t0.elapsed());
    tokio::time::sleep(remaining).await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = tokio::time::timeout(Duration::from_secs(40), s).await;
    }
    // Everyone must converge on the top height.
    let top = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
    wait_all(procs, top, Duration::from_secs(60)).await.context("a restarted node did not catch up")?;
    let checked = check_identical_blocks(procs, top).await?;
    // Every acknowledged transfer is on every node, at the height it was acknowledged at.
    let acked = std::mem::take(&mut *acked.lock().unwrap_or_else(|p| p.into_inner()));
    for n in &procs.nodes {
        let url = n.grpc_url();
        let mut c = client::connect(&url).await?;
        for x in &acked {
            let r = c
                .get_tx(pb::GetTxRequest { hash: x.hash.0.to_vec() })
                .await
                .map_err(|s| {
                    anyhow::anyhow!(
                        "LOST: transfer {} acknowledged at height {} is missing on node{}: {}",
                        x.hash,
                        x.height,
                        n.index,
                        s.message()
                    )
                })?
                .into_inner();
            if r.height != x.height || r.result.as_ref().map_or(1, |x| x.code) != 0 {
                bail!(
                    "transfer {} acknowledged at height {} is at height {} on node{}",
                    x.hash,
                    x.height,
                    r.height,
                    n.index
                );
            }
        }
    }
    let mut evidence = 0.0;
    let mut synced = BTreeMap::new();
    for n in &procs.nodes {
        evidence += metric(n.ports.api.metrics, "cairn_evidence_total").await?;
        synced.insert(
            format!("node{}", n.index),
            metric(n.ports.api.metrics, "cairn_blocks_synced_total").await?,
        );
    }
    if evidence > 0.0 {
        bail!("nodes report {evidence} pieces of evidence of double signing after kill -9 restarts");
    }
    if acked.is_empty() {
        bail!("no transfer was acknowledged during the run: the chain did not make progress under the kills");
    }
    Ok(serde_json::json!({
        "scenario": "chaos",
        "duration_s": a.duration.as_secs_f64(),
        "kills": kills.len(),
        "kill_log": kills,
        "acknowledged_transfers": acked.len(),
        "lost_transfers": 0,
        "submit_errors": errors.load(Ordering::Relaxed),
        "heights_checked_identical": checked,
        "evidence": evidence,
        "blocks_synced_after_restart": synced,
        "ok": true,
    }))
}

/// A TCP forwarder whose traffic can be cut (existing connections dropped, new ones refused) and restored.
struct Proxy {
    blocked: watch::Sender<bool>,
}

impl Proxy {
    fn spawn(listener: std::net::TcpListener, target: SocketAddr) -> Result<Proxy> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(target).await else { return };
                    let (mut a, mut b) = (inbound, outbound);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = rx.wait_for(|blocked| *blocked) => {}
                    }
                });
            }
        });
        Ok(Proxy { blocked: tx })
    }

    fn set_blocked(&self, blocked: bool) {
        self.blocked.send_replace(blocked);
    }
}

pub fn partition(a: PartitionArgs) -> Result<()> {
    client::runtime()?.block_on(async {
        let (dir, _tmp) = chain_dir(&a.dir)?;
        let t = template::load("small")?;
        let chain_id = ChainId::new(t.chain_id.clone())?;
        let spec = LocalnetSpec { validators: 4, chain_id, fsync: true, derived_keys: false };
        // Node i reaches node j only through proxy (i, j).
        let pending: Mutex<Vec<(usize, usize, std::net::TcpListener, SocketAddr)>> = Mutex::default();
        let redirect = |i: usize, j: usize, target: SocketAddr| -> SocketAddr {
            match std::net::TcpListener::bind("127.0.0.1:0") {
                Ok(l) => {
                    let addr = l.local_addr().unwrap_or(target);
                    pending.lock().unwrap_or_else(|p| p.into_inner()).push((i, j, l, target));
                    addr
                }
                Err(_) => target,
            }
        };
        let nodes = chain::write_localnet(&dir, &t, &spec, &redirect)?;
        let mut cross = Vec::new();
        let mut proxies = Vec::new();
        for (i, j, l, target) in pending.into_inner().unwrap_or_else(|p| p.into_inner()) {
            let p = Proxy::spawn(l, target)?;
            if (i < 2) != (j < 2) {
                cross.push(proxies.len());
            }
            proxies.push(p);
        }
        if proxies.len() != 12 {
            bail!("could not bind the 12 proxy ports");
        }
        let mut procs = Processes::new(nodes)?;
        procs.start_all()?;
        let r = tokio::select! {
            r = partition_body(&mut procs, &proxies, &cross, &a) => r,
            _ = super::client::interrupted() => Err(anyhow::anyhow!("interrupted")),
        };
        procs.stop_all().await;
        let v =
            r.with_context(|| format!("partition scenario failed; node logs are in {}", dir.display()))?;
        println!("{}", if a.json { v.to_string() } else { serde_json::to_string_pretty(&v)? });
        Ok(())
    })
}

async fn partition_body(
    procs: &mut Processes,
    proxies: &[Proxy],
    cross: &[usize],
    a: &PartitionArgs,
) -> Result<serde_json::Value> {
    procs.wait_for_height(2, Duration::from_secs(60)).await?;
    for &k in cross {
        proxies[k].set_blocked(true);
    }
    let cut_at = Instant::now();
    // A block already being finalized when the cut came may still land: let it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let h1: Vec<u64> = heights(procs).await.into_iter().map(|h| h.unwrap_or(0)).collect();
    tokio::time::sleep(a.partition).await;
    let h2: Vec<u64> = heights(procs).await.into_iter().map(|h| h.unwrap_or(0)).collect();
    let finalized_during: u64 = h1.iter().zip(&h2).map(|(x, y)| y.saturating_sub(*x)).sum();
    if finalized_during > 0 {
        bail!(
            "{finalized_during} blocks were finalized during the 2|2 partition (heights {h1:?} → {h2:?}): without a quorum nothing may finalize"
        );
    }
    let top = h2.iter().copied().max().unwrap_or(0);
    for &k in cross {
        proxies[k].set_blocked(false);
    }
    let healed_at = Instant::now();
    // Finality resumes when every node has finalized a block above the partition's top.
    let deadline = healed_at + Duration::from_secs(60);
    let resumed_ms = loop {
        let hs = heights(procs).await;
        if hs.iter().all(|h| h.is_some_and(|h| h > top)) {
            break healed_at.elapsed().as_millis() as u64;
        }
        if Instant::now() > deadline {
            let mut peers = Vec::new();
            for n in &procs.nodes {
                peers.push(metric(n.ports.api.metrics, "cairn_peers").await.unwrap_or(-1.0));
            }
            bail!(
                "finality did not resume within 60 s after healing (heights {hs:?}, partition top {top}, connected \
                 peers per node {peers:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let final_top = demo::common_height(procs).await?;
    let checked = check_identical_blocks(procs, final_top).await?;
    let v = serde_json::json!({
        "scenario": "partition_2_2",
        "partition_s": a.partition.as_secs_f64(),
        "heights_at_cut": h1,
        "heights_before_heal": h2,
        "finalized_during_partition": finalized_during,
        "resumed_after_heal_ms": resumed_ms,
        "resume_limit_ms": a.resume_limit.as_millis() as u64,
        "heights_checked_identical": checked,
        "cut_to_heal_ms": healed_at.duration_since(cut_at).as_millis() as u64,
        "ok": resumed_ms <= a.resume_limit.as_millis() as u64,
    });
    if resumed_ms > a.resume_limit.as_millis() as u64 {
        bail!(
            "finality resumed {resumed_ms} ms after healing, over the limit of {} ms: {v}",
            a.resume_limit.as_millis()
        );
    }
    Ok(v)
}
