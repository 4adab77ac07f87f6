//! `cairn localnet --validators N --dir DIR`: N validators as `cairn start` processes on loopback.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_node::config::CONFIG_FILE;
use cairn_node::{NodeConfig, NodeKeyFile};
use cairn_primitives::ChainId;

use super::chain::{self, LocalNode, LocalnetSpec, NodePorts};
use super::procs::Processes;
use super::template;

#[derive(clap::Args)]
pub struct Args {
    /// Number of validators (ignored when DIR already holds a chain).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Directory of the chain: one home per node (`node0`, `node1`, …, each with its `node.log`). A directory made
    /// by `cairn new` or an earlier `cairn localnet` is started as it is.
    #[arg(long)]
    dir: PathBuf,
    /// Chain template for a new chain (see templates/README.md).
    #[arg(long, default_value = "small")]
    template: String,
    /// Chain id for a new chain (default: the template's).
    #[arg(long)]
    chain_id: Option<String>,
    /// Turn fsync off (faster, but a crash may lose a vote record: throw-away networks only).
    #[arg(long)]
    no_fsync: bool,
    #[command(flatten)]
    engine: template::EngineArgs,
    /// How long to wait for the first finalized block.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    ready_timeout: Duration,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("ms") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60.0)
    } else {
        (s, 1.0)
    };
    let x: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a duration (e.g. 500ms, 10s, 2m)"))?;
    if !(x.is_finite() && x >= 0.0) {
        return Err(format!("{s:?} is not a duration (e.g. 500ms, 10s, 2m)"));
    }
    Ok(Duration::from_secs_f64(x * mul))
}

/// Loads the nodes of an existing chain directory (`node0`, `node1`, … with config/config.toml).
pub fn load_existing(dir: &Path) -> Result<Option<Vec<LocalNode>>> {
    let mut nodes = Vec::new();
    for i in 0.. {
        let home = dir.join(format!("node{i}"));
        let cfg_path = home.join(CONFIG_FILE);
        if !cfg_path.exists() {
            break;
        }
        let config = NodeConfig::load(&cfg_path)?;
        let key = NodeKeyFile::load(&NodeConfig::resolve(&home, &config.key_file))?;
        let ports = NodePorts { p2p: config.p2p.listen, api: config.api.clone() };
        nodes.push(LocalNode { index: i, home, key, ports, config });
    }
    Ok((!nodes.is_empty()).then_some(nodes))
}

/// Loads the chain in `dir`, or writes a new one there from the template.
pub fn prepare(
    dir: &Path,
    template_name: &str,
    validators: usize,
    chain_id: Option<String>,
    fsync: bool,
    engine: &template::EngineArgs,
) -> Result<(Vec<LocalNode>, bool)> {
    if let Some(nodes) = load_existing(dir)? {
        return Ok((nodes, false));
    }
    let t = engine.apply(template::load(template_name)?)?;
    let chain_id = ChainId::new(chain_id.unwrap_or_else(|| t.chain_id.clone())).context("--chain-id")?;
    let spec = LocalnetSpec { validators, chain_id, fsync, derived_keys: false };
    let nodes = chain::write_localnet(dir, &t, &spec, &|_, _, addr| addr)?;
    Ok((nodes, true))
}

pub fn print_endpoints(nodes: &[LocalNode]) {
    for n in nodes {
        eprintln!(
            "  {} (key {}…): grpc http://{}  http http://{}  metrics http://{}/metrics  log {}",
            n.config.moniker,
            &n.key.public().to_hex()[..12],
            n.ports.api.grpc,
            n.ports.api.http,
            n.ports.api.metrics,
            n.log_path().display()
        );
    }
}

pub fn run(args: Args) -> Result<()> {
    super::client::runtime()?.block_on(async {
        let (nodes, created) =
            prepare(&args.dir, &args.template, args.validators, args.chain_id, !args.no_fsync, &args.engine)?;
        let n = nodes.len();
        eprintln!(
            "{} chain of {n} validators in {}",
            if created { "created a" } else { "starting the" },
            args.dir.display()
        );
        let t0 = Instant::now();
        let mut procs = Processes::new(nodes)?;
        procs.start_all()?;
        tokio::select! {
            r = procs.wait_for_height(1, args.ready_timeout) => r?,
            _ = super::client::interrupted() => {
                procs.stop_all().await;
                bail!("interrupted before the first block");
            }
        }
        eprintln!("first block finalized on every node {} ms after start", t0.elapsed().as_millis());
        print_endpoints(&procs.nodes);
        eprintln!("try: cairn status --node {}", procs.nodes[0].grpc_url());
        eprintln!("Ctrl-C stops every node (the chain's data stays in {}).", args.dir.display());
        loop {
            tokio::select! {
                _ = super::client::interrupted() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if let Err(e) = procs.check_alive() {
                        procs.stop_all().await;
                        return Err(e);
                    }
                }
            }
        }
        procs.stop_all().await;
        eprintln!("stopped {n} nodes");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn a_new_layout_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (nodes, created) = prepare(dir.path(), "small", 3, None, true, &Default::default()).unwrap();
        assert!(created);
        assert_eq!(nodes.len(), 3);
        let (again, created) = prepare(dir.path(), "small", 7, None, true, &Default::default()).unwrap();
        assert!(!created);
        assert_eq!(again.len(), 3);
        for (a, b) in nodes.iter().zip(&again) {
            assert_eq!(a.key.public(), b.key.public());
            assert_eq!(a.ports.api, b.ports.api);
            // Every node bootstraps from every other, pinned by key.
            assert_eq!(b.config.p2p.bootstrap.len(), 2);
        }
        let g0 = std::fs::read_to_string(dir.path().join("node0/config/genesis.json")).unwrap();
        let g2 = std::fs::read_to_string(dir.path().join("node2/config/genesis.json")).unwrap();
        assert_eq!(g0, g2, "every node must share one genesis");
    }
}
