//! `cairn start --home DIR` — runs one node (consensus, p2p, block store, API) until SIGINT or SIGTERM.
//!
//! The application is chosen by `[app]` in `config/config.toml`: `mode = "in-process"` with `name = "exec"` (the
//! Wasm execution host, state under `DATA/app`) or `name = "kvstore"` (the example app, state in
//! `DATA/kvstore.state`); or `mode = "grpc"` with `address`, for an app served by `cairn app` or any other
//! language.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use cairn_abci::Application;
use cairn_node::config::CONFIG_FILE;
use cairn_node::{AppMode, NodeConfig};
use tracing::info;

#[derive(clap::Args)]
pub struct Args {
    /// The node's home directory (config/, data/), as written by `cairn init` or `cairn localnet`.
    #[arg(long)]
    home: PathBuf,
    /// Log filter when RUST_LOG is not set (e.g. `info`, `cairn_node=debug`).
    #[arg(long, default_value = "info")]
    log: String,
    /// Log lines as human-readable text or as one JSON object per line (for log shippers).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&args.log))
        .context("--log is not a valid log filter")?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };

    let config_path = args.home.join(CONFIG_FILE);
    if !config_path.exists() {
        bail!(
            "{} does not exist: create the node's home with `cairn init --home {}`",
            config_path.display(),
            args.home.display()
        );
    }
    let config = NodeConfig::load(&config_path)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(run_node(&args.home, config))
}

/// Builds the in-process app the config names (or connects to the remote one).
async fn open_app(home: &Path, config: &NodeConfig) -> anyhow::Result<Arc<dyn Application>> {
    if config.app.mode == AppMode::Grpc {
        let app =
            cairn_node::connect_app(config).await?.context("app.mode is grpc but no app was connected")?;
        return Ok(app);
    }
    let data = NodeConfig::resolve(home, &config.data_dir);
    match config.app.name.as_str() {
        "exec" => {
            let dir = data.join("app");
            let exec = cairn_execution::ExecConfig {
                fsync: config.fsync,
                min_price: u128::from(config.app.min_price),
                ..cairn_execution::ExecConfig::default()
            };
            let app = cairn_execution::ExecApp::open(&dir, exec)
                .with_context(|| format!("cannot open the execution app in {}", dir.display()))?;
            Ok(Arc::new(app))
        }
        "kvstore" => {
            std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
            let app = kvstore::KvStore::with_state_file(data.join("kvstore.state"))?;
            Ok(Arc::new(app))
        }
        other => bail!(
            "{}: field `app.name`: unknown in-process app {other:?}; use \"exec\" or \"kvstore\", or set app.mode = \"grpc\"",
            home.join(CONFIG_FILE).display()
        ),
    }
}

async fn run_node(home: &Path, config: NodeConfig) -> anyhow::Result<()> {
    let app = open_app(home, &config).await?;
    let node = cairn_node::start(home, app).await?;
    let api = match cairn_node::api::serve(node.clone(), &config.api).await {
        Ok(api) => api,
        Err(e) => {
            node.shutdown().await;
            return Err(e.into());
        }
    };
    let status = node.status();
    info!(
        chain = %status.chain_id,
        height = %status.height,
        validator_key = %status.node_key,
        p2p_key = %status.p2p_key,
        peer_id = %status.peer_id(),
        p2p = ?node.p2p_addr(),
        grpc = %api.grpc,
        http = %api.http,
        metrics = %api.metrics,
        "node running"
    );

    let stopped = tokio::select! {
        _ = tokio::signal::ctrl_c() => { info!("SIGINT: stopping"); None }
        _ = sigterm() => { info!("SIGTERM: stopping"); None }
        r = node.stopped() => Some(r),
    };
    api.shutdown().await;
    node.shutdown().await;
    match stopped {
        Some(Err(e)) => Err(e).context("the node stopped"),
        _ => Ok(()),
    }
}

#[cfg(unix)]
async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn sigterm() {
    std::future::pending::<()>().await
}
