//! `cairn bench localnet`: throughput and submit → finalized latency of a localnet on loopback, optionally an
//! idle validator's CPU and memory and block-sync catch-up speed. Prints one JSON object with `--json`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_node::api::USER_HZ;

use super::demo::{self, NetOptions};
use super::load::{self, LoadSpec};
use super::localnet::parse_duration;
use super::{client, procs::Processes};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Validators as processes on loopback under signed bank transfers.
    Localnet(LocalnetArgs),
    /// Reliability: kill -9 a random validator every few seconds while transfers flow, then check safety.
    Chaos(super::reliability::ChaosArgs),
    /// Reliability: a 2|2 partition through TCP proxies; nothing may finalize, finality must resume on healing.
    Partition(super::reliability::PartitionArgs),
}

#[derive(clap::Args)]
struct LocalnetArgs {
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Transfers to send.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// Submission rate in tx/s (default: as fast as the chain takes them). A low rate measures latency under
    /// light load.
    #[arg(long)]
    rate: Option<f64>,
    /// Funded sender accounts (more senders, more parallel submission).
    #[arg(long, default_value_t = 64)]
    senders: u64,
    /// Stop sending after this long.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Before the load, measure every validator's CPU and RSS while the chain idles for this long.
    #[arg(long, value_parser = parse_duration)]
    idle: Option<Duration>,
    /// Keep the last validator down during the load, then start it and measure block-sync catch-up (blocks/s).
    #[arg(long)]
    catchup: bool,
    /// Turn fsync off on the nodes (the targets are measured with fsync on).
    #[arg(long)]
    no_fsync: bool,
    /// Submit every transfer to every node in per-sender nonce order (see `cairn demo --help`); default: one
    /// node per tx, gossip does the rest.
    #[arg(long)]
    fanout: bool,
    #[command(flatten)]
    engine: super::template::EngineArgs,
    /// Chain template.
    #[arg(long, default_value = "small")]
    template: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::Chaos(a) => super::reliability::chaos(a),
        Cmd::Partition(a) => super::reliability::partition(a),
        Cmd::Localnet(a) => client::runtime()?.block_on(async {
            let o = NetOptions {
                template: a.template.clone(),
                validators: a.validators,
                users: Some(a.senders.max(2)),
                dir: None,
                keep: false,
                fsync: !a.no_fsync,
                engine: a.engine.clone(),
            };
            let mut net = demo::start_net(&o).await?;
            let r = tokio::select! {
                r = bench_body(&mut net.procs, &net.chain_id, &net.users, &a) => r,
                _ = super::client::interrupted() => Err(anyhow::anyhow!("interrupted")),
            };
            net.procs.stop_all().await;
            let v = r.map_err(|e| net.keep_logs(e))?;
            if a.json {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            Ok(())
        }),
    }
}

async fn bench_body(
    procs: &mut Processes,
    chain_id: &cairn_primitives::ChainId,
    users: &[cairn_primitives::Keypair],
    a: &LocalnetArgs,
) -> Result<serde_json::Value> {
    let mut extra = serde_json::json!({ "fsync": !a.no_fsync, "senders": users.len(), "rate": a.rate, "fanout": a.fanout });
    if let Some(idle) = a.idle {
        eprintln!("measuring idle validators for {} s…", idle.as_secs());
        extra["idle"] = measure_idle(procs, idle).await?;
    }
    let last = procs.nodes.len() - 1;
    if a.catchup {
        if procs.nodes.len() < 4 {
            bail!("--catchup needs at least 4 validators (the others must keep a quorum)");
        }
        procs.kill(last).await?;
    }
    let nodes: Vec<String> =
        procs.nodes.iter().filter(|n| procs.is_running(n.index)).map(|n| n.grpc_url()).collect();
    let spec = LoadSpec {
        chain_id: chain_id.clone(),
        nodes,
        senders: users.to_vec(),
        txs: a.txs,
        rate: a.rate,
        duration: a.duration,
        settle: Duration::from_secs(60),
        progress: true,
        fanout: a.fanout,
    };
    eprintln!("sending {} transfers from {} senders…", a.txs, users.len());
    let pids: Vec<u32> = (0..procs.nodes.len()).filter_map(|i| procs.pid(i)).collect();
    let cpu_before: Vec<u64> = pids.iter().map(|p| proc_usage(*p).map(|u| u.0)).collect::<Result<_>>()?;
    let own_before = proc_usage(std::process::id())?.0;
    let report = load::run(&spec).await?;
    extra["cpu"] = cpu_per_tx(&pids, &cpu_before, own_before, report.txs)?;
    if let Some(us) = extra["cpu"]["cpu_us_per_tx_per_validator"].as_f64() {
        extra["cpu_us_per_tx_per_validator"] = serde_json::json!(us);
    }
    demo::print_summary(&report);
    procs.check_alive()?;
    if report.lost > 0 || report.rejected > 0 || report.failed > 0 {
        bail!(
            "{} transfers were not finalized within 60 s, {} were rejected and {} failed: the chain stalled or \
             refused load (finalized {} of {})",
            report.lost,
            report.rejected,
            report.failed,
            report.txs,
            report.submitted
        );
    }
    if a.catchup {
        extra["catchup"] = measure_catchup(procs, last).await?;
    }
    let h = demo::common_height(procs).await?;
    demo::check_agreement(procs, h).await?;
    Ok(demo::report_json(&report, procs.nodes.len(), extra))
}

/// CPU ticks (utime + stime) and RSS in bytes of a process, from /proc.
fn proc_usage(pid: u32) -> Result<(u64, u64)> {
    let u = cairn_node::api::process_usage(pid).with_context(|| format!("cannot read /proc/{pid}"))?;
    Ok((u.cpu_ticks, u.rss_bytes))
}

/// CPU (user + system) each validator process and the load generator (this process) spent during the load,
/// per finalized tx, so a figure taken with every process on one 2-core box still says what one validator on its
/// own machine costs. The settle wait after the last tx is included (it is idle time, a few ms of CPU).
fn cpu_per_tx(pids: &[u32], before: &[u64], own_before: u64, txs: usize) -> Result<serde_json::Value> {
    let per_tx_us = |ticks: u64| ticks as f64 / USER_HZ * 1e6 / txs.max(1) as f64;
    let mut nodes = Vec::new();
    let mut total = 0.0;
    for (i, pid) in pids.iter().enumerate() {
        let used = proc_usage(*pid)?.0.saturating_sub(before.get(i).copied().unwrap_or(0));
        total += per_tx_us(used);
        nodes.push((per_tx_us(used) * 10.0).round() / 10.0);
    }
    let own = proc_usage(std::process::id())?.0.saturating_sub(own_before);
    Ok(serde_json::json!({
        "cpu_us_per_tx_per_validator": (total / pids.len().max(1) as f64 * 10.0).round() / 10.0,
        "per_validator_us_per_tx": nodes,
        "load_generator_us_per_tx": (per_tx_us(own) * 10.0).round() / 10.0,
    }))
}

async fn measure_idle(procs: &Processes, window: Duration) -> Result<serde_json::Value> {
    let pids: Vec<u32> = (0..procs.nodes.len()).filter_map(|i| procs.pid(i)).collect();
    let before: Vec<(u64, u64)> = pids.iter().map(|p| proc_usage(*p)).collect::<Result<_>>()?;
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let secs = t0.elapsed().as_secs_f64();
    let mut per_node = Vec::new();
    let (mut max_cpu, mut max_rss) = (0.0f64, 0u64);
    for (i, pid) in pids.iter().enumerate() {
        let (cpu1, rss) = proc_usage(*pid)?;
        let cpu_pct = (cpu1.saturating_sub(before[i].0)) as f64 / USER_HZ / secs * 100.0;
        max_cpu = max_cpu.max(cpu_pct);
        max_rss = max_rss.max(rss);
        per_node.push(serde_json::json!({"node": i, "cpu_percent": (cpu_pct * 100.0).round() / 100.0, "rss_mb": (rss as f64 / 1048576.0 * 10.0).round() / 10.0}));
    }
    Ok(serde_json::json!({
        "seconds": (secs * 10.0).round() / 10.0,
        "max_cpu_percent": (max_cpu * 100.0).round() / 100.0,
        "max_rss_mb": (max_rss as f64 / 1048576.0 * 10.0).round() / 10.0,
        "nodes": per_node,
    }))
}

async fn measure_catchup(procs: &mut Processes, i: usize) -> Result<serde_json::Value> {
    let target = demo::common_height(procs).await?;
    eprintln!("starting node{i} again; it must sync {target} blocks…");
    let t0 = Instant::now();
    procs.start(i)?;
    let url = procs.nodes[i].grpc_url();
    let mut start_height = None;
    loop {
        procs.check_alive()?;
        if let Some(mut c) = client::connect_quiet(&url).await
            && let Ok(s) = client::status(&mut c, &url).await
        {
            {
                let h0 = *start_height.get_or_insert(s.height);
                if s.height >= target {
                    let secs = t0.elapsed().as_secs_f64();
                    let blocks = target.saturating_sub(h0);
                    return Ok(serde_json::json!({
                        "blocks": blocks,
                        "seconds": (secs * 100.0).round() / 100.0,
                        "blocks_per_s": ((blocks as f64 / secs) * 10.0).round() / 10.0,
                        "note": "from process start (includes start-up) until its height reached the others' height at restart",
                    }));
                }
            }
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!("node{i} did not catch up to height {target} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
