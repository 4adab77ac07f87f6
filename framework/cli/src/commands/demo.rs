//! `cairn demo`: the README's main job. A localnet of the `small` template (4 validators, PoA, BFT, the Wasm
//! bank) as child processes on loopback; signed bank transfers from the devnet users; live progress on stderr; a
//! summary (heights, txs, tx/s, submit → finalized p50/p95/p99); a check that balances moved exactly as the
//! finalized transfers say and that every node holds the same blocks; and cleanup (also on error and Ctrl-C).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_primitives::{Address, ChainId};
use cairn_proto::node::v1 as pb;

use super::chain::{self, LocalnetSpec};
use super::load::{self, LoadReport, LoadSpec};
use super::localnet::parse_duration;
use super::procs::Processes;
use super::{client, template};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object (txs, heights, tx_per_s, finality_ms {p50, p95, p99}, …) on stdout.
    #[arg(long)]
    json: bool,
    /// Leave the chain running afterwards (prints how to reach and stop it).
    #[arg(long)]
    keep: bool,
    /// Transfers to send.
    #[arg(long, default_value_t = 2000)]
    txs: usize,
    /// Stop sending after this long (e.g. 30s), whatever --txs says.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Submission rate in tx/s (default: as fast as the chain takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Chain template.
    #[arg(long, default_value = "small")]
    template: String,
    /// Put the chain here instead of a temporary directory (kept afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Turn fsync off on the nodes (faster; a crash may then lose vote records).
    #[arg(long)]
    no_fsync: bool,
    /// Submit each transfer to every node instead of one node per sender (gossip carries txs either way; the
    /// app orders each sender's txs by nonce, so this only measures a heavier client).
    #[arg(long)]
    fanout: bool,
    #[command(flatten)]
    engine: template::EngineArgs,
}

/// A running localnet for the demo and the benchmarks.
pub struct Net {
    pub procs: Processes,
    pub chain_id: ChainId,
    pub users: Vec<cairn_primitives::Keypair>,
    pub dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
}

pub struct NetOptions {
    pub template: String,
    pub validators: usize,
    pub users: Option<u64>,
    pub dir: Option<PathBuf>,
    pub keep: bool,
    pub fsync: bool,
    /// Engine overrides of the template (`--engine`, `--engine-switch`).
    pub engine: template::EngineArgs,
}

/// Writes and starts a localnet, waiting until every node finalized a block.
pub async fn start_net(o: &NetOptions) -> Result<Net> {
    let mut t = o.engine.apply(template::load(&o.template)?)?;
    if let Some(u) = o.users {
        t.accounts.users = u;
    }
    let chain_id = ChainId::new(t.chain_id.clone()).context("template chain_id")?;
    let (dir, tmp) = match &o.dir {
        Some(d) => (d.clone(), None),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix("cairn-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let spec = LocalnetSpec {
        validators: o.validators,
        chain_id: chain_id.clone(),
        fsync: o.fsync,
        derived_keys: false,
    };
    let nodes = chain::write_localnet(&dir, &t, &spec, &|_, _, a| a)?;
    let mut procs = Processes::new(nodes)?;
    procs.start_all()?;
    let users = (0..t.accounts.users).map(|i| template::user_key(chain_id.as_str(), i)).collect();
    // With --keep the directory must outlive this process: stop managing its removal.
    let tmp = match tmp {
        Some(t) if o.keep => {
            let _ = t.keep();
            None
        }
        other => other,
    };
    let mut net = Net { procs, chain_id, users, dir, tmp };
    if let Err(e) = net.procs.wait_for_height(1, Duration::from_secs(60)).await {
        net.procs.stop_all().await;
        return Err(net.keep_logs(e));
    }
    Ok(net)
}

impl Net {
    /// On failure: keep the chain directory (node logs) and say where it is.
    pub fn keep_logs(&mut self, e: anyhow::Error) -> anyhow::Error {
        if let Some(t) = self.tmp.take() {
            let _ = t.keep();
        }
        e.context(format!("the node logs are kept in {}/nodeI/node.log", self.dir.display()))
    }
}

/// Every node's block id at `height` must be the same.
pub async fn check_agreement(procs: &Processes, height: u64) -> Result<()> {
    let mut first: Option<Vec<u8>> = None;
    for n in &procs.nodes {
        if !procs.is_running(n.index) {
            continue;
        }
        let url = n.grpc_url();
        let mut c = client::connect(&url).await?;
        let b = c
            .get_block(pb::GetBlockRequest { height })
            .await
            .map_err(|s| client::rpc_error("GetBlock", &url, s))?
            .into_inner();
        match &first {
            None => first = Some(b.block_id),
            Some(id) if *id != b.block_id => bail!(
                "SAFETY VIOLATION: node{} has block {} at height {height}, node0 has {}",
                n.index,
                hex::encode(&b.block_id),
                hex::encode(id)
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The lowest height every running node has reached.
pub async fn common_height(procs: &Processes) -> Result<u64> {
    let mut h = u64::MAX;
    for n in &procs.nodes {
        if procs.is_running(n.index) {
            let url = n.grpc_url();
            let mut c = client::connect(&url).await?;
            h = h.min(client::status(&mut c, &url).await?.height);
        }
    }
    Ok(if h == u64::MAX { 0 } else { h })
}

pub fn report_json(r: &LoadReport, validators: usize, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["validators"] = serde_json::json!(validators);
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

pub fn print_summary(r: &LoadReport) {
    eprintln!("summary:");
    eprintln!(
        "  transfers:  {} finalized ok of {} submitted ({} rejected, {} failed, {} not finalized)",
        r.txs, r.submitted, r.rejected, r.failed, r.lost
    );
    eprintln!("  heights:    {} → {} ({} blocks)", r.heights.start, r.heights.end, r.heights.blocks);
    eprintln!("  throughput: {:.1} tx/s finalized", r.tx_per_s);
    eprintln!(
        "  finality:   submit → finalized p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        r.finality_ms.p50, r.finality_ms.p95, r.finality_ms.p99, r.finality_ms.max, r.finality_ms.samples
    );
    for x in r.rejections.iter().chain(&r.failures) {
        eprintln!("  e.g. {x}");
    }
}

pub fn run(args: Args) -> Result<()> {
    client::runtime()?.block_on(async {
        let o = NetOptions {
            template: args.template.clone(),
            validators: args.validators,
            users: None,
            dir: args.dir.clone(),
            keep: args.keep || args.dir.is_some(),
            fsync: !args.no_fsync,
            engine: args.engine.clone(),
        };
        eprintln!("starting {} validators of template {:?} on loopback…", o.validators, o.template);
        let mut net = tokio::select! {
            r = start_net(&o) => r?,
            _ = super::client::interrupted() => bail!("interrupted"),
        };
        eprintln!("chain {} is finalizing blocks; chain directory {}", net.chain_id, net.dir.display());
        let outcome = tokio::select! {
            r = demo_body(&mut net, &args) => r,
            _ = super::client::interrupted() => Err(anyhow::anyhow!("interrupted")),
        };
        if args.keep && outcome.is_ok() {
            super::localnet::print_endpoints(&net.procs.nodes);
            let pids: Vec<String> = (0..net.procs.nodes.len()).filter_map(|i| net.procs.pid(i)).map(|p| p.to_string()).collect();
            eprintln!("the chain keeps running (--keep); stop it with: kill {}", pids.join(" "));
            net.procs.detach();
        } else {
            net.procs.stop_all().await;
        }
        let (report, verified) = outcome.map_err(|e| net.keep_logs(e))?;
        if args.json {
            println!("{}", report_json(&report, args.validators, serde_json::json!({"verified": verified, "template": args.template, "app": "exec", "fanout": args.fanout})));
        } else {
            println!(
                "{} transfers finalized on {} validators: heights {}→{}, {:.1} tx/s, finality p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; balances verified",
                report.txs, args.validators, report.heights.start, report.heights.end, report.tx_per_s,
                report.finality_ms.p50, report.finality_ms.p95, report.finality_ms.p99
            );
        }
        Ok(())
    })
}

async fn demo_body(net: &mut Net, args: &Args) -> Result<(LoadReport, serde_json::Value)> {
    let url = net.procs.nodes[0].grpc_url();
    let mut c = client::connect(&url).await?;
    let accounts: Vec<Address> = net.users.iter().map(|k| Address::from(k.public())).collect();
    let before = load::balances(&mut c, &url, &accounts).await?;
    let spec = LoadSpec {
        chain_id: net.chain_id.clone(),
        nodes: net.procs.nodes.iter().map(|n| n.grpc_url()).collect(),
        senders: net.users.clone(),
        txs: args.txs,
        rate: args.rate,
        duration: args.duration,
        settle: Duration::from_secs(30),
        progress: true,
        fanout: args.fanout,
    };
    eprintln!(
        "sending {} signed bank transfers from {} users to {} nodes…",
        args.txs,
        spec.senders.len(),
        spec.nodes.len()
    );
    let report = load::run(&spec).await?;
    print_summary(&report);
    net.procs.check_alive()?;
    let verified = load::verify_balances(&mut c, &url, &accounts, &before, &report.deltas).await?;
    let h = common_height(&net.procs).await?;
    check_agreement(&net.procs, h).await?;
    eprintln!(
        "verified: balances moved exactly as the {} finalized transfers say (sum conserved); all nodes hold the same block at height {h}",
        report.txs
    );
    if report.txs == 0 {
        bail!("no transfer was finalized");
    }
    if report.rejected + report.failed + report.lost > 0 {
        bail!(
            "{} transfers were rejected, {} failed and {} were not finalized within 30 s (see the summary above and the node logs in {})",
            report.rejected,
            report.failed,
            report.lost,
            net.dir.display()
        );
    }
    let mut verified = verified;
    verified["nodes_agree_at_height"] = serde_json::json!(h);
    // Which engine finalizes now (an `--engine-switch` must have happened by the end of the load).
    let engine = client::status(&mut c, &url).await?.engine;
    verified["engine"] =
        serde_json::json!(if engine == cairn_proto::app::v1::Engine::Snow as i32 { "snow" } else { "bft" });
    Ok((report, verified))
}
