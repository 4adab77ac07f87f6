//! The JSON/HTTP API over a [`Backend`] (see the route table in `api/mod.rs`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_abci::QueryRequest;
use cairn_primitives::{Hash, Height};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::backend::{Backend, BackendError, broadcast_commit};
use super::dashboard;
use super::{COMMIT_WAIT, MAX_QUERY_BYTES, MAX_TX_BODY_BYTES};

/// Largest HTTP body: a maximal tx as hex, plus whitespace.
pub(super) const MAX_HTTP_BODY_BYTES: usize = 2 * MAX_TX_BODY_BYTES + 1024;

pub(super) fn router<B: Backend>(backend: Arc<B>, stop: watch::Receiver<bool>) -> Router {
    let slots = Arc::new(tokio::sync::Semaphore::new(dashboard::MAX_EVENT_STREAMS));
    let events = Router::new().route("/events", get(dashboard::events::<B>)).with_state((
        backend.clone(),
        slots,
        stop,
    ));
    Router::new()
        .route("/status", get(status::<B>))
        .route("/counters", get(counters::<B>))
        .route("/tx", post(post_tx::<B>))
        .route("/tx/{hash}", get(get_tx::<B>))
        .route("/block/{height}", get(get_block::<B>))
        .route("/query", get(query::<B>))
        .layer(DefaultBodyLimit::max(MAX_HTTP_BODY_BYTES))
        .with_state(backend)
        .merge(events)
        .route("/", get(dashboard::page))
        .route("/process", get(dashboard::process))
}

pub(super) async fn serve<B: Backend>(backend: Arc<B>, listener: TcpListener, rx: watch::Receiver<bool>) {
    let app = router(backend, rx.clone());
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(super::stopped(rx)).await {
        tracing::error!(error = %e, "HTTP API stopped");
    }
}

/// An error response: `{"error": message}` with a status code that fits.
struct ApiErr(StatusCode, String);

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<BackendError> for ApiErr {
    fn from(e: BackendError) -> ApiErr {
        let code = match e {
            BackendError::Invalid(_) => StatusCode::BAD_REQUEST,
            BackendError::Exhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            BackendError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BackendError::AlreadyExists(_) => StatusCode::CONFLICT,
            BackendError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            BackendError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiErr(code, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> ApiErr {
    ApiErr(StatusCode::BAD_REQUEST, msg.into())
}

/// The node's status, plus `peer_id` (derived from `p2p_key`: what operators put in `/p2p/…` addresses).
async fn status<B: Backend>(State(b): State<Arc<B>>) -> axum::Json<Value> {
    let s = b.status();
    let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("peer_id".into(), Value::String(s.peer_id()));
    }
    axum::Json(v)
}

async fn counters<B: Backend>(State(b): State<Arc<B>>) -> axum::Json<Value> {
    axum::Json(serde_json::to_value(b.counters()).unwrap_or(Value::Null))
}

#[derive(Deserialize)]
struct TxParams {
    /// `commit` waits until the tx is finalized.
    wait: Option<String>,
}

/// The body is the tx: raw bytes, or hex text (optionally `0x`-prefixed, surrounding whitespace ignored).
fn decode_body(body: &[u8]) -> Result<Vec<u8>, ApiErr> {
    let text = std::str::from_utf8(body).ok().map(str::trim).map(|t| t.strip_prefix("0x").unwrap_or(t));
    let tx = match text {
        Some(t) if !t.is_empty() && t.len() % 2 == 0 && t.bytes().all(|c| c.is_ascii_hexdigit()) => {
            hex::decode(t).map_err(|e| bad(format!("body is not valid hex: {e}")))?
        }
        _ => body.to_vec(),
    };
    if tx.is_empty() {
        return Err(bad("empty body: POST the borsh-encoded signed tx, raw or as hex"));
    }
    if tx.len() > MAX_TX_BODY_BYTES {
        return Err(ApiErr(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("tx of {} bytes is over the limit of {MAX_TX_BODY_BYTES} bytes", tx.len()),
        ));
    }
    Ok(tx)
}

async fn post_tx<B: Backend>(
    State(b): State<Arc<B>>,
    Query(params): Query<TxParams>,
    body: Bytes,
) -> Result<Response, ApiErr> {
    let tx = decode_body(&body)?;
    let (outcome, rec) = match params.wait.as_deref() {
        None | Some("sync") => (b.broadcast_tx(tx).await?, None),
        Some("commit") => broadcast_commit(&*b, tx, COMMIT_WAIT).await?,
        Some(other) => return Err(bad(format!("wait={other:?}: use `sync` (default) or `commit`"))),
    };
    let accepted = outcome.code == 0;
    let mut v = json!({ "hash": outcome.hash.to_hex(), "code": outcome.code, "log": outcome.log });
    if let Some(rec) = rec {
        v["height"] = json!(rec.height.0);
        v["index"] = json!(rec.index);
        v["result"] = serde_json::to_value(&rec.result).unwrap_or(Value::Null);
    }
    let code = if accepted { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    Ok((code, axum::Json(v)).into_response())
}

async fn get_tx<B: Backend>(
    State(b): State<Arc<B>>,
    Path(hash): Path<String>,
) -> Result<axum::Json<Value>, ApiErr> {
    let hash = Hash::from_hex(&hash).map_err(|e| bad(format!("tx hash: {e}")))?;
    match b.tx(hash).await? {
        Some(rec) => Ok(axum::Json(json!({
            "hash": rec.hash.to_hex(),
            "height": rec.height.0,
            "index": rec.index,
            "tx": hex::encode(&rec.tx),
            "result": serde_json::to_value(&rec.result).unwrap_or(Value::Null),
        }))),
        None => Err(ApiErr(StatusCode::NOT_FOUND, format!("no finalized tx {hash} on this node"))),
    }
}

async fn get_block<B: Backend>(
    State(b): State<Arc<B>>,
    Path(height): Path<String>,
) -> Result<axum::Json<Value>, ApiErr> {
    let h = if height == "latest" {
        0
    } else {
        height.parse::<u64>().map_err(|_| bad(format!("height {height:?}: expected a number or `latest`")))?
    };
    match b.block(Height(h)).await? {
        Some(stored) => {
            let block = &stored.block;
            Ok(axum::Json(json!({
                "id": block.id().to_hex(),
                "header": serde_json::to_value(&block.header).unwrap_or(Value::Null),
                "num_txs": block.txs.len(),
                "tx_hashes": block.txs.iter().map(|t| Hash::digest(t).to_hex()).collect::<Vec<_>>(),
                "block": hex::encode(cairn_primitives::encode(block)),
                // Indices into the validator set of this height (for "who signed"), when the certificate is a
                // quorum certificate; engines with another format leave it null.
                "signers": stored.certificate.as_deref().and_then(certificate_signers),
                "certificate": stored.certificate.map(hex::encode),
            })))
        }
        None => Err(ApiErr(StatusCode::NOT_FOUND, format!("no finalized block at height {h} on this node"))),
    }
}

fn certificate_signers(bytes: &[u8]) -> Option<Vec<u32>> {
    let cert: cairn_consensus::Certificate = cairn_primitives::decode(bytes, bytes.len()).ok()?;
    Some(cert.signers.iter().map(|(i, _)| *i).collect())
}

#[derive(Deserialize)]
struct QueryParams {
    path: String,
    /// Hex.
    #[serde(default)]
    data: String,
    #[serde(default)]
    height: u64,
    #[serde(default)]
    prove: bool,
}

async fn query<B: Backend>(
    State(b): State<Arc<B>>,
    Query(q): Query<QueryParams>,
) -> Result<axum::Json<Value>, ApiErr> {
    if q.path.len() > MAX_QUERY_BYTES || q.data.len() > 2 * MAX_QUERY_BYTES {
        return Err(ApiErr(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("query over the limit of {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let data = hex::decode(q.data.trim()).map_err(|e| bad(format!("data: not hex ({e})")))?;
    let r = b.query(QueryRequest { path: q.path, data, height: Height(q.height), prove: q.prove }).await?;
    Ok(axum::Json(json!({
        "code": r.code,
        "log": r.log,
        "key": hex::encode(&r.key),
        "value": hex::encode(&r.value),
        "proof": hex::encode(&r.proof),
        "height": r.height.0,
    })))
}
