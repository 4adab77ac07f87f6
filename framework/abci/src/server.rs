//! A gRPC server that serves any [`Application`] as `cairn.app.v1.Application`.
//!
//! - **Ordering** (the tower-abci idea): consensus calls (`InitChain`, `PrepareProposal`, `ProcessProposal`,
//!   `FinalizeBlock`, `Commit`) run one at a time in arrival order, so an app never sees two of them interleave even
//!   if a buggy or reconnecting caller sends them concurrently. Mempool (`CheckTx`), info (`Info`, `Query`, `Echo`)
//!   and snapshot calls run concurrently with them and each other.
//! - **Limits**: requests and responses larger than [`ServerConfig::max_message_bytes`] fail with
//!   `RESOURCE_EXHAUSTED` and a message that states the limit (tonic itself would say `OUT_OF_RANGE`; the
//!   [`OversizeAsResourceExhausted`] wrapper rewrites that).
//! - **Errors**: proto messages that do not convert (missing field, 31-byte hash, …) fail with `INVALID_ARGUMENT`
//!   naming the field; [`AppError`]s map to gRPC codes by [`status_from_error`].
//! - **Reflection**: `grpc.reflection.v1` and `v1alpha` answer for every cairn service (so `grpcurl` works).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use cairn_proto::app::v1 as pb;
use cairn_proto::app::v1::application_server::{Application as GrpcApplication, ApplicationServer};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

use crate::convert::{ConvertError, offer_snapshot_request};
use crate::{AppError, Application};

/// gRPC message limit both ways unless configured otherwise: 4 MiB, like gRPC's own default for receiving.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// How the server behaves; `ServerConfig::default()` is what `cairn` uses.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Largest request accepted and largest response sent, in encoded bytes.
    pub max_message_bytes: usize,
    /// Serve gRPC reflection (`grpc.reflection.v1` and `v1alpha`).
    pub reflection: bool,
    /// Upper bound on any one call; a client's shorter `grpc-timeout` wins. `None`: only the client's.
    pub request_timeout: Option<Duration>,
    /// Concurrent requests served per connection; `None`: unbounded (h2's stream limit still applies).
    pub concurrency_limit_per_connection: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            reflection: true,
            request_timeout: None,
            concurrency_limit_per_connection: None,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot build the gRPC reflection service: {0}")]
    Reflection(String),
    #[error("gRPC server failed: {0}")]
    Transport(String),
}

/// The gRPC status for an application error. The message is the error's payload without the code's name, so
/// [`crate::client::RemoteApp`] turns it back into the same [`AppError`].
pub fn status_from_error(err: AppError) -> Status {
    match err {
        AppError::Unreachable { .. } => Status::unavailable(err.to_string()),
        AppError::InvalidArgument(m) => Status::invalid_argument(m),
        AppError::ResourceExhausted(m) => Status::resource_exhausted(m),
        AppError::Deadline { .. } => Status::deadline_exceeded(err.to_string()),
        AppError::OutOfOrder(m) => Status::failed_precondition(m),
        AppError::Unimplemented(m) => Status::unimplemented(m),
        AppError::Internal(m) => Status::internal(m),
    }
}

fn invalid(e: ConvertError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// Adapts an [`Application`] to the generated tonic service trait.
struct Handler<A> {
    app: Arc<A>,
    /// Held for the whole of each consensus call, so they run one at a time in arrival order (tokio's mutex is
    /// fair).
    consensus: Mutex<()>,
    max_message_bytes: usize,
}

impl<A: Application> Handler<A> {
    /// Refuses to send a response above the limit, with a message saying which call and which limit.
    fn respond<M: Message>(&self, call: &str, msg: M) -> Result<Response<M>, Status> {
        let len = msg.encoded_len();
        if len > self.max_message_bytes {
            return Err(Status::resource_exhausted(format!(
                "{call} response of {len} bytes exceeds the message size limit of {} bytes",
                self.max_message_bytes
            )));
        }
        Ok(Response::new(msg))
    }
}

#[tonic::async_trait]
impl<A: Application> GrpcApplication for Handler<A> {
    async fn info(&self, request: Request<pb::InfoRequest>) -> Result<Response<pb::InfoResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let resp = self.app.info(req).await.map_err(status_from_error)?;
        self.respond("Info", resp.into())
    }

    async fn init_chain(
        &self,
        request: Request<pb::InitChainRequest>,
    ) -> Result<Response<pb::InitChainResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let _turn = self.consensus.lock().await;
        let resp = self.app.init_chain(req).await.map_err(status_from_error)?;
        self.respond("InitChain", resp.into())
    }

    async fn check_tx(
        &self,
        request: Request<pb::CheckTxRequest>,
    ) -> Result<Response<pb::CheckTxResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let resp = self.app.check_tx(req).await.map_err(status_from_error)?;
        self.respond("CheckTx", resp.into())
    }

    async fn check_txs(
        &self,
        request: Request<pb::CheckTxsRequest>,
    ) -> Result<Response<pb::CheckTxsResponse>, Status> {
        let reqs = request.into_inner().txs.into_iter().map(TryInto::try_into).collect::<Result<Vec<_>, _>>();
        let resps = self.app.check_txs(reqs.map_err(invalid)?).await.map_err(status_from_error)?;
        self.respond(
            "CheckTxs",
            pb::CheckTxsResponse { results: resps.into_iter().map(Into::into).collect() },
        )
    }

    async fn prepare_proposal(
        &self,
        request: Request<pb::PrepareProposalRequest>,
    ) -> Result<Response<pb::PrepareProposalResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let _turn = self.consensus.lock().await;
        let resp = self.app.prepare_proposal(req).await.map_err(status_from_error)?;
        self.respond("PrepareProposal", resp.into())
    }

    async fn process_proposal(
        &self,
        request: Request<pb::ProcessProposalRequest>,
    ) -> Result<Response<pb::ProcessProposalResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let _turn = self.consensus.lock().await;
        let status = self.app.process_proposal(req).await.map_err(status_from_error)?;
        self.respond("ProcessProposal", status.into())
    }

    async fn finalize_block(
        &self,
        request: Request<pb::FinalizeBlockRequest>,
    ) -> Result<Response<pb::FinalizeBlockResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let _turn = self.consensus.lock().await;
        let resp = self.app.finalize_block(req).await.map_err(status_from_error)?;
        self.respond("FinalizeBlock", resp.into())
    }

    async fn commit(
        &self,
        _request: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        let _turn = self.consensus.lock().await;
        let resp = self.app.commit().await.map_err(status_from_error)?;
        self.respond("Commit", resp.into())
    }

    async fn query(&self, request: Request<pb::QueryRequest>) -> Result<Response<pb::QueryResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let resp = self.app.query(req).await.map_err(status_from_error)?;
        self.respond("Query", resp.into())
    }

    async fn list_snapshots(
        &self,
        _request: Request<pb::ListSnapshotsRequest>,
    ) -> Result<Response<pb::ListSnapshotsResponse>, Status> {
        let snapshots = self.app.list_snapshots().await.map_err(status_from_error)?;
        let resp = pb::ListSnapshotsResponse { snapshots: snapshots.into_iter().map(Into::into).collect() };
        self.respond("ListSnapshots", resp)
    }

    async fn offer_snapshot(
        &self,
        request: Request<pb::OfferSnapshotRequest>,
    ) -> Result<Response<pb::OfferSnapshotResponse>, Status> {
        let (snapshot, app_hash) = offer_snapshot_request(request.get_ref()).map_err(invalid)?;
        let result = self.app.offer_snapshot(snapshot, app_hash).await.map_err(status_from_error)?;
        self.respond("OfferSnapshot", result.into())
    }

    async fn load_snapshot_chunk(
        &self,
        request: Request<pb::LoadSnapshotChunkRequest>,
    ) -> Result<Response<pb::LoadSnapshotChunkResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let chunk = self.app.load_snapshot_chunk(req).await.map_err(status_from_error)?;
        self.respond("LoadSnapshotChunk", pb::LoadSnapshotChunkResponse { chunk })
    }

    async fn apply_snapshot_chunk(
        &self,
        request: Request<pb::ApplySnapshotChunkRequest>,
    ) -> Result<Response<pb::ApplySnapshotChunkResponse>, Status> {
        let req = request.into_inner().try_into().map_err(invalid)?;
        let result = self.app.apply_snapshot_chunk(req).await.map_err(status_from_error)?;
        self.respond("ApplySnapshotChunk", result.into())
    }

    async fn echo(&self, request: Request<pb::EchoRequest>) -> Result<Response<pb::EchoResponse>, Status> {
        let message = self.app.echo(request.into_inner().message).await.map_err(status_from_error)?;
        self.respond("Echo", pb::EchoResponse { message })
    }
}

/// Wraps a tonic service so a request over the decoding limit is answered `RESOURCE_EXHAUSTED` (the code gRPC
/// specifies for it and other gRPC implementations send) instead of tonic's `OUT_OF_RANGE`, with the limit stated.
#[derive(Clone)]
pub struct OversizeAsResourceExhausted<S> {
    inner: S,
    limit: usize,
}

impl<S> OversizeAsResourceExhausted<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        OversizeAsResourceExhausted { inner, limit }
    }
}

fn rewrite_oversize(headers: &mut http::HeaderMap, limit: usize) {
    let Some(status) = Status::from_header_map(headers) else { return };
    if status.code() != Code::OutOfRange || !status.message().contains("message length too large") {
        return;
    }
    let message = format!(
        "request exceeds the message size limit of {limit} bytes ({})",
        status.message().trim_start_matches("Error, ")
    );
    headers.remove("grpc-status");
    headers.remove("grpc-message");
    // `add_header` only fails on a message that cannot be percent-encoded into a header, which ours can.
    if Status::resource_exhausted(message).add_header(headers).is_err() {
        tracing::warn!("could not rewrite an oversize-request status");
    }
}

impl<S, B> Service<http::Request<B>> for OversizeAsResourceExhausted<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let fut = self.inner.call(req);
        let limit = self.limit;
        Box::pin(async move {
            let mut resp = fut.await?;
            rewrite_oversize(resp.headers_mut(), limit);
            Ok(resp)
        })
    }
}

impl<S: NamedService> NamedService for OversizeAsResourceExhausted<S> {
    const NAME: &'static str = S::NAME;
}

/// The tonic service for `app`, with limits applied: for callers that assemble their own `tonic` server (e.g. the
/// node serving the app boundary next to its own API). Pair it with [`reflection_services`].
pub fn application_service<A: Application>(
    app: A,
    config: &ServerConfig,
) -> OversizeAsResourceExhausted<ApplicationServer<impl GrpcApplication>> {
    let handler = Handler {
        app: Arc::new(app),
        consensus: Mutex::new(()),
        max_message_bytes: config.max_message_bytes,
    };
    let svc = ApplicationServer::new(handler)
        .max_decoding_message_size(config.max_message_bytes)
        // Responses are checked (with a clearer message) in `Handler::respond`; this is the backstop.
        .max_encoding_message_size(config.max_message_bytes);
    OversizeAsResourceExhausted::new(svc, config.max_message_bytes)
}

/// gRPC reflection (`grpc.reflection.v1` and `v1alpha`) describing every cairn service — `cairn.app.v1` and
/// `cairn.node.v1` — for any tonic server that wants to offer it.
pub fn reflection_services() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServerError,
> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cairn_proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cairn_proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    Ok((v1, v1alpha))
}

fn router<A: Application>(
    app: A,
    config: &ServerConfig,
) -> Result<tonic::transport::server::Router, ServerError> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(t) = config.request_timeout {
        builder = builder.timeout(t);
    }
    if let Some(n) = config.concurrency_limit_per_connection {
        builder = builder.concurrency_limit_per_connection(n);
    }
    let mut router = builder.add_service(application_service(app, config));
    if config.reflection {
        let (v1, v1alpha) = reflection_services()?;
        router = router.add_service(v1).add_service(v1alpha);
    }
    Ok(router)
}

/// Serves `app` on `addr` until the process ends or the server fails.
pub async fn serve<A: Application>(
    app: A,
    addr: SocketAddr,
    config: ServerConfig,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
    serve_with_listener(app, listener, config).await
}

/// Serves `app` on an already bound listener (bind `127.0.0.1:0` in tests and read the port first).
pub async fn serve_with_listener<A: Application>(
    app: A,
    listener: TcpListener,
    config: ServerConfig,
) -> Result<(), ServerError> {
    serve_with_shutdown(app, listener, config, std::future::pending()).await
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes in-flight calls and returns.
pub async fn serve_with_shutdown<A: Application, F: Future<Output = ()> + Send>(
    app: A,
    listener: TcpListener,
    config: ServerConfig,
    shutdown: F,
) -> Result<(), ServerError> {
    let local = listener.local_addr().ok();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tracing::info!(addr = ?local, "serving cairn.app.v1.Application");
    router(app, &config)?
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ServerError::Transport(error_chain(&e)))
}

/// A server running on a background task.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl ServerHandle {
    /// The address it listens on (with the real port if it was bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets in-flight calls finish, and waits for the server to end.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Transport(format!("server task failed: {e}"))),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `addr` (port 0 picks a free port) and serves `app` on a background task until the handle is shut down or
/// dropped.
pub async fn spawn<A: Application>(
    app: A,
    addr: SocketAddr,
    config: ServerConfig,
) -> Result<ServerHandle, ServerError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
    let router = router(app, &config)?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = rx.await;
        };
        router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
            .map_err(|e| ServerError::Transport(error_chain(&e)))
    });
    Ok(ServerHandle { local_addr, shutdown: Some(tx), task })
}

pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        source = inner.source();
    }
    s
}
