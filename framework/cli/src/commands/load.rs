//! The load generator of `cairn demo` and `cairn bench localnet`: signed bank transfers between devnet users,
//! submitted to every node, with submit → finalized latency measured on the node event stream, live progress on
//! stderr, and a check afterwards that balances moved exactly as the finalized transfers say.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_primitives::{Address, ChainId, Hash, Keypair};
use cairn_proto::node::v1 as pb;
use futures::StreamExt;
use serde::Serialize;

use super::bank;
use super::client::{self, Client};

#[path = "load_batch.rs"]
mod batch;

/// What to send.
pub struct LoadSpec {
    pub chain_id: ChainId,
    /// gRPC URLs of the nodes txs are spread over; the first one is watched for finality.
    pub nodes: Vec<String>,
    /// Funded senders; user i sends to user i+1 (mod n).
    pub senders: Vec<Keypair>,
    /// Total transfers.
    pub txs: usize,
    /// Target submission rate (tx/s); `None`: as fast as the nodes take them.
    pub rate: Option<f64>,
    /// Stop submitting after this long even if `txs` were not all sent.
    pub duration: Option<Duration>,
    /// How long to wait for the last txs to finalize.
    pub settle: Duration,
    /// Show progress on stderr.
    pub progress: bool,
    /// Submit every tx to every node (the sender's own node first, the next tx only once all answered), so each
    /// mempool sees a sender's txs in nonce order whatever order gossip delivers them in. Without it a tx goes to
    /// one node and reaches the others by gossip.
    pub fanout: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: usize,
}

impl Percentiles {
    pub fn of(mut xs: Vec<f64>) -> Percentiles {
        if xs.is_empty() {
            return Percentiles::default();
        }
        xs.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
            (xs[i] * 100.0).round() / 100.0
        };
        Percentiles { p50: at(0.50), p95: at(0.95), p99: at(0.99), max: at(1.0), samples: xs.len() }
    }
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// Transfers finalized successfully.
    pub txs: usize,
    pub submitted: usize,
    /// Refused at submission (CheckTx or mempool), with their reasons (first few).
    pub rejected: usize,
    pub rejections: Vec<String>,
    /// Finalized but failed in execution.
    pub failed: usize,
    pub failures: Vec<String>,
    /// Accepted but not seen finalized before the settle timeout.
    pub lost: usize,
    /// Heights `[first, last]` finalized during the run, and how many blocks.
    pub heights: Heights,
    /// Successful finalized transfers per second, from the first submission to the last finalization.
    pub tx_per_s: f64,
    pub finality_ms: Percentiles,
    pub duration_s: f64,
    /// Per-account expected balance change (successful transfers only).
    #[serde(skip)]
    pub deltas: BTreeMap<Address, i128>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Heights {
    pub start: u64,
    pub end: u64,
    pub blocks: u64,
}

struct Pending {
    submitted: Instant,
    from: Address,
    to: Address,
    amount: u128,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<HashMap<Hash, Pending>>,
    latencies: Mutex<Vec<f64>>,
    deltas: Mutex<BTreeMap<Address, i128>>,
    failures: Mutex<Vec<String>>,
    rejections: Mutex<Vec<String>>,
    submitted: AtomicUsize,
    rejected: AtomicUsize,
    finalized_ok: AtomicUsize,
    failed: AtomicUsize,
    height: AtomicU64,
    blocks: AtomicU64,
    last_final: Mutex<Option<Instant>>,
}

const KEEP_REASONS: usize = 5;

fn push_reason(list: &Mutex<Vec<String>>, reason: String) {
    let mut l = list.lock().unwrap_or_else(|p| p.into_inner());
    if l.len() < KEEP_REASONS {
        l.push(reason);
    }
}

/// A transfer to send: its bytes and what it does.
struct Prepared {
    bytes: Vec<u8>,
    hash: Hash,
    from: Address,
    to: Address,
    amount: u128,
}

/// Signs every transfer up front (so signing does not count against the chain), per sender in nonce order.
fn prepare(spec: &LoadSpec, bank: &Address, nonces: &[u64]) -> Result<Vec<Vec<Prepared>>> {
    let n = spec.senders.len();
    let mut per_sender: Vec<Vec<Prepared>> = (0..n).map(|_| Vec::new()).collect();
    for k in 0..spec.txs {
        let s = k % n;
        let seq = (k / n) as u64;
        let key = &spec.senders[s];
        let to = Address::from(spec.senders[(s + 1) % n].public());
        // Sender s always sends s + 1 tokens, so the ring of transfers moves balances (user 0 gains, the others
        // lose) and the check afterwards can tell a chain that executed them from one that did not.
        let amount = 1 + s as u128;
        let tx = bank::transfer_tx(key, &spec.chain_id, nonces[s] + seq, bank, &to, amount)?;
        let bytes = tx.to_bytes();
        per_sender[s].push(Prepared {
            hash: Hash::digest(&bytes),
            bytes,
            from: Address::from(key.public()),
            to,
            amount,
        });
    }
    Ok(per_sender)
}

/// Runs the load and waits for it to settle.
pub async fn run(spec: &LoadSpec) -> Result<LoadReport> {
    if spec.senders.is_empty() || spec.nodes.is_empty() {
        bail!("the load needs at least one sender and one node");
    }
    let watch_url = spec.nodes[0].clone();
    let mut watch = client::connect(&watch_url).await?;
    let bank_addr = bank::module_address(&mut watch, &watch_url, bank::BANK_LABEL).await?;
    let mut nonces = Vec::with_capacity(spec.senders.len());
    for k in &spec.senders {
        nonces.push(bank::next_nonce(&mut watch, &watch_url, &k.public()).await?);
    }
    let start_height = client::status(&mut watch, &watch_url).await?.height;
    let plan = prepare(spec, &bank_addr, &nonces)?;

    let shared = Arc::new(Shared::default());
    shared.height.store(start_height, Ordering::Relaxed);
    // Subscribe before the first submission so no finalization is missed.
    let events = watch
        .subscribe_events(pb::SubscribeEventsRequest { kinds: vec!["tx".into(), "new_block".into()] })
        .await
        .map_err(|s| client::rpc_error("SubscribeEvents", &watch_url, s))?
        .into_inner();
    let follower = tokio::spawn(follow(events, shared.clone()));

    let mut clients = Vec::new();
    for url in &spec.nodes {
        clients.push((url.clone(), client::connect(url).await?));
    }
    let t0 = Instant::now();
    let deadline = spec.duration.map(|d| t0 + d);
    let slot = Arc::new(AtomicU64::new(0));
    let progress = spec.progress.then(|| spawn_progress(shared.clone(), spec.txs, t0));
    let mut senders = Vec::new();
    for (s, txs) in plan.into_iter().enumerate() {
        let (url, c) = clients[s % clients.len()].clone();
        let others: Vec<Client> = if spec.fanout {
            (1..clients.len()).map(|k| clients[(s + k) % clients.len()].1.clone()).collect()
        } else {
            Vec::new()
        };
        if spec.rate.is_none() && others.is_empty() {
            senders.push(tokio::spawn(batch::send_batched(c, url, txs, shared.clone(), deadline)));
            continue;
        }
        senders.push(tokio::spawn(send_all(
            c,
            others,
            url,
            txs,
            shared.clone(),
            slot.clone(),
            spec.rate,
            t0,
            deadline,
        )));
    }
    for h in senders {
        h.await.context("a sender task failed")??;
    }
    let submit_done = Instant::now();
    // Wait for the outstanding txs to finalize.
    let settle_deadline = submit_done + spec.settle;
    loop {
        let outstanding = shared.pending.lock().unwrap_or_else(|p| p.into_inner()).len();
        if outstanding == 0 || Instant::now() > settle_deadline || follower.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything the stream did not report (a lagging subscription): ask the tx index.
    let leftovers: Vec<Hash> =
        shared.pending.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
    for h in leftovers {
        if let Ok(r) = watch.get_tx(pb::GetTxRequest { hash: h.0.to_vec() }).await {
            let r = r.into_inner();
            let code = r.result.map_or(0, |x| x.code);
            settle_one(&shared, h, code, String::new(), false);
        }
    }
    follower.abort();
    if let Some(p) = progress {
        p.abort();
    }
    let end = Instant::now();
    let end_height = client::status(&mut watch, &watch_url).await?.height;
    let last_final = shared.last_final.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(end);
    let ok = shared.finalized_ok.load(Ordering::Relaxed);
    let span = last_final.saturating_duration_since(t0).as_secs_f64().max(1e-3);
    let lost = shared.pending.lock().unwrap_or_else(|p| p.into_inner()).len();
    let report = LoadReport {
        txs: ok,
        submitted: shared.submitted.load(Ordering::Relaxed),
        rejected: shared.rejected.load(Ordering::Relaxed),
        rejections: shared.rejections.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        failed: shared.failed.load(Ordering::Relaxed),
        failures: shared.failures.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        lost,
        heights: Heights {
            start: start_height,
            end: end_height,
            blocks: end_height.saturating_sub(start_height),
        },
        tx_per_s: ((ok as f64 / span) * 10.0).round() / 10.0,
        finality_ms: Percentiles::of(shared.latencies.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        duration_s: (end.duration_since(t0).as_secs_f64() * 100.0).round() / 100.0,
        deltas: shared.deltas.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    };
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn send_all(
    mut c: Client,
    others: Vec<Client>,
    url: String,
    txs: Vec<Prepared>,
    shared: Arc<Shared>,
    slot: Arc<AtomicU64>,
    rate: Option<f64>,
    t0: Instant,
    deadline: Option<Instant>,
) -> Result<()> {
    for p in txs {
        if let Some(rate) = rate {
            let i = slot.fetch_add(1, Ordering::Relaxed);
            let at = t0 + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(at.into()).await;
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Ok(());
        }
        shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.hash, Pending { submitted: Instant::now(), from: p.from, to: p.to, amount: p.amount });
        shared.submitted.fetch_add(1, Ordering::Relaxed);
        // Fan-out copies (concurrent with the primary send): best effort — a node that already has the tx by
        // gossip answers ALREADY_EXISTS — but all answered before this sender's next tx goes out.
        let copies = futures::future::join_all(others.iter().map(|o| {
            let mut o = o.clone();
            let req = pb::BroadcastTxRequest { tx: p.bytes.clone(), mode: pb::BroadcastMode::Sync as i32 };
            async move { o.broadcast_tx(req).await.map(|_| ()) }
        }));
        let primary = async {
            let mut backoff = Duration::from_millis(5);
            loop {
                let req =
                    pb::BroadcastTxRequest { tx: p.bytes.clone(), mode: pb::BroadcastMode::Sync as i32 };
                match c.broadcast_tx(req).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        if r.check_code != 0 {
                            reject(&shared, p.hash, format!("code {}: {}", r.check_code, r.log));
                        }
                        return Ok(true);
                    }
                    // Mempool full or the sender's pending limit: the chain is saturated, wait and retry.
                    Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_millis(200));
                        if deadline.is_some_and(|d| Instant::now() > d) {
                            reject(&shared, p.hash, s.message().to_string());
                            return Ok(false);
                        }
                    }
                    Err(s) if s.code() == tonic::Code::AlreadyExists => return Ok(true),
                    Err(s) => {
                        reject(&shared, p.hash, s.message().to_string());
                        return Err(client::rpc_error("BroadcastTx", &url, s));
                    }
                }
            }
        };
        let (go_on, _) = futures::future::join(primary, copies).await;
        if !go_on? {
            return Ok(());
        }
    }
    Ok(())
}

fn reject(shared: &Shared, hash: Hash, reason: String) {
    if shared.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&hash).is_some() {
        shared.rejected.fetch_add(1, Ordering::Relaxed);
        push_reason(&shared.rejections, reason);
    }
}

fn settle_one(shared: &Shared, hash: Hash, code: u32, log: String, timed: bool) {
    let Some(p) = shared.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&hash) else { return };
    let now = Instant::now();
    if timed {
        shared
            .latencies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(now.duration_since(p.submitted).as_secs_f64() * 1000.0);
    }
    *shared.last_final.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    if code == 0 {
        shared.finalized_ok.fetch_add(1, Ordering::Relaxed);
        let mut d = shared.deltas.lock().unwrap_or_else(|e| e.into_inner());
        *d.entry(p.from).or_default() -= p.amount as i128;
        *d.entry(p.to).or_default() += p.amount as i128;
    } else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        push_reason(&shared.failures, format!("code {code}: {log}"));
    }
}

async fn follow(mut events: tonic::Streaming<pb::EventNotification>, shared: Arc<Shared>) {
    while let Some(Ok(n)) = events.next().await {
        let Some(ev) = n.event else { continue };
        match ev.kind.as_str() {
            "tx" => {
                let Ok(hash) = <[u8; 32]>::try_from(n.tx_hash.as_slice()) else { continue };
                let attr = |k: &str| ev.attributes.iter().find(|a| a.key == k).map(|a| a.value.clone());
                let code = attr("code").and_then(|c| c.parse().ok()).unwrap_or(0);
                settle_one(&shared, Hash(hash), code, attr("log").unwrap_or_default(), true);
            }
            "new_block" => {
                shared.height.fetch_max(n.height, Ordering::Relaxed);
                shared.blocks.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Live progress: an indicatif bar on a terminal, a line a second otherwise.
fn spawn_progress(shared: Arc<Shared>, total: usize, t0: Instant) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} finalized  {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b
        });
        let mut last = (Instant::now(), 0usize);
        loop {
            tokio::time::sleep(Duration::from_millis(if tty { 250 } else { 1000 })).await;
            let ok = shared.finalized_ok.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed);
            let now = Instant::now();
            let rate = (ok - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
            last = (now, ok);
            let lat = {
                let l = shared.latencies.lock().unwrap_or_else(|p| p.into_inner());
                let tail: Vec<f64> = l.iter().rev().take(2000).copied().collect();
                Percentiles::of(tail)
            };
            let msg = format!(
                "height {}  {:.0} tx/s  finality p50 {:.0} ms p95 {:.0} ms  submitted {}  rejected {}",
                shared.height.load(Ordering::Relaxed),
                rate,
                lat.p50,
                lat.p95,
                shared.submitted.load(Ordering::Relaxed),
                shared.rejected.load(Ordering::Relaxed),
            );
            match &bar {
                Some(b) => {
                    b.set_position(ok as u64);
                    b.set_message(msg);
                }
                None => eprintln!("[{:>5.1}s] {ok}/{total} finalized  {msg}", t0.elapsed().as_secs_f64()),
            }
        }
    })
}

/// Checks that the balances of `accounts` moved exactly by `deltas` and that their sum is conserved.
pub async fn verify_balances(
    c: &mut Client,
    url: &str,
    accounts: &[Address],
    before: &[u128],
    deltas: &BTreeMap<Address, i128>,
) -> Result<serde_json::Value> {
    let bank_addr = bank::module_address(c, url, bank::BANK_LABEL).await?;
    let mut after = Vec::with_capacity(accounts.len());
    for a in accounts {
        after.push(bank::balance(c, url, &bank_addr, a).await?);
    }
    let sum_before: u128 = before.iter().sum();
    let sum_after: u128 = after.iter().sum();
    if sum_before != sum_after {
        bail!("balances are not conserved: the users held {sum_before} before and {sum_after} after");
    }
    let mut credited = 0;
    let mut moved = 0;
    for (i, a) in accounts.iter().enumerate() {
        let want = before[i] as i128 + deltas.get(a).copied().unwrap_or(0);
        if want != after[i] as i128 {
            bail!(
                "account {a} holds {} but the finalized transfers say it should hold {want} (it held {} before)",
                after[i],
                before[i]
            );
        }
        if after[i] > before[i] {
            credited += 1;
        }
        if after[i] != before[i] {
            moved += 1;
        }
    }
    if deltas.values().any(|d| *d != 0) && moved == 0 {
        bail!("transfers were reported finalized but no balance moved");
    }
    Ok(serde_json::json!({
        "ok": true,
        "accounts": accounts.len(),
        "credited": credited,
        "moved": moved,
        "sum_before": sum_before.to_string(),
        "sum_after": sum_after.to_string(),
    }))
}

/// Balances of `accounts` now.
pub async fn balances(c: &mut Client, url: &str, accounts: &[Address]) -> Result<Vec<u128>> {
    let bank_addr = bank::module_address(c, url, bank::BANK_LABEL).await?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in accounts {
        out.push(bank::balance(c, url, &bank_addr, a).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let p = Percentiles::of((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max, p.samples), (50.0, 95.0, 99.0, 100.0, 100));
        assert_eq!(Percentiles::of(vec![]).samples, 0);
        assert_eq!(Percentiles::of(vec![7.0]).p99, 7.0);
    }

    #[test]
    fn plan_orders_nonces_per_sender() {
        let chain: ChainId = "t".parse().unwrap();
        let senders: Vec<Keypair> = (0..3).map(|i| Keypair::derived("u", i)).collect();
        let spec = LoadSpec {
            chain_id: chain,
            nodes: vec!["http://x".into()],
            senders,
            txs: 10,
            rate: None,
            duration: None,
            settle: Duration::from_secs(1),
            progress: false,
            fanout: false,
        };
        let plan = prepare(&spec, &Address([9; 32]), &[5, 0, 2]).unwrap();
        assert_eq!(plan.iter().map(Vec::len).sum::<usize>(), 10);
        let tx = cairn_primitives::Tx::from_bytes(&plan[0][1].bytes).unwrap();
        assert_eq!(tx.body.nonce, 6);
        tx.verify().unwrap();
        assert_eq!(plan[2][0].to, Address::from(spec.senders[0].public()));
    }
}
