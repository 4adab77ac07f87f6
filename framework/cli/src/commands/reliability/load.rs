//! Background load for chaos runs: open-loop transfers at a target rate from senders of their own, in batches
//! (`BroadcastTxs`) to whichever validators are up. Nothing here is checked for loss — the chaos senders'
//! acknowledged transfers are — it is there so that kills and restarts happen under thousands of tx/s, as a
//! loaded chain sees them. A sender whose batch is refused (a killed node took its txs along, leaving a nonce
//! gap) re-reads its nonce from the chain and goes on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_primitives::{Address, ChainId, Keypair};
use cairn_proto::node::v1 as pb;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

use super::super::{bank, client};

/// How often each load sender submits a batch.
const TICK: Duration = Duration::from_millis(200);
/// Senders of a background load: template users of their own, after the scenario's senders.
pub(super) const SENDERS: u64 = 16;

/// The running load and what it managed.
pub(super) struct Load {
    submitted: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

/// Where the load goes.
pub(super) struct Target {
    pub chain_id: ChainId,
    pub bank: Address,
    pub urls: Vec<String>,
    /// Which nodes are up (the chaos killer keeps it).
    pub up: Arc<Mutex<Vec<bool>>>,
    pub stop: Arc<AtomicBool>,
}

impl Load {
    /// Starts `keys.len()` senders sharing `rate` tx/s.
    pub fn spawn(rate: u64, keys: Vec<Keypair>, target: Arc<Target>) -> Load {
        let (submitted, accepted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let per_tick = ((rate as f64 * TICK.as_secs_f64()) / keys.len().max(1) as f64).ceil() as u64;
        let n = keys.len();
        let tasks = keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let to = Address::from(Keypair::derived("chaos-load-sink", i as u64).public());
                let (target, submitted, accepted) = (target.clone(), submitted.clone(), accepted.clone());
                tokio::spawn(async move {
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1_000 + i as u64);
                    let mut nonce: Option<u64> = None;
                    let mut ticker = tokio::time::interval(TICK);
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    // Spread the senders over the tick.
                    tokio::time::sleep(TICK.mul_f64(i as f64 / n.max(1) as f64)).await;
                    while !target.stop.load(Ordering::Relaxed) {
                        ticker.tick().await;
                        let live: Vec<usize> = {
                            let up = target.up.lock().unwrap_or_else(|p| p.into_inner());
                            (0..target.urls.len()).filter(|&j| up[j]).collect()
                        };
                        if live.is_empty() {
                            continue;
                        }
                        let url = &target.urls[live[rng.gen_range(0..live.len())]];
                        let sent = async {
                            let mut c = client::connect(url).await?;
                            let first = match nonce {
                                Some(n) => n,
                                None => bank::next_nonce(&mut c, url, &key.public()).await?,
                            };
                            let mut txs = Vec::with_capacity(per_tick as usize);
                            for k in 0..per_tick {
                                let tx = bank::transfer_tx(
                                    &key,
                                    &target.chain_id,
                                    first + k,
                                    &target.bank,
                                    &to,
                                    1,
                                )?;
                                txs.push(tx.to_bytes());
                            }
                            let r = c
                                .broadcast_txs(pb::BroadcastTxsRequest { txs })
                                .await
                                .map_err(|s| client::rpc_error("BroadcastTxs", url, s))?
                                .into_inner();
                            let ok =
                                r.results.iter().filter(|x| x.error_code == 0 && x.check_code == 0).count();
                            anyhow::Ok((first, ok as u64))
                        };
                        submitted.fetch_add(per_tick, Ordering::Relaxed);
                        match sent.await {
                            Ok((first, ok)) if ok == per_tick => {
                                accepted.fetch_add(ok, Ordering::Relaxed);
                                nonce = Some(first + per_tick);
                            }
                            Ok((_, ok)) => {
                                accepted.fetch_add(ok, Ordering::Relaxed);
                                nonce = None;
                            }
                            Err(_) => nonce = None,
                        }
                    }
                })
            })
            .collect();
        Load { submitted, accepted, tasks }
    }

    /// Waits for the senders (after `stop`) and reports what the load did, beside the chain's own count.
    pub async fn finish(self, offered: u64) -> serde_json::Value {
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        serde_json::json!({
            "offered_tx_per_s": offered,
            "submitted": self.submitted.load(Ordering::Relaxed),
            "accepted": self.accepted.load(Ordering::Relaxed),
        })
    }
}
