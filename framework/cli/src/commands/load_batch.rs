//! The batched sender of the load generator: one `BroadcastTxs` call carries up to [`BATCH`] of a sender's txs in
//! nonce order, instead of one round trip per tx. Used when the load is unpaced and not fanned out (`--rate` and
//! `--fanout` need per-tx control).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use cairn_proto::node::v1 as pb;

use super::{Pending, Prepared, Shared, reject};
use crate::commands::client::{self, Client};

/// Txs per call: large enough that the round trip is amortised, small enough that a full mempool is noticed soon.
pub(super) const BATCH: usize = 256;

/// Sends `txs` (one sender's, in nonce order) in batches; a tx the node could not take yet (mempool full) is sent
/// again, with those after it, after a backoff, so nonces stay in order.
pub(super) async fn send_batched(
    mut c: Client,
    url: String,
    txs: Vec<Prepared>,
    shared: Arc<Shared>,
    deadline: Option<Instant>,
) -> Result<()> {
    let mut next = 0;
    let mut recorded = 0;
    let mut backoff = Duration::from_millis(5);
    while next < txs.len() {
        let past_deadline = deadline.is_some_and(|d| Instant::now() > d);
        if past_deadline && recorded == next {
            return Ok(());
        }
        let chunk = &txs[next..(next + BATCH).min(txs.len())];
        // Latency counts from the first attempt; a tx is recorded once however often it is retried.
        for p in &txs[recorded.max(next)..next + chunk.len()] {
            let pending = Pending { submitted: Instant::now(), from: p.from, to: p.to, amount: p.amount };
            shared.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(p.hash, pending);
            shared.submitted.fetch_add(1, Ordering::Relaxed);
        }
        recorded = recorded.max(next + chunk.len());
        let req = pb::BroadcastTxsRequest { txs: chunk.iter().map(|p| p.bytes.clone()).collect() };
        let results = match c.broadcast_txs(req).await {
            Ok(r) => r.into_inner().results,
            Err(s) => {
                for p in &txs[next..recorded] {
                    reject(&shared, p.hash, s.message().to_string());
                }
                return Err(client::rpc_error("BroadcastTxs", &url, s));
            }
        };
        let mut full = false;
        for (p, r) in chunk.iter().zip(&results) {
            match tonic::Code::from(r.error_code as i32) {
                tonic::Code::Ok if r.check_code != 0 => {
                    reject(&shared, p.hash, format!("code {}: {}", r.check_code, r.log));
                }
                tonic::Code::Ok | tonic::Code::AlreadyExists => {}
                // Mempool full or the sender's pending limit: the chain is saturated; this tx and the rest of
                // the chunk go again after a pause.
                tonic::Code::ResourceExhausted if !past_deadline => {
                    full = true;
                    break;
                }
                _ => reject(&shared, p.hash, r.error.clone()),
            }
            next += 1;
        }
        if results.len() < chunk.len() && !full {
            for p in &chunk[results.len()..] {
                reject(&shared, p.hash, "the node answered fewer results than txs sent".into());
            }
            next += chunk.len() - results.len();
        }
        if full {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(200));
        } else {
            backoff = Duration::from_millis(5);
        }
    }
    Ok(())
}
