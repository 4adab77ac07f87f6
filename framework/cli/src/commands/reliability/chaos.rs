//! `cairn bench chaos`: validators killed with SIGKILL (one or several at once) while transfers flow, optionally
//! over a slow application; nothing acknowledged may be lost, no two nodes may disagree on a block.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_primitives::{Address, ChainId, Hash, Keypair};
use cairn_proto::node::v1 as pb;
use rand::{Rng, SeedableRng};

use super::super::chain::{self, LocalnetSpec};
use super::super::localnet::parse_duration;
use super::super::procs::Processes;
use super::super::{bank, client, template};
use super::{chain_dir, check_identical_blocks, heights, load, metric, txs_in_blocks, wait_all};

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
    /// Validators killed together each time (of 4: 1 leaves a quorum, 2 stop the chain until they return).
    #[arg(long, default_value_t = 1)]
    at_once: usize,
    /// A slow application: every FinalizeBlock on every validator sleeps this long first (e.g. longer than the
    /// 1 s leader timeout). 0 = off.
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    slow_app: Duration,
    /// Background open-loop load in tx/s (batched transfers from 16 senders of its own, not checked for loss):
    /// kills then happen under real load. 0 = off.
    #[arg(long, default_value_t = 0)]
    load: u64,
    /// Concurrent senders (each waits for its transfer to finalize before the next).
    #[arg(long, default_value_t = 8)]
    senders: u64,
    /// Keep the chain directory (node logs) here.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn chaos(a: ChaosArgs) -> Result<()> {
    client::runtime()?.block_on(async {
        let (dir, _tmp) = chain_dir(&a.dir)?;
        let mut t = template::load("small")?;
        t.accounts.users = a.senders.max(2) + if a.load > 0 { load::SENDERS } else { 0 };
        let chain_id = ChainId::new(t.chain_id.clone())?;
        let spec =
            LocalnetSpec { validators: 4, chain_id: chain_id.clone(), fsync: true, derived_keys: false };
        let nodes = chain::write_localnet(&dir, &t, &spec, &|_, _, addr| addr)?;
        if !a.slow_app.is_zero() {
            for n in &nodes {
                chain::edit_config(&n.home, |c| {
                    c.app.test_finalize_delay_ms = a.slow_app.as_millis() as u64
                })?;
            }
        }
        if a.at_once == 0 || a.at_once >= nodes.len() {
            bail!("--at-once must be between 1 and {} (some validator must stay up)", nodes.len() - 1);
        }
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
        (0..a.senders.max(2)).map(|i| template::user_key(chain_id.as_str(), i)).collect();
    let load_keys: Vec<Keypair> =
        (a.senders.max(2)..t.accounts.users).map(|i| template::user_key(chain_id.as_str(), i)).collect();
    let start_height = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let errors = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let up: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![true; urls.len()]));
    let load = (a.load > 0).then(|| {
        let target = Arc::new(load::Target {
            chain_id: chain_id.clone(),
            bank: bank_addr,
            urls: urls.clone(),
            up: up.clone(),
            stop: stop.clone(),
        });
        load::Load::spawn(a.load, load_keys, target)
    });
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
    // The killer: `at_once` distinct validators down together, then back.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(a.seed);
    let t0 = Instant::now();
    let mut kills = Vec::new();
    let mut worst_resume_ms = 0u64;
    while t0.elapsed() + a.interval < a.duration {
        tokio::time::sleep(a.interval.saturating_sub(a.down)).await;
        let mut victims: Vec<usize> = (0..procs.nodes.len()).collect();
        while victims.len() > a.at_once {
            victims.remove(rng.gen_range(0..victims.len()));
        }
        let h_before = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
        for &v in &victims {
            up.lock().unwrap_or_else(|p| p.into_inner())[v] = false;
            procs.kill(v).await?;
        }
        eprintln!("[{:>5.1}s] kill -9 nodes {victims:?} at height ~{h_before}", t0.elapsed().as_secs_f64());
        tokio::time::sleep(a.down).await;
        for &v in &victims {
            procs.start(v)?;
        }
        let restarted = Instant::now();
        // Back in rotation once they answer again.
        procs.wait_for_height(0, Duration::from_secs(30)).await?;
        for &v in &victims {
            up.lock().unwrap_or_else(|p| p.into_inner())[v] = true;
        }
        // Finality resumes: some node finalizes above what was reached before the kill.
        let resume_deadline = restarted + Duration::from_secs(60);
        let mut h = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
        while h <= h_before && Instant::now() < resume_deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            h = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
        }
        if h <= h_before {
            bail!("finality did not resume within 60 s of restarting nodes {victims:?} (height {h})");
        }
        let resume_ms = restarted.elapsed().as_millis() as u64;
        worst_resume_ms = worst_resume_ms.max(resume_ms);
        kills.push(serde_json::json!({"nodes": victims, "at_s": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0, "height": h_before, "resumed_after_restart_ms": resume_ms}));
    }
    let remaining = a.duration.saturating_sub(t0.elapsed());
    tokio::time::sleep(remaining).await;
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = tokio::time::timeout(Duration::from_secs(40), s).await;
    }
    let run_s = t0.elapsed().as_secs_f64();
    let load_report = match load {
        Some(l) => Some(l.finish(a.load).await),
        None => None,
    };
    // Everyone must converge on the top height.
    let top = heights(procs).await.into_iter().flatten().max().unwrap_or(0);
    wait_all(procs, top, Duration::from_secs(60)).await.context("a restarted node did not catch up")?;
    let checked = check_identical_blocks(procs, top).await?;
    let chain_txs = txs_in_blocks(&urls[0], start_height + 1, top).await?;
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
        "at_once": a.at_once,
        "slow_app_ms": a.slow_app.as_millis() as u64,
        "worst_resume_after_restart_ms": worst_resume_ms,
        "load": load_report,
        "chain_txs": chain_txs,
        "chain_tx_per_s": (chain_txs as f64 / run_s * 10.0).round() / 10.0,
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
