//! Prometheus metrics (`GET /metrics` on the metrics listener, OpenMetrics text).
//!
//! Gauges and totals are read from the node at scrape time (so they are never stale); totals are Prometheus
//! counters (`cairn_<name>_total`, so `rate()` works), levels are gauges; the finality histogram is
//! fed by the event stream: for each committed block, the time from its proposal (header time) to its commit on
//! this node.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use super::backend::Backend;
use crate::types::NodeEvent;

/// The metrics of one node.
pub struct Metrics {
    registry: Registry,
    height: Gauge,
    blocks_finalized: Counter,
    txs_finalized: Counter,
    mempool_txs: Gauge,
    peers: Gauge,
    validators: Gauge,
    catching_up: Gauge,
    blocks_synced: Counter,
    malformed_messages: Counter,
    rejected_blocks: Counter,
    evidence: Counter,
    block_txs: Counter,
    finality: Histogram,
    app_calls: Family<AppCall, Histogram>,
    p2p_dropped: Family<Lane, Counter>,
    p2p_rate_limited: Counter,
    p2p_offences: Counter,
    p2p_bans: Counter,
    p2p_peer_score: Family<Peer, Gauge>,
    p2p_queue_bytes: Family<Lane, Gauge>,
    p2p_oversized: Counter,
}

/// The label of `cairn_p2p_peer_score`: a connected peer's key (hex). Bounded by the connection slots.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Peer {
    peer: String,
}

/// The label of `cairn_p2p_events_dropped_total`: which inbound lane overflowed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Lane {
    lane: &'static str,
}

/// The label of `cairn_app_call_seconds`: which application call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppCall {
    call: &'static str,
}

/// 100 µs .. ~1.6 s: the application calls of one block.
fn app_call_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cairn");
        let height = Gauge::default();
        let blocks_finalized = Counter::default();
        let txs_finalized = Counter::default();
        let mempool_txs = Gauge::default();
        let peers = Gauge::default();
        let validators = Gauge::default();
        let catching_up = Gauge::default();
        let blocks_synced = Counter::default();
        let malformed_messages = Counter::default();
        let rejected_blocks = Counter::default();
        let evidence = Counter::default();
        let block_txs = Counter::default();
        // 1 ms .. ~16 s.
        let finality = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let app_calls =
            Family::<AppCall, Histogram>::new_with_constructor(app_call_histogram as fn() -> Histogram);
        registry.register("height", "Latest finalized and committed height", height.clone());
        registry.register(
            "blocks_finalized",
            "Blocks finalized since the node started",
            blocks_finalized.clone(),
        );
        registry.register(
            "txs_finalized",
            "Transactions finalized since the node started",
            txs_finalized.clone(),
        );
        registry.register("mempool_txs", "Transactions in the mempool", mempool_txs.clone());
        registry.register("peers", "Connected peers", peers.clone());
        registry.register("validators", "Validators in the set deciding the next block", validators.clone());
        registry.register("catching_up", "1 while block sync is catching up", catching_up.clone());
        registry.register("blocks_synced", "Blocks fetched and applied by block sync", blocks_synced.clone());
        registry.register(
            "malformed_messages",
            "p2p messages dropped as malformed or oversized",
            malformed_messages.clone(),
        );
        registry.register(
            "rejected_blocks",
            "Blocks rejected (bad certificate, id or header)",
            rejected_blocks.clone(),
        );
        registry.register("evidence", "Evidence of validator misbehaviour seen", evidence.clone());
        registry.register(
            "observed_block_txs",
            "Transactions in blocks seen on the event stream",
            block_txs.clone(),
        );
        registry.register(
            "finality_latency_seconds",
            "Time from a block's proposal (header time) to its commit on this node",
            finality.clone(),
        );
        registry.register(
            "app_call_seconds",
            "Time the application took per block, by call (finalize_block, commit)",
            app_calls.clone(),
        );
        let p2p_dropped = Family::<Lane, Counter>::default();
        let (p2p_rate_limited, p2p_offences, p2p_bans) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register(
            "p2p_events_dropped",
            "Inbound p2p events dropped because their lane was full (main: consensus, direct, blocks; txs)",
            p2p_dropped.clone(),
        );
        registry.register(
            "p2p_rate_limited",
            "Inbound p2p messages dropped because their peer exceeded its rate",
            p2p_rate_limited.clone(),
        );
        registry.register("p2p_offences", "Offences recorded against peers", p2p_offences.clone());
        registry.register("p2p_bans", "Peers banned", p2p_bans.clone());
        let p2p_queue_bytes = Family::<Lane, Gauge>::default();
        registry.register(
            "p2p_queue_bytes",
            "Payload bytes waiting for the node in each inbound lane (main: consensus, direct, blocks; txs)",
            p2p_queue_bytes.clone(),
        );
        let p2p_oversized = Counter::default();
        registry.register(
            "p2p_oversized_dropped",
            "Messages over our size limit (under the protocol ceiling) dropped without blame",
            p2p_oversized.clone(),
        );
        let p2p_peer_score = Family::<Peer, Gauge>::default();
        registry.register(
            "p2p_peer_score",
            "Each connected peer's score: 0 is clean, offences lower it, a ban comes at -100",
            p2p_peer_score.clone(),
        );
        Metrics {
            p2p_queue_bytes,
            p2p_oversized,
            p2p_peer_score,
            p2p_dropped,
            p2p_rate_limited,
            p2p_offences,
            p2p_bans,
            app_calls,
            registry,
            height,
            blocks_finalized,
            txs_finalized,
            mempool_txs,
            peers,
            validators,
            catching_up,
            blocks_synced,
            malformed_messages,
            rejected_blocks,
            evidence,
            block_txs,
            finality,
        }
    }

    /// Records one node event.
    pub fn observe(&self, ev: &NodeEvent) {
        if let NodeEvent::NewBlock { num_txs, time_ms, finalized_at_ms, finalize_us, commit_us, .. } = ev {
            self.block_txs.inc_by(u64::from(*num_txs));
            self.app_calls
                .get_or_create(&AppCall { call: "finalize_block" })
                .observe(*finalize_us as f64 / 1e6);
            self.app_calls.get_or_create(&AppCall { call: "commit" }).observe(*commit_us as f64 / 1e6);
            if *time_ms > 0 && finalized_at_ms >= time_ms {
                self.finality.observe((finalized_at_ms - time_ms) as f64 / 1000.0);
            }
        }
    }

    /// Reads the node's gauges and renders everything in the OpenMetrics text format.
    pub fn render<B: Backend + ?Sized>(&self, backend: &B) -> String {
        let s = backend.status();
        let c = backend.counters();
        let set = |g: &Gauge, v: u64| {
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
        };
        set(&self.height, s.height.0);
        set(&self.peers, s.peers.len() as u64);
        set(&self.validators, s.validators.len() as u64);
        set(&self.catching_up, u64::from(s.catching_up));
        advance(&self.blocks_finalized, c.blocks_finalized);
        advance(&self.txs_finalized, c.txs_finalized);
        set(&self.mempool_txs, c.mempool_txs);
        advance(&self.blocks_synced, c.blocks_synced);
        advance(&self.malformed_messages, c.malformed_messages);
        advance(&self.rejected_blocks, c.rejected_blocks);
        advance(&self.evidence, c.evidence);
        advance(&self.p2p_dropped.get_or_create(&Lane { lane: "main" }), c.p2p.events_dropped);
        advance(&self.p2p_dropped.get_or_create(&Lane { lane: "txs" }), c.p2p.tx_events_dropped);
        advance(&self.p2p_rate_limited, c.p2p.rate_limited);
        advance(&self.p2p_offences, c.p2p.offences);
        advance(&self.p2p_bans, c.p2p.bans);
        set(&self.p2p_queue_bytes.get_or_create(&Lane { lane: "main" }), c.p2p.queued_main_bytes);
        set(&self.p2p_queue_bytes.get_or_create(&Lane { lane: "txs" }), c.p2p.queued_tx_bytes);
        advance(&self.p2p_oversized, c.p2p.oversized_dropped);
        // Only the peers connected now: a peer that left takes its series with it.
        self.p2p_peer_score.clear();
        for p in &s.peers {
            let score = s.peer_scores.get(p).copied().unwrap_or(0);
            self.p2p_peer_score.get_or_create(&Peer { peer: p.to_hex() }).set(score);
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Moves a counter up to the node's total (totals only grow; a counter never goes down).
fn advance(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// Feeds node events into `metrics` until `stop`.
pub(super) async fn follow_events(
    metrics: Arc<Metrics>,
    mut events: broadcast::Receiver<NodeEvent>,
    stop: watch::Receiver<bool>,
) {
    let stopped = super::stopped(stop);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            ev = events.recv() => match ev {
                Ok(ev) => metrics.observe(&ev),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

struct MetricsState<B> {
    backend: Arc<B>,
    metrics: Arc<Metrics>,
}

async fn scrape<B: Backend>(State(st): State<Arc<MetricsState<B>>>) -> impl IntoResponse {
    let body = st.metrics.render(&*st.backend);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        body,
    )
}

pub(super) async fn serve<B: Backend>(
    backend: Arc<B>,
    metrics: Arc<Metrics>,
    listener: TcpListener,
    rx: watch::Receiver<bool>,
) {
    let app = Router::new()
        .route("/metrics", get(scrape::<B>))
        .layer(axum::extract::DefaultBodyLimit::max(1024))
        .with_state(Arc::new(MetricsState { backend, metrics }));
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(super::stopped(rx)).await {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}
