//! [`RemoteApp`]: a gRPC client for `cairn.app.v1.Application` that is itself an [`Application`], so the node
//! drives an app in another process (or language) exactly as it drives one in its own.
//!
//! Every call has a deadline ([`ClientConfig::timeout`], also sent as `grpc-timeout` so the server gives up too),
//! requests above [`ClientConfig::max_message_bytes`] are refused before they are sent, and every failure comes
//! back as an [`AppError`]: a server that cannot be reached is `AppError::Unreachable` ("cannot reach the
//! application at ADDR: …"), gRPC status codes map back to the variants the server mapped them from, and a
//! malformed response (say, a 31-byte app hash) is `AppError::Internal` naming the field.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use cairn_primitives::Hash;
use cairn_proto::app::v1 as pb;
use cairn_proto::app::v1::application_client::ApplicationClient;
use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::convert::{ConvertError, list_snapshots_response};
use crate::server::{DEFAULT_MAX_MESSAGE_BYTES, error_chain};
use crate::types::*;
use crate::{AppError, AppResult, Application};

/// How the client talks to the app.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Largest request sent and largest response accepted, in encoded bytes.
    pub max_message_bytes: usize,
    /// Deadline of each call.
    pub timeout: Duration,
    /// How long establishing the connection may take.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// An application behind gRPC. Cheap to clone (clones share one HTTP/2 connection).
#[derive(Clone, Debug)]
pub struct RemoteApp {
    client: ApplicationClient<Channel>,
    addr: String,
    config: ClientConfig,
    /// Set once the app answered `CheckTxs` with UNIMPLEMENTED: batches go as `CheckTx` calls from then on.
    no_check_txs: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn endpoint(addr: &str, config: &ClientConfig) -> AppResult<Endpoint> {
    let uri = if addr.contains("://") { addr.to_string() } else { format!("http://{addr}") };
    let endpoint = Endpoint::from_shared(uri).map_err(|e| {
        AppError::InvalidArgument(format!(
            "application address {addr:?} is not host:port or http://host:port ({})",
            error_chain(&e)
        ))
    })?;
    Ok(endpoint.connect_timeout(config.connect_timeout).tcp_nodelay(true))
}

impl RemoteApp {
    /// Connects to the app at `addr` (`host:port` or `http://host:port`), failing with
    /// [`AppError::Unreachable`] if nothing answers within `config.connect_timeout`.
    pub async fn connect(addr: impl Into<String>, config: ClientConfig) -> AppResult<RemoteApp> {
        let addr = addr.into();
        let endpoint = endpoint(&addr, &config)?;
        let channel = match tokio::time::timeout(config.connect_timeout, endpoint.connect()).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(e)) => return Err(AppError::Unreachable { addr, reason: error_chain(&e) }),
            Err(_) => {
                let reason = format!("no connection within {} ms", config.connect_timeout.as_millis());
                return Err(AppError::Unreachable { addr, reason });
            }
        };
        Ok(RemoteApp::with_channel(channel, addr, config))
    }

    /// Like [`RemoteApp::connect`] but connects on first use (and reconnects after failures), for a node that may
    /// start before its app. Calls made while the app is down fail with [`AppError::Unreachable`].
    pub fn connect_lazy(addr: impl Into<String>, config: ClientConfig) -> AppResult<RemoteApp> {
        let addr = addr.into();
        let channel = endpoint(&addr, &config)?.connect_lazy();
        Ok(RemoteApp::with_channel(channel, addr, config))
    }

    fn with_channel(channel: Channel, addr: String, config: ClientConfig) -> RemoteApp {
        let client = ApplicationClient::new(channel)
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);
        RemoteApp { client, addr, config, no_check_txs: Default::default() }
    }

    /// The address this client talks to, as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs one call: size check, deadline, status mapping.
    async fn call<M, R, F, Fut>(&self, call: &'static str, msg: M, f: F) -> AppResult<R>
    where
        M: Message,
        F: FnOnce(ApplicationClient<Channel>, Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let len = msg.encoded_len();
        let max = self.config.max_message_bytes;
        if len > max {
            return Err(AppError::ResourceExhausted(format!(
                "{call} request of {len} bytes exceeds the message size limit of {max} bytes"
            )));
        }
        let mut request = Request::new(msg);
        request.set_timeout(self.config.timeout);
        match tokio::time::timeout(self.config.timeout, f(self.client.clone(), request)).await {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(self.error_from_status(call, status)),
            Err(_) => Err(AppError::Deadline { call, ms: duration_ms(self.config.timeout) }),
        }
    }

    /// Maps a status back to the [`AppError`] the server mapped it from (see `server::status_from_error`).
    fn error_from_status(&self, call: &'static str, status: Status) -> AppError {
        let message = status.message().to_string();
        match status.code() {
            Code::Unavailable => AppError::Unreachable {
                addr: self.addr.clone(),
                reason: if message.is_empty() { format!("{call}: unavailable") } else { message },
            },
            Code::InvalidArgument => AppError::InvalidArgument(message),
            Code::ResourceExhausted => AppError::ResourceExhausted(message),
            // tonic reports a response above our decoding limit as OUT_OF_RANGE.
            Code::OutOfRange if message.contains("message length too large") => AppError::ResourceExhausted(
                format!("{call} response exceeds the message size limit of {} bytes ({message})", {
                    self.config.max_message_bytes
                }),
            ),
            // tonic servers answer a call past its `grpc-timeout` with CANCELLED "Timeout expired".
            Code::DeadlineExceeded => AppError::Deadline { call, ms: duration_ms(self.config.timeout) },
            Code::Cancelled if message == "Timeout expired" => {
                AppError::Deadline { call, ms: duration_ms(self.config.timeout) }
            }
            Code::FailedPrecondition => AppError::OutOfOrder(message),
            Code::Unimplemented => {
                AppError::Unimplemented(format!("{call} (the application at {})", self.addr))
            }
            code => AppError::Internal(if message.is_empty() {
                format!("{call} failed with {code:?}")
            } else {
                message
            }),
        }
    }

    fn bad_response(&self, call: &'static str, e: ConvertError) -> AppError {
        AppError::Internal(format!("malformed {call} response from the application at {}: {e}", self.addr))
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Application for RemoteApp {
    async fn info(&self, req: InfoRequest) -> AppResult<InfoResponse> {
        let r =
            self.call("Info", pb::InfoRequest::from(req), |mut c, r| async move { c.info(r).await }).await?;
        r.try_into().map_err(|e| self.bad_response("Info", e))
    }

    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        let r =
            self.call("InitChain", pb::InitChainRequest::from(req), |mut c, r| async move {
                c.init_chain(r).await
            })
            .await?;
        r.try_into().map_err(|e| self.bad_response("InitChain", e))
    }

    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        let r = self
            .call("CheckTx", pb::CheckTxRequest::from(req), |mut c, r| async move { c.check_tx(r).await })
            .await?;
        r.try_into().map_err(|e| self.bad_response("CheckTx", e))
    }

    /// One `CheckTxs` call per run of requests that fits the message limit; an app without `CheckTxs` (older)
    /// gets `CheckTx` calls from then on.
    async fn check_txs(&self, reqs: Vec<CheckTxRequest>) -> AppResult<Vec<CheckTxResponse>> {
        use std::sync::atomic::Ordering;
        let mut out = Vec::with_capacity(reqs.len());
        let budget = self.config.max_message_bytes.saturating_sub(64 * 1024).max(1);
        let mut reqs = reqs.into_iter().peekable();
        while reqs.peek().is_some() {
            let mut chunk = Vec::new();
            let mut bytes = 0;
            while let Some(next) = reqs.peek() {
                if !chunk.is_empty() && bytes + next.tx.len() > budget {
                    break;
                }
                bytes += next.tx.len();
                chunk.extend(reqs.next());
            }
            if self.no_check_txs.load(Ordering::Relaxed) || chunk.len() == 1 {
                for req in chunk {
                    out.push(self.check_tx(req).await?);
                }
                continue;
            }
            let n = chunk.len();
            let msg = pb::CheckTxsRequest { txs: chunk.iter().cloned().map(Into::into).collect() };
            match self.call("CheckTxs", msg, |mut c, r| async move { c.check_txs(r).await }).await {
                Ok(r) if r.results.len() == n => {
                    for result in r.results {
                        out.push(result.try_into().map_err(|e| self.bad_response("CheckTxs", e))?);
                    }
                }
                Ok(r) => {
                    return Err(AppError::Internal(format!(
                        "CheckTxs from the application at {} answered {} of {n} txs",
                        self.addr,
                        r.results.len()
                    )));
                }
                Err(AppError::Unimplemented(_)) => {
                    self.no_check_txs.store(true, Ordering::Relaxed);
                    for req in chunk {
                        out.push(self.check_tx(req).await?);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        let r = self
            .call("PrepareProposal", pb::PrepareProposalRequest::from(req), |mut c, r| async move {
                c.prepare_proposal(r).await
            })
            .await?;
        r.try_into().map_err(|e| self.bad_response("PrepareProposal", e))
    }

    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        let r = self
            .call("ProcessProposal", pb::ProcessProposalRequest::from(req), |mut c, r| async move {
                c.process_proposal(r).await
            })
            .await?;
        r.try_into().map_err(|e| self.bad_response("ProcessProposal", e))
    }

    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        let r = self
            .call("FinalizeBlock", pb::FinalizeBlockRequest::from(req), |mut c, r| async move {
                c.finalize_block(r).await
            })
            .await?;
        r.try_into().map_err(|e| self.bad_response("FinalizeBlock", e))
    }

    async fn commit(&self) -> AppResult<CommitResponse> {
        let r =
            self.call("Commit", pb::CommitRequest {}, |mut c, r| async move { c.commit(r).await }).await?;
        r.try_into().map_err(|e| self.bad_response("Commit", e))
    }

    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        let r = self
            .call("Query", pb::QueryRequest::from(req), |mut c, r| async move { c.query(r).await })
            .await?;
        r.try_into().map_err(|e| self.bad_response("Query", e))
    }

    async fn list_snapshots(&self) -> AppResult<Vec<Snapshot>> {
        let r = self
            .call("ListSnapshots", pb::ListSnapshotsRequest {}, |mut c, r| async move {
                c.list_snapshots(r).await
            })
            .await?;
        list_snapshots_response(&r).map_err(|e| self.bad_response("ListSnapshots", e))
    }

    async fn offer_snapshot(&self, snapshot: Snapshot, app_hash: Hash) -> AppResult<OfferSnapshotResult> {
        let msg = pb::OfferSnapshotRequest { snapshot: Some(snapshot.into()), app_hash: app_hash.0.to_vec() };
        let r = self.call("OfferSnapshot", msg, |mut c, r| async move { c.offer_snapshot(r).await }).await?;
        r.try_into().map_err(|e| self.bad_response("OfferSnapshot", e))
    }

    async fn load_snapshot_chunk(&self, req: LoadSnapshotChunkRequest) -> AppResult<Vec<u8>> {
        let r = self
            .call("LoadSnapshotChunk", pb::LoadSnapshotChunkRequest::from(req), |mut c, r| async move {
                c.load_snapshot_chunk(r).await
            })
            .await?;
        Ok(r.chunk)
    }

    async fn apply_snapshot_chunk(
        &self,
        req: ApplySnapshotChunkRequest,
    ) -> AppResult<ApplySnapshotChunkResult> {
        let r = self
            .call("ApplySnapshotChunk", pb::ApplySnapshotChunkRequest::from(req), |mut c, r| async move {
                c.apply_snapshot_chunk(r).await
            })
            .await?;
        r.try_into().map_err(|e| self.bad_response("ApplySnapshotChunk", e))
    }

    async fn echo(&self, message: String) -> AppResult<String> {
        let r =
            self.call("Echo", pb::EchoRequest { message }, |mut c, r| async move { c.echo(r).await }).await?;
        Ok(r.message)
    }
}
