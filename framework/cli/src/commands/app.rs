//! `cairn app --home DIR --listen ADDR` — runs the Wasm execution app (`ExecApp`) as its own gRPC server, so a
//! node can drive it out of process.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use cairn_execution::{ExecApp, ExecConfig};

/// Largest gRPC message the app accepts or sends; a node's client must allow as much.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

#[derive(clap::Args)]
pub struct Args {
    /// The app's home: state in HOME/state, compiled modules in HOME/cache (created if missing).
    #[arg(long)]
    home: PathBuf,
    /// Address to serve cairn.app.v1.Application on.
    #[arg(long, default_value = "127.0.0.1:26658")]
    listen: SocketAddr,
    /// Do not fsync state commits (faster; a crash may lose the last blocks, which the node replays).
    #[arg(long)]
    no_fsync: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let config = ExecConfig { fsync: !args.no_fsync, ..ExecConfig::default() };
    let app = ExecApp::open(&args.home, config).with_context(|| {
        format!("cannot open the app in {}: check the path and permissions", args.home.display())
    })?;
    let info = app.info_sync();
    eprintln!(
        "cairn app: home {}, height {}, app hash {}; serving on {}",
        args.home.display(),
        info.last_height,
        info.last_app_hash.to_hex(),
        args.listen
    );
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}: is another app running there?", args.listen))?;
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        // FinalizeBlock requests carry whole blocks (up to 8 MiB of txs) and responses their results and events
        // (~300 bytes per bank transfer): well over gRPC's 4 MiB default.
        let config = cairn_abci::server::ServerConfig {
            max_message_bytes: MAX_MESSAGE_BYTES,
            ..cairn_abci::server::ServerConfig::default()
        };
        cairn_abci::server::serve_with_shutdown(app, listener, config, shutdown)
            .await
            .context("the app server failed")
    })
}
