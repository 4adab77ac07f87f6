//! `kvstore --listen 127.0.0.1:26658 [--state FILE]`: serves the kvstore over `cairn.app.v1.Application`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use cairn_abci::server::{self, ServerConfig};
use clap::Parser;
use kvstore::KvStore;

/// cairn's reference application: a key/value store served over gRPC (cairn.app.v1.Application).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to serve on; port 0 picks a free port (the chosen address is printed on stdout).
    #[arg(long, default_value = "127.0.0.1:26658")]
    listen: SocketAddr,
    /// Save the committed state to FILE on every commit and resume from it on start.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Largest gRPC request or response, in bytes.
    #[arg(long, default_value_t = server::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let app = match &args.state {
        Some(path) => KvStore::with_state_file(path)?,
        None => KvStore::new(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to learn the port when started with port 0.
    println!("kvstore listening on {addr}");
    let config = ServerConfig { max_message_bytes: args.max_message_bytes, ..ServerConfig::default() };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::serve_with_shutdown(app, listener, config, shutdown).await?;
    Ok(())
}
