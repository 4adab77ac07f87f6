//! Reliability scenarios on a real localnet (processes on loopback), run by `scripts/reliability.sh`:
//!
//! * `cairn bench chaos` (`chaos.rs`): kill -9 random validators (`--at-once N` together) every few seconds
//!   while transfers flow, optionally with a slow application (`--slow-app DELAY`: every FinalizeBlock sleeps
//!   longer than a view); then every node must hold identical blocks at every height, every transfer
//!   acknowledged as finalized must be on every node, restarted nodes must have caught up, and no node may
//!   report evidence of double signing.
//! * `cairn bench partition` (`partition.rs`): the nodes reach each other only through TCP proxies this process
//!   controls. `--shape 2-2` must finalize nothing (no quorum); `3-1` must keep the three finalizing and the one
//!   not; `flap` cuts and heals 2|2 over and over. No safety violation in any; after the last heal, finality must
//!   resume within the limit (2 s by default) on every node.

mod chaos;
mod load;
mod partition;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_proto::node::v1 as pb;

pub use chaos::{ChaosArgs, chaos};
pub use partition::{PartitionArgs, partition};

use super::client;
use super::procs::Processes;

pub(super) fn chain_dir(
    dir: &Option<std::path::PathBuf>,
) -> Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    Ok(match dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new().prefix("cairn-reliability-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    })
}

/// Heights of every running node.
pub(super) async fn heights(procs: &Processes) -> Vec<Option<u64>> {
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
pub(super) async fn check_identical_blocks(procs: &Processes, top: u64) -> Result<u64> {
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

/// Transactions in the blocks `from..=to` of the node at `url`.
pub(super) async fn txs_in_blocks(url: &str, from: u64, to: u64) -> Result<u64> {
    let mut c = client::connect(url).await?;
    let mut n = 0u64;
    for h in from..=to {
        let b = c
            .get_block(pb::GetBlockRequest { height: h })
            .await
            .map_err(|s| client::rpc_error(&format!("GetBlock({h})"), url, s))?
            .into_inner();
        n += u64::from(b.num_txs);
    }
    Ok(n)
}

/// A Prometheus gauge/counter value from a node's `/metrics`.
pub(super) async fn metric(addr: SocketAddr, name: &str) -> Result<f64> {
    let body = client::http_get(addr, "/metrics").await?;
    body.lines()
        .find_map(|l| {
            l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())
        })
        .with_context(|| format!("metric {name} missing at {addr}"))
}

/// Waits until every node reaches `height`.
pub(super) async fn wait_all(procs: &mut Processes, height: u64, timeout: Duration) -> Result<()> {
    procs.wait_for_height(height, timeout).await
}
