//! Talking to a node's gRPC API (`cairn.node.v1.Node`): connecting with errors that say what to do, and the
//! helpers `status`, `query` and `tx` share.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_proto::node::v1 as pb;
use cairn_proto::node::v1::node_client::NodeClient;
use tonic::transport::{Channel, Endpoint};

/// The gRPC API address `cairn init` configures (`[api] grpc` in config.toml).
pub const DEFAULT_NODE: &str = "http://127.0.0.1:26660";

/// Largest response the CLI accepts (a block of a few MiB of txs plus framing).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

pub type Client = NodeClient<Channel>;

/// Connects to a node's gRPC API; the error says how to start one.
pub async fn connect(url: &str) -> Result<Client> {
    let url = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
    let endpoint = Endpoint::from_shared(url.clone())
        .with_context(|| format!("{url:?} is not a node URL (expected e.g. {DEFAULT_NODE})"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.with_context(|| {
        format!(
            "cannot reach the node at {url}: is it running? Start one with `cairn start --home DIR` or \
             `cairn localnet`, or pass --node URL"
        )
    })?;
    Ok(NodeClient::new(channel)
        .max_decoding_message_size(MAX_RESPONSE_BYTES)
        .max_encoding_message_size(cairn_primitives::MAX_TX_BYTES + 1024))
}

/// Turns a gRPC status into an error that names the call and keeps the node's message.
pub fn rpc_error(call: &str, url: &str, status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unavailable => anyhow::anyhow!(
            "{call} failed: the node at {url} is unavailable ({}); is it still running?",
            status.message()
        ),
        _ => anyhow::anyhow!("{call} failed ({:?}): {}", status.code(), status.message()),
    }
}

/// The node's status.
pub async fn status(client: &mut Client, url: &str) -> Result<pb::StatusResponse> {
    Ok(client.status(pb::StatusRequest {}).await.map_err(|s| rpc_error("Status", url, s))?.into_inner())
}

/// Runs an app query and fails unless it answered with code 0.
pub async fn query(client: &mut Client, url: &str, path: &str, data: Vec<u8>) -> Result<pb::QueryResponse> {
    let resp = client
        .query(pb::QueryRequest { path: path.to_string(), data, height: 0, prove: false })
        .await
        .map_err(|s| rpc_error("Query", url, s))?
        .into_inner();
    if resp.code != 0 {
        bail!("query {path:?} failed with code {}: {}", resp.code, resp.log);
    }
    Ok(resp)
}

/// A tokio runtime for a command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, so commands that own child processes clean them up either way
/// (`kill PID` must not leave validators running).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Connects without an error message (for polling a node that is still starting).
pub async fn connect_quiet(url: &str) -> Option<Client> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .ok()?
        .connect_timeout(Duration::from_millis(500))
        .tcp_nodelay(true);
    let channel = endpoint.connect().await.ok()?;
    Some(NodeClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES))
}

/// A plain HTTP/1.1 GET (for `/metrics`; keeps the CLI free of an HTTP client dependency). Returns the body of a
/// 200 answer; the body is capped at 4 MiB.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(addr))
        .await
        .with_context(|| format!("connecting to {addr} timed out"))?
        .with_context(|| format!("cannot connect to {addr}"))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), (&mut s).take(4 << 20).read_to_end(&mut out))
        .await
        .with_context(|| format!("GET {path} on {addr} timed out"))??;
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path} on {addr}: {}", head.lines().next().unwrap_or("no answer"));
    }
    Ok(body.to_string())
}
