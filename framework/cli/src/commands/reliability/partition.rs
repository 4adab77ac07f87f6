//! `cairn bench partition`: the nodes of a 4-validator localnet reach each other only through TCP proxies this
//! process controls, so links can be cut and healed: a 2|2 split, a 3|1 split, or a 2|2 split that flaps.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_primitives::ChainId;
use tokio::sync::watch;

use super::super::chain::{self, LocalnetSpec};
use super::super::demo;
use super::super::localnet::parse_duration;
use super::super::procs::Processes;
use super::super::{bank, client, template};
use super::{chain_dir, check_identical_blocks, heights, load, metric, txs_in_blocks};

/// Block sync must catch a node up by at least one block per this long (10 blocks/s, loaded blocks included;
/// measured 10–70 blocks/s): the 3|1 scenario adds it per block the isolated node missed to its resume limit.
const SYNC_PER_BLOCK: Duration = Duration::from_millis(100);

/// Which links a partition cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// Nodes 0,1 | 2,3: no side has a quorum, nothing may finalize.
    #[value(name = "2-2")]
    TwoTwo,
    /// Nodes 0,1,2 | 3: the three keep finalizing, the one cannot, and catches up after the heal.
    #[value(name = "3-1")]
    ThreeOne,
    /// The 2|2 cut, healed and cut again every `--flap` for the whole partition time.
    #[value(name = "flap")]
    Flap,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::TwoTwo => "partition_2_2",
            Shape::ThreeOne => "partition_3_1",
            Shape::Flap => "partition_flapping",
        }
    }

    /// Whether the link between nodes `i` and `j` crosses the cut.
    fn crosses(self, i: usize, j: usize) -> bool {
        match self {
            Shape::TwoTwo | Shape::Flap => (i < 2) != (j < 2),
            Shape::ThreeOne => (i == 3) != (j == 3),
        }
    }
}

#[derive(clap::Args)]
pub struct PartitionArgs {
    /// Which partition: `2-2`, `3-1` or `flap` (2|2 cut and healed over and over).
    #[arg(long, value_enum, default_value = "2-2")]
    shape: Shape,
    /// With `--shape flap`: how long each cut and each heal lasts.
    #[arg(long, default_value = "700ms", value_parser = parse_duration)]
    flap: Duration,
    /// How long the partition lasts.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    partition: Duration,
    /// Finality must resume within this long after healing (with `3-1`: plus 100 ms per block the isolated node
    /// missed, which it must sync first).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    resume_limit: Duration,
    /// Background open-loop load in tx/s through the whole run (batched transfers from 16 senders, sent to
    /// random nodes on both sides of the cut; not checked for loss): partitions and heals under real load. 0 = off.
    #[arg(long, default_value_t = 0)]
    load: u64,
    /// Keep the chain directory (node logs) here.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
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
        let mut t = template::load("small")?;
        // The load's senders are template users of their own, after the template's.
        let load_from = t.accounts.users;
        if a.load > 0 {
            t.accounts.users += load::SENDERS;
        }
        let chain_id = ChainId::new(t.chain_id.clone())?;
        let spec =
            LocalnetSpec { validators: 4, chain_id: chain_id.clone(), fsync: true, derived_keys: false };
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
            if a.shape.crosses(i, j) {
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
            r = partition_body(&mut procs, &proxies, &cross, &a, &chain_id, load_from..t.accounts.users) => r,
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
    chain_id: &ChainId,
    load_users: std::ops::Range<u64>,
) -> Result<serde_json::Value> {
    procs.wait_for_height(2, Duration::from_secs(60)).await?;
    let urls: Vec<String> = procs.nodes.iter().map(|n| n.grpc_url()).collect();
    let start_height = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let load = if a.load > 0 {
        let mut c0 = client::connect(&urls[0]).await?;
        let target = Arc::new(load::Target {
            chain_id: chain_id.clone(),
            bank: bank::module_address(&mut c0, &urls[0], bank::BANK_LABEL).await?,
            urls: urls.clone(),
            up: Arc::new(Mutex::new(vec![true; urls.len()])),
            stop: stop.clone(),
        });
        let keys = load_users.map(|i| template::user_key(chain_id.as_str(), i)).collect();
        let l = load::Load::spawn(a.load, keys, target);
        // Let the load fill the pipeline before the cut.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Some(l)
    } else {
        None
    };
    let cut = |blocked: bool| {
        for &k in cross {
            proxies[k].set_blocked(blocked);
        }
    };
    cut(true);
    let cut_at = Instant::now();
    // A block already being finalized when the cut came may still land: let it.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let h1: Vec<u64> = heights(procs).await.into_iter().map(|h| h.unwrap_or(0)).collect();
    let mut flaps = 0u32;
    if a.shape == Shape::Flap {
        let end = Instant::now() + a.partition;
        while Instant::now() + a.flap < end {
            tokio::time::sleep(a.flap).await;
            flaps += 1;
            cut(flaps.is_multiple_of(2));
        }
        cut(true);
        tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
    } else {
        tokio::time::sleep(a.partition).await;
    }
    let h2: Vec<u64> = heights(procs).await.into_iter().map(|h| h.unwrap_or(0)).collect();
    let grew = |i: usize| h2[i].saturating_sub(h1[i]);
    let finalized_during: u64 = (0..h1.len()).map(grew).sum();
    match a.shape {
        Shape::TwoTwo if finalized_during > 0 => bail!(
            "{finalized_during} blocks were finalized during the 2|2 partition (heights {h1:?} → {h2:?}): without a quorum nothing may finalize"
        ),
        Shape::ThreeOne if grew(3) > 0 => {
            bail!("the isolated node3 finalized {} blocks alone (heights {h1:?} → {h2:?})", grew(3))
        }
        Shape::ThreeOne if (0..3).any(|i| grew(i) == 0) => bail!(
            "the three connected validators (30 of 40 power, a quorum) stopped finalizing during the 3|1 partition (heights {h1:?} → {h2:?})"
        ),
        _ => {}
    }
    let top = h2.iter().copied().max().unwrap_or(0);
    // After a 3|1 cut the chain never stopped; what the heal must bring back within the limit is the isolated
    // node, which first has to sync what the three finalized without it. So its limit grows with that backlog at
    // a stated block-sync rate (a loaded block carries hundreds of txs to re-execute).
    let behind = top.saturating_sub(h2.iter().copied().min().unwrap_or(0));
    let limit = match a.shape {
        Shape::ThreeOne => a.resume_limit + SYNC_PER_BLOCK * behind as u32,
        _ => a.resume_limit,
    };
    cut(false);
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
    stop.store(true, Ordering::Relaxed);
    let load_report = match load {
        Some(l) => Some(l.finish(a.load).await),
        None => None,
    };
    let final_top = demo::common_height(procs).await?;
    let checked = check_identical_blocks(procs, final_top).await?;
    let chain_txs = txs_in_blocks(&urls[0], start_height + 1, final_top).await?;
    let v = serde_json::json!({
        "scenario": a.shape.name(),
        "partition_s": a.partition.as_secs_f64(),
        "flaps": flaps,
        "heights_at_cut": h1,
        "heights_before_heal": h2,
        "finalized_during_partition": finalized_during,
        "resumed_after_heal_ms": resumed_ms,
        "blocks_behind_at_heal": behind,
        "resume_limit_ms": limit.as_millis() as u64,
        "load": load_report,
        "chain_txs": chain_txs,
        "chain_tx_per_s": (chain_txs as f64 / started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "heights_checked_identical": checked,
        "cut_to_heal_ms": healed_at.duration_since(cut_at).as_millis() as u64,
        "ok": resumed_ms <= limit.as_millis() as u64,
    });
    if resumed_ms > limit.as_millis() as u64 {
        bail!(
            "finality resumed {resumed_ms} ms after healing, over the limit of {} ms: {v}",
            limit.as_millis()
        );
    }
    Ok(v)
}
