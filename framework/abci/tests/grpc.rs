//! The gRPC boundary end to end on loopback: a server on 127.0.0.1:0 serving a test app, driven by `RemoteApp`
//! (and, where the point is what a foreign client sees, by the raw generated client).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cairn_abci::server::{self, ServerConfig, ServerHandle};
use cairn_abci::*;
use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator};
use cairn_proto::app::v1 as pb;
use cairn_proto::app::v1::application_client::ApplicationClient;
use tonic::Code;

/// Answers every call with something derived from its request, so a lossy conversion shows up as a difference
/// between calling it in-process and over gRPC.
#[derive(Default)]
struct TestApp {
    in_consensus: AtomicUsize,
    max_in_consensus: AtomicUsize,
}

impl TestApp {
    async fn consensus_step(&self) {
        let now = self.in_consensus.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_consensus.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.in_consensus.fetch_sub(1, Ordering::SeqCst);
    }
}

fn h(b: u8) -> Hash {
    Hash([b; 32])
}

fn pk(b: u8) -> PublicKey {
    PublicKey([b; 32])
}

#[async_trait]
impl Application for TestApp {
    async fn info(&self, _req: InfoRequest) -> AppResult<InfoResponse> {
        Ok(InfoResponse {
            data: "test".into(),
            app_version: 7,
            last_height: Height(41),
            last_app_hash: h(41),
        })
    }

    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        self.consensus_step().await;
        let mut params = req.consensus_params.clone();
        params.max_block_txs += 1;
        Ok(InitChainResponse {
            consensus_params: Some(params),
            validators: req.validators.iter().map(|v| Validator { power: v.power * 2, ..*v }).collect(),
            app_hash: Hash::digest(req.chain_id.as_str().as_bytes()),
        })
    }

    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        if req.tx.is_empty() {
            return Ok(CheckTxResponse { code: 1, log: "empty tx".into(), ..Default::default() });
        }
        Ok(CheckTxResponse {
            code: 0,
            log: format!("{:?}", req.kind),
            gas_wanted: req.tx.len() as u64,
            sender: req.tx[..1].to_vec(),
            priority: -(req.tx.len() as i64),
        })
    }

    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        self.consensus_step().await;
        let mut txs = req.txs;
        txs.reverse();
        txs.push(req.proposer.0.to_vec());
        Ok(PrepareProposalResponse { txs })
    }

    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        self.consensus_step().await;
        Ok(if req.txs.len().is_multiple_of(2) { ProposalStatus::Accept } else { ProposalStatus::Reject })
    }

    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        self.consensus_step().await;
        if req.height.0 == 0 {
            return Err(AppError::OutOfOrder("expected height 42, got 0".into()));
        }
        let signers = req.decided_last_commit.as_ref().map_or(0, |c| c.signers.len());
        Ok(FinalizeBlockResponse {
            events: vec![
                Event::new("block")
                    .attr("height", req.height.to_string())
                    .attr("signers", signers.to_string()),
            ],
            tx_results: req
                .txs
                .iter()
                .map(|t| TxResult {
                    code: u32::from(t.is_empty()),
                    log: String::from_utf8_lossy(t).into_owned(),
                    data: t.clone(),
                    gas_wanted: 3,
                    gas_used: 2,
                    events: vec![Event::new("tx").attr("len", t.len().to_string())],
                })
                .collect(),
            validator_updates: req
                .misbehavior
                .iter()
                .map(|m| Validator { public_key: m.validator, power: 0 })
                .collect(),
            consensus_param_updates: Some(ConsensusParams {
                engine_switch: Some(EngineSwitch {
                    engine: EngineKind::Snow,
                    height: Height(req.height.0 + 10),
                }),
                ..ConsensusParams::default()
            }),
            app_hash: req.hash,
        })
    }

    async fn commit(&self) -> AppResult<CommitResponse> {
        self.consensus_step().await;
        Ok(CommitResponse { retain_height: Height(3) })
    }

    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        Ok(QueryResponse {
            code: 0,
            log: req.path.clone(),
            key: req.data.clone(),
            value: req.data.iter().rev().copied().collect(),
            proof: if req.prove { vec![1, 2, 3] } else { vec![] },
            height: Height(req.height.0.max(41)),
        })
    }

    async fn list_snapshots(&self) -> AppResult<Vec<Snapshot>> {
        Ok(vec![Snapshot { height: Height(40), format: 1, chunks: 2, hash: h(40), metadata: b"m".to_vec() }])
    }

    async fn offer_snapshot(&self, snapshot: Snapshot, app_hash: Hash) -> AppResult<OfferSnapshotResult> {
        Ok(if snapshot.hash == app_hash {
            OfferSnapshotResult::Accept
        } else {
            OfferSnapshotResult::RejectFormat
        })
    }

    async fn load_snapshot_chunk(&self, req: LoadSnapshotChunkRequest) -> AppResult<Vec<u8>> {
        // `chunk` doubles as the size wanted, so tests can ask for an oversized response.
        Ok(vec![7; req.chunk as usize])
    }

    async fn apply_snapshot_chunk(
        &self,
        req: ApplySnapshotChunkRequest,
    ) -> AppResult<ApplySnapshotChunkResult> {
        Ok(match req.index {
            0 => ApplySnapshotChunkResult::Accept,
            1 => ApplySnapshotChunkResult::Retry,
            _ => ApplySnapshotChunkResult::RejectSnapshot,
        })
    }

    async fn echo(&self, message: String) -> AppResult<String> {
        if message == "sleep" {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        Ok(message)
    }
}

async fn start(config: ServerConfig) -> ServerHandle {
    server::spawn(TestApp::default(), "127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

async fn remote(server: &ServerHandle, config: ClientConfig) -> RemoteApp {
    RemoteApp::connect(server.local_addr().to_string(), config).await.unwrap()
}

fn init_chain_request() -> InitChainRequest {
    InitChainRequest {
        chain_id: ChainId::new("round-trip").unwrap(),
        time_ms: 1_700_000_000_000,
        initial_height: Height(1),
        consensus_params: ConsensusParams::default(),
        validators: vec![
            Validator { public_key: pk(1), power: 5 },
            Validator { public_key: pk(2), power: 6 },
        ],
        app_state: br#"{"a":1}"#.to_vec(),
    }
}

#[tokio::test]
async fn every_call_round_trips_over_grpc() {
    let server = start(ServerConfig::default()).await;
    let app = remote(&server, ClientConfig::default()).await;
    let local = TestApp::default();

    assert_eq!(app.info(InfoRequest {}).await.unwrap(), local.info(InfoRequest {}).await.unwrap());
    assert_eq!(
        app.init_chain(init_chain_request()).await.unwrap(),
        local.init_chain(init_chain_request()).await.unwrap()
    );
    for req in [
        CheckTxRequest { tx: b"k=v".to_vec(), kind: CheckTxKind::New },
        CheckTxRequest { tx: b"k=v".to_vec(), kind: CheckTxKind::Recheck },
        CheckTxRequest { tx: vec![], kind: CheckTxKind::New },
    ] {
        assert_eq!(app.check_tx(req.clone()).await.unwrap(), local.check_tx(req).await.unwrap());
    }
    let prep = PrepareProposalRequest {
        max_tx_bytes: 1000,
        txs: vec![b"a".to_vec(), b"b".to_vec()],
        height: Height(5),
        time_ms: 9,
        proposer: pk(3),
    };
    assert_eq!(
        app.prepare_proposal(prep.clone()).await.unwrap(),
        local.prepare_proposal(prep).await.unwrap()
    );
    for n in [1, 2] {
        let proc = ProcessProposalRequest {
            txs: vec![vec![1]; n],
            hash: h(5),
            height: Height(5),
            time_ms: 9,
            proposer: pk(3),
        };
        assert_eq!(
            app.process_proposal(proc.clone()).await.unwrap(),
            local.process_proposal(proc).await.unwrap()
        );
    }
    let fin = FinalizeBlockRequest {
        txs: vec![b"x=1".to_vec(), vec![]],
        hash: h(6),
        height: Height(5),
        time_ms: 10,
        proposer: pk(3),
        misbehavior: vec![Misbehavior {
            kind: MisbehaviorKind::Equivocation,
            validator: pk(2),
            height: Height(4),
        }],
        decided_last_commit: Some(CommitInfo { height: Height(4), signers: vec![pk(1), pk(2)] }),
    };
    let got = app.finalize_block(fin.clone()).await.unwrap();
    assert_eq!(got, local.finalize_block(fin).await.unwrap());
    assert_eq!(got.events[0].attributes[1].value, "2", "decided_last_commit crossed the wire");
    assert_eq!(got.tx_results[1].code, 1);
    assert_eq!(got.validator_updates, vec![Validator { public_key: pk(2), power: 0 }]);
    assert_eq!(app.commit().await.unwrap(), CommitResponse { retain_height: Height(3) });
    let q = QueryRequest { path: "/store".into(), data: b"abc".to_vec(), height: Height(0), prove: true };
    assert_eq!(app.query(q.clone()).await.unwrap(), local.query(q).await.unwrap());
    assert_eq!(app.list_snapshots().await.unwrap(), local.list_snapshots().await.unwrap());
    let snap = local.list_snapshots().await.unwrap().remove(0);
    assert_eq!(app.offer_snapshot(snap.clone(), h(40)).await.unwrap(), OfferSnapshotResult::Accept);
    assert_eq!(app.offer_snapshot(snap, h(1)).await.unwrap(), OfferSnapshotResult::RejectFormat);
    let load = LoadSnapshotChunkRequest { height: Height(40), format: 1, chunk: 10 };
    assert_eq!(app.load_snapshot_chunk(load).await.unwrap(), vec![7; 10]);
    for (index, want) in [
        (0, ApplySnapshotChunkResult::Accept),
        (1, ApplySnapshotChunkResult::Retry),
        (2, ApplySnapshotChunkResult::RejectSnapshot),
    ] {
        let req = ApplySnapshotChunkRequest { index, chunk: vec![1], sender: "peer".into() };
        assert_eq!(app.apply_snapshot_chunk(req).await.unwrap(), want);
    }
    assert_eq!(app.echo("hello".into()).await.unwrap(), "hello");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn app_errors_keep_their_kind_across_the_wire() {
    let server = start(ServerConfig::default()).await;
    let app = remote(&server, ClientConfig::default()).await;
    let fin = FinalizeBlockRequest {
        txs: vec![],
        hash: h(1),
        height: Height(0),
        time_ms: 0,
        proposer: pk(1),
        misbehavior: vec![],
        decided_last_commit: None,
    };
    let err = app.finalize_block(fin).await.unwrap_err();
    assert_eq!(err, AppError::OutOfOrder("expected height 42, got 0".into()));
}

#[tokio::test]
async fn reflection_lists_the_application_service() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = start(ServerConfig::default()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(tokio_stream::iter(vec![req])).await.unwrap().into_inner();
    let resp = stream.message().await.unwrap().expect("one reflection response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection response: {resp:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == "cairn.app.v1.Application"), "{names:?}");
    assert!(names.iter().any(|n| n == "cairn.node.v1.Node"), "{names:?}");
}

#[tokio::test]
async fn reflection_can_be_turned_off() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    let server = start(ServerConfig { reflection: false, ..ServerConfig::default() }).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.local_addr()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let status = client.server_reflection_info(tokio_stream::iter(vec![req])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

#[tokio::test]
async fn oversized_request_is_resource_exhausted_by_the_server() {
    let server = start(ServerConfig { max_message_bytes: 1024, ..ServerConfig::default() }).await;
    // What any gRPC client (Python, grpcurl) sees: RESOURCE_EXHAUSTED stating the limit.
    let mut raw = ApplicationClient::connect(format!("http://{}", server.local_addr())).await.unwrap();
    let status = raw.check_tx(pb::CheckTxRequest { tx: vec![b'a'; 4096], kind: 0 }).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("limit of 1024 bytes"), "{}", status.message());

    // Through the trait: a client that would allow it gets AppError::ResourceExhausted with the server's message.
    let app = remote(&server, ClientConfig::default()).await;
    let err =
        app.check_tx(CheckTxRequest { tx: vec![b'a'; 4096], kind: CheckTxKind::New }).await.unwrap_err();
    let AppError::ResourceExhausted(msg) = &err else { panic!("expected ResourceExhausted, got {err:?}") };
    assert!(msg.contains("limit of 1024 bytes"), "{msg}");
    // Small requests still work on the same server.
    assert!(
        app.check_tx(CheckTxRequest { tx: b"k=v".to_vec(), kind: CheckTxKind::New }).await.unwrap().is_ok()
    );
}

#[tokio::test]
async fn oversized_request_is_refused_by_the_client_before_sending() {
    let server = start(ServerConfig::default()).await;
    let app = remote(&server, ClientConfig { max_message_bytes: 1024, ..ClientConfig::default() }).await;
    let err = app.check_tx(CheckTxRequest { tx: vec![0; 2000], kind: CheckTxKind::New }).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource exhausted: CheckTx request of 2003 bytes exceeds the message size limit of 1024 bytes"
    );
}

#[tokio::test]
async fn oversized_response_is_resource_exhausted() {
    // The server refuses to send a response above its limit…
    let server = start(ServerConfig { max_message_bytes: 1024, ..ServerConfig::default() }).await;
    let app = remote(&server, ClientConfig::default()).await;
    let load = LoadSnapshotChunkRequest { height: Height(1), format: 1, chunk: 4096 };
    let err = app.load_snapshot_chunk(load.clone()).await.unwrap_err();
    let AppError::ResourceExhausted(msg) = &err else { panic!("expected ResourceExhausted, got {err:?}") };
    assert!(msg.contains("LoadSnapshotChunk response") && msg.contains("limit of 1024 bytes"), "{msg}");

    // …and the client refuses to accept one above its own.
    let server = start(ServerConfig::default()).await;
    let app = remote(&server, ClientConfig { max_message_bytes: 1024, ..ClientConfig::default() }).await;
    let err = app.load_snapshot_chunk(load).await.unwrap_err();
    let AppError::ResourceExhausted(msg) = &err else { panic!("expected ResourceExhausted, got {err:?}") };
    assert!(msg.contains("limit of 1024 bytes"), "{msg}");
}

#[tokio::test]
async fn unreachable_app_is_a_clear_error() {
    // A port that was just free: nothing listens there.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = ClientConfig { connect_timeout: Duration::from_secs(2), ..ClientConfig::default() };
    let err = RemoteApp::connect(addr.to_string(), config.clone()).await.unwrap_err();
    assert!(matches!(err, AppError::Unreachable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with(&format!("cannot reach the application at {addr}: ")), "{text}");

    // A lazily connected client reports the same on its first call.
    let app = RemoteApp::connect_lazy(addr.to_string(), config).unwrap();
    let err = app.info(InfoRequest {}).await.unwrap_err();
    assert!(err.to_string().starts_with(&format!("cannot reach the application at {addr}: ")), "{err}");
}

#[tokio::test]
async fn bad_address_is_invalid_argument() {
    let err = RemoteApp::connect("not an address", ClientConfig::default()).await.unwrap_err();
    assert!(matches!(err, AppError::InvalidArgument(_)), "{err:?}");
}

#[tokio::test]
async fn missing_fields_are_invalid_argument_naming_the_field() {
    let server = start(ServerConfig::default()).await;
    let mut raw = ApplicationClient::connect(format!("http://{}", server.local_addr())).await.unwrap();

    let good = pb::InitChainRequest::from(init_chain_request());
    let no_chain_id = pb::InitChainRequest { chain_id: String::new(), ..good.clone() };
    let status = raw.init_chain(no_chain_id).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "InitChainRequest.chain_id: missing (required)");

    let no_params = pb::InitChainRequest { consensus_params: None, ..good };
    let status = raw.init_chain(no_params).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "InitChainRequest.consensus_params: missing (required)");

    let short_hash =
        pb::FinalizeBlockRequest { hash: vec![1; 31], proposer: vec![2; 32], ..Default::default() };
    let status = raw.finalize_block(short_hash).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "FinalizeBlockRequest.hash: expected 32 bytes, got 31");
}

#[tokio::test]
async fn slow_call_hits_the_deadline() {
    let server = start(ServerConfig::default()).await;
    let app =
        remote(&server, ClientConfig { timeout: Duration::from_millis(200), ..ClientConfig::default() })
            .await;
    let err = app.echo("sleep".into()).await.unwrap_err();
    assert_eq!(err, AppError::Deadline { call: "Echo", ms: 200 });
    // The connection is still usable afterwards.
    assert_eq!(app.echo("again".into()).await.unwrap(), "again");
}

#[tokio::test]
async fn consensus_calls_are_serialized() {
    let app = std::sync::Arc::new(TestApp::default());
    let server =
        server::spawn(app.clone(), "127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await.unwrap();
    let client = remote(&server, ClientConfig::default()).await;
    let mut tasks = Vec::new();
    for i in 1..=8u64 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            c.finalize_block(FinalizeBlockRequest {
                txs: vec![],
                hash: h(1),
                height: Height(i),
                time_ms: 0,
                proposer: pk(1),
                misbehavior: vec![],
                decided_last_commit: None,
            })
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(app.max_in_consensus.load(Ordering::SeqCst), 1);
}

/// [`TestApp`] that counts `CheckTxs` and `CheckTx` calls, and may answer `CheckTxs` as an older app would.
struct Batching {
    inner: TestApp,
    batches: std::sync::Arc<AtomicUsize>,
    singles: std::sync::Arc<AtomicUsize>,
    implements_batches: bool,
}

#[async_trait]
impl Application for Batching {
    async fn info(&self, req: InfoRequest) -> AppResult<InfoResponse> {
        self.inner.info(req).await
    }
    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        self.inner.init_chain(req).await
    }
    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        self.singles.fetch_add(1, Ordering::SeqCst);
        self.inner.check_tx(req).await
    }
    async fn check_txs(&self, reqs: Vec<CheckTxRequest>) -> AppResult<Vec<CheckTxResponse>> {
        if !self.implements_batches {
            return Err(AppError::Unimplemented("CheckTxs".into()));
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
        let mut out = Vec::new();
        for req in reqs {
            out.push(self.inner.check_tx(req).await?);
        }
        Ok(out)
    }
    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        self.inner.prepare_proposal(req).await
    }
    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        self.inner.process_proposal(req).await
    }
    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        self.inner.finalize_block(req).await
    }
    async fn commit(&self) -> AppResult<CommitResponse> {
        self.inner.commit().await
    }
    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        self.inner.query(req).await
    }
}

/// A batch crosses the wire as `CheckTxs` calls that fit the message limit, answered in order as `CheckTx` would
/// answer each; an app that does not implement `CheckTxs` gets `CheckTx` calls instead, and keeps getting them.
#[tokio::test]
async fn check_txs_is_one_call_per_fitting_run_and_falls_back_for_older_apps() {
    let reqs: Vec<CheckTxRequest> = (0..10u8)
        .map(|i| CheckTxRequest { tx: if i == 4 { vec![] } else { vec![i; 300] }, kind: CheckTxKind::New })
        .collect();
    let local = TestApp::default();
    let mut expected = Vec::new();
    for req in &reqs {
        expected.push(local.check_tx(req.clone()).await.unwrap());
    }
    for implements_batches in [true, false] {
        let (batches, singles) =
            (std::sync::Arc::new(AtomicUsize::new(0)), std::sync::Arc::new(AtomicUsize::new(0)));
        let app = Batching {
            inner: TestApp::default(),
            batches: batches.clone(),
            singles: singles.clone(),
            implements_batches,
        };
        let server =
            server::spawn(app, "127.0.0.1:0".parse().unwrap(), ServerConfig::default()).await.unwrap();
        // 1,000 bytes of txs per call once the 64 KiB reserve is taken off: [0 1 2] [3 4 5 6] [7 8 9] (4 is empty).
        let config = ClientConfig { max_message_bytes: 64 * 1024 + 1000, ..ClientConfig::default() };
        let remote = remote(&server, config).await;
        assert_eq!(remote.check_txs(reqs.clone()).await.unwrap(), expected);
        if implements_batches {
            assert_eq!((batches.load(Ordering::SeqCst), singles.load(Ordering::SeqCst)), (3, 0));
        } else {
            assert_eq!(singles.load(Ordering::SeqCst), 10, "every tx asked alone");
            assert_eq!(remote.check_txs(reqs.clone()).await.unwrap(), expected);
            assert_eq!(singles.load(Ordering::SeqCst), 20, "and CheckTxs not tried again");
        }
        server.shutdown().await.unwrap();
    }
}
