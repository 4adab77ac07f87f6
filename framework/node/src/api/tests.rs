//! API tests against a mock backend: every route and RPC, the size limits, and the error mapping.

use std::sync::Mutex;

use async_trait::async_trait;
use cairn_abci::{EngineKind, QueryRequest, QueryResponse, TxResult};
use cairn_primitives::{Block, ChainId, Hash, Header, Height, Keypair, Validator};
use cairn_proto::node::v1 as pb;
use tokio::sync::broadcast;

use super::*;
use crate::types::{NodeCounters, NodeEvent, NodeStatus, TxRecord};

struct Mock {
    events: broadcast::Sender<NodeEvent>,
    txs: Mutex<Vec<Vec<u8>>>,
    /// Finalize each accepted tx at once (emit a Tx event) when true.
    auto_finalize: bool,
}

impl Mock {
    fn new(auto_finalize: bool) -> Mock {
        Mock { events: broadcast::channel(64).0, txs: Mutex::new(Vec::new()), auto_finalize }
    }
}

fn block(h: u64) -> Block {
    let txs = vec![b"a=1".to_vec()];
    Block {
        header: Header {
            chain_id: ChainId::new("mock").unwrap(),
            height: Height(h),
            parent: Hash::ZERO,
            time_ms: 5,
            proposer: Keypair::derived("v", 0).public(),
            txs_root: Block::txs_root(&txs),
            app_hash: Hash::ZERO,
            validators_hash: Hash::ZERO,
            last_commit_hash: Hash::ZERO,
            evidence_root: Hash::ZERO,
        },
        txs,
        last_commit: Vec::new(),
        evidence: Vec::new(),
    }
}

#[async_trait]
impl Backend for Mock {
    fn status(&self) -> NodeStatus {
        NodeStatus {
            chain_id: ChainId::new("mock").unwrap(),
            height: Height(7),
            app_hash: Hash::digest(b"app"),
            last_block_id: block(7).id(),
            last_block_time_ms: 5,
            validators: vec![Validator { public_key: Keypair::derived("v", 0).public(), power: 3 }],
            engine: EngineKind::Bft,
            peers: vec![Keypair::derived("v", 1).public()],
            peer_scores: [(Keypair::derived("v", 1).public(), -25)].into_iter().collect(),
            catching_up: false,
            node_key: Keypair::derived("v", 0).public(),
            p2p_key: Keypair::derived("p2p", 0).public(),
            is_validator: true,
        }
    }
    fn counters(&self) -> NodeCounters {
        let p2p = crate::types::NetCounters {
            tx_events_dropped: 9,
            bans: 1,
            queued_tx_bytes: 4096,
            ..Default::default()
        };
        NodeCounters {
            blocks_finalized: 7,
            txs_finalized: 11,
            mempool_txs: 2,
            p2p,
            ..NodeCounters::default()
        }
    }
    async fn broadcast_tx(&self, tx: Vec<u8>) -> Result<BroadcastOutcome, BackendError> {
        let hash = Hash::digest(&tx);
        if tx.starts_with(b"bad") {
            return Ok(BroadcastOutcome { hash, code: 3, log: "bad signature".into() });
        }
        if tx.starts_with(b"full") {
            return Err(BackendError::Exhausted("mempool is full (50000 txs)".into()));
        }
        self.txs.lock().unwrap().push(tx);
        if self.auto_finalize {
            let _ = self.events.send(NodeEvent::Tx {
                hash,
                height: Height(8),
                index: 0,
                result: TxResult::default(),
            });
        }
        Ok(BroadcastOutcome { hash, code: 0, log: String::new() })
    }
    async fn block(&self, height: Height) -> Result<Option<StoredBlock>, BackendError> {
        let h = if height.0 == 0 { 7 } else { height.0 };
        Ok((h <= 7).then(|| StoredBlock { block: block(h), certificate: Some(vec![1, 2]) }))
    }
    async fn tx(&self, hash: Hash) -> Result<Option<TxRecord>, BackendError> {
        let txs = self.txs.lock().unwrap();
        Ok(txs.iter().position(|t| Hash::digest(t) == hash).map(|i| TxRecord {
            hash,
            height: Height(8),
            index: i as u32,
            tx: txs[i].clone(),
            result: TxResult::default(),
        }))
    }
    async fn query(&self, req: QueryRequest) -> Result<QueryResponse, BackendError> {
        Ok(QueryResponse {
            code: 0,
            value: req.data.iter().rev().copied().collect(),
            key: req.path.into_bytes(),
            ..QueryResponse::default()
        })
    }
    fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }
}

fn loopback() -> ApiSection {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    ApiSection { grpc: any, http: any, metrics: any }
}

async fn grpc_client(addr: std::net::SocketAddr) -> pb::node_client::NodeClient<tonic::transport::Channel> {
    pb::node_client::NodeClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_encoding_message_size(64 << 20)
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, &[]).await
}

/// A minimal HTTP/1.1 client (keeps the test free of another HTTP dependency).
async fn http_request(addr: std::net::SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) and close before reading a huge body; ignore write errors then.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn grpc_status_block_tx_query() {
    let servers = serve(Mock::new(false), &loopback()).await.unwrap();
    let mut c = grpc_client(servers.grpc).await;
    let s = c.status(pb::StatusRequest {}).await.unwrap().into_inner();
    assert_eq!((s.chain_id.as_str(), s.height, s.validator_count, s.total_power), ("mock", 7, 1, 3));
    assert_eq!(s.peers.len(), 1);
    assert_eq!(s.peers[0].score, -25, "the peer's score reaches the status");

    let b = c.get_block(pb::GetBlockRequest { height: 0 }).await.unwrap().into_inner();
    assert_eq!(b.header.unwrap().height, 7);
    assert_eq!(b.block_id, block(7).id().0.to_vec());
    let err = c.get_block(pb::GetBlockRequest { height: 99 }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);

    let r =
        c.broadcast_tx(pb::BroadcastTxRequest { tx: b"k=v".to_vec(), mode: 0 }).await.unwrap().into_inner();
    assert_eq!(r.check_code, 0);
    assert_eq!(r.hash, Hash::digest(b"k=v").0.to_vec());
    let t = c.get_tx(pb::GetTxRequest { hash: r.hash.clone() }).await.unwrap().into_inner();
    assert_eq!(t.tx, b"k=v");
    let err = c.get_tx(pb::GetTxRequest { hash: vec![1, 2, 3] }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("32 bytes"), "{}", err.message());

    let q = c
        .query(pb::QueryRequest { path: "p".into(), data: vec![1, 2], height: 0, prove: false })
        .await
        .unwrap();
    assert_eq!(q.into_inner().value, vec![2, 1]);
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_rejections_are_clear() {
    let servers = serve(Mock::new(false), &loopback()).await.unwrap();
    let mut c = grpc_client(servers.grpc).await;
    // A tx the app rejects comes back with its code and reason.
    let r = c
        .broadcast_tx(pb::BroadcastTxRequest { tx: b"bad sig".to_vec(), mode: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.check_code, 3);
    assert!(r.log.contains("signature"));
    // A full mempool is RESOURCE_EXHAUSTED, not a hang.
    let err = c.broadcast_tx(pb::BroadcastTxRequest { tx: b"full".to_vec(), mode: 0 }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    // An oversized tx is refused before it reaches the node.
    let big = vec![7u8; MAX_GRPC_REQUEST_BYTES + 10];
    let err = c.broadcast_tx(pb::BroadcastTxRequest { tx: big, mode: 0 }).await.unwrap_err();
    assert!(matches!(err.code(), tonic::Code::ResourceExhausted | tonic::Code::OutOfRange), "{err:?}");
    let err = c.broadcast_tx(pb::BroadcastTxRequest { tx: vec![], mode: 0 }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_commit_mode_and_event_stream() {
    // Bounded: a lost event must fail this test, never hang the suite.
    tokio::time::timeout(std::time::Duration::from_secs(60), commit_mode_and_event_stream())
        .await
        .expect("commit-mode broadcast and the event stream finish within 60 s");
}

async fn commit_mode_and_event_stream() {
    let servers = serve(Mock::new(true), &loopback()).await.unwrap();
    let mut c = grpc_client(servers.grpc).await;
    let mut stream = c
        .subscribe_events(pb::SubscribeEventsRequest { kinds: vec!["tx".into()] })
        .await
        .unwrap()
        .into_inner();
    let r = c
        .broadcast_tx(pb::BroadcastTxRequest { tx: b"x=1".to_vec(), mode: pb::BroadcastMode::Commit as i32 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.height, 8);
    assert_eq!(r.result.unwrap().code, 0);
    let n = stream.message().await.unwrap().unwrap();
    assert_eq!(n.tx_hash, Hash::digest(b"x=1").0.to_vec());
    assert_eq!(n.event.unwrap().kind, "tx");
    servers.shutdown().await;
}

#[tokio::test]
async fn http_routes() {
    let servers = serve(Mock::new(false), &loopback()).await.unwrap();
    let (code, body) = http_get(servers.http, "/status").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["height"], 7);
    // The dashboard shows the libp2p peer id operators need for `/p2p/…` addresses.
    let peer_id = cairn_p2p::peer_id_of(&Keypair::derived("p2p", 0).public()).unwrap().to_string();
    assert_eq!(v["peer_id"], peer_id.as_str());

    let (code, body) = http_request(servers.http, "POST", "/tx", b"6b3d76").await; // hex of "k=v"
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["hash"], Hash::digest(b"k=v").to_hex());
    let (code, body) = http_get(servers.http, &format!("/tx/{}", Hash::digest(b"k=v").to_hex())).await;
    assert_eq!(code, 200, "{body}");

    let (code, body) = http_request(servers.http, "POST", "/tx", b"bad signature here").await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("bad signature"), "{body}");

    let (code, _) = http_get(servers.http, "/block/3").await;
    assert_eq!(code, 200);
    let (code, body) = http_get(servers.http, "/block/latest").await;
    assert_eq!(code, 200);
    assert!(body.contains(&block(7).id().to_hex()));
    let (code, body) = http_get(servers.http, "/block/abc").await;
    assert_eq!(code, 400);
    assert!(body.contains("expected a number"), "{body}");
    let (code, _) = http_get(servers.http, "/block/100").await;
    assert_eq!(code, 404);
    let (code, body) = http_get(servers.http, "/query?path=bank&data=0102").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"value\":\"0201\""), "{body}");
    let (code, body) = http_get(servers.http, "/query?path=bank&data=zz").await;
    assert_eq!(code, 400, "{body}");
    servers.shutdown().await;
}

#[tokio::test]
async fn http_oversized_tx_is_refused() {
    let servers = serve(Mock::new(false), &loopback()).await.unwrap();
    let big = vec![0xffu8; http::MAX_HTTP_BODY_BYTES + 1];
    let (code, _) = http_request(servers.http, "POST", "/tx", &big).await;
    assert_eq!(code, 413);
    let raw = vec![0xffu8; MAX_TX_BODY_BYTES + 1];
    let (code, body) = http_request(servers.http, "POST", "/tx", &raw).await;
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("over the limit"), "{body}");
    servers.shutdown().await;
}

#[tokio::test]
async fn metrics_render_gauges_and_finality() {
    let mock = Mock::new(false);
    let events = mock.events.clone();
    let servers = serve(mock, &loopback()).await.unwrap();
    // Let the metrics task subscribe, then feed a block committed 40 ms after its proposal.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    events
        .send(NodeEvent::NewBlock {
            height: Height(8),
            id: Hash::ZERO,
            num_txs: 5,
            time_ms: 1_000,
            finalized_at_ms: 1_040,
            finalize_us: 3_000,
            commit_us: 500,
        })
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (code, body) = http_get(servers.metrics, "/metrics").await;
    assert_eq!(code, 200);
    assert!(body.contains("cairn_height 7"), "{body}");
    assert!(body.contains("cairn_txs_finalized_total 11"), "{body}");
    assert!(body.contains("# TYPE cairn_txs_finalized counter"), "totals are counters: {body}");
    assert!(body.contains("cairn_mempool_txs 2"), "{body}");
    assert!(body.contains("cairn_peers 1"), "{body}");
    assert!(body.contains("cairn_finality_latency_seconds_count 1"), "{body}");
    assert!(body.contains("cairn_app_call_seconds_count{call=\"finalize_block\"} 1"), "{body}");
    assert!(body.contains("cairn_app_call_seconds_sum{call=\"commit\"} 0.0005"), "{body}");
    assert!(body.contains("cairn_observed_block_txs_total 5"), "{body}");
    assert!(body.contains("cairn_p2p_events_dropped_total{lane=\"txs\"} 9"), "{body}");
    assert!(body.contains("cairn_p2p_bans_total 1"), "{body}");
    assert!(body.contains("cairn_p2p_queue_bytes{lane=\"txs\"} 4096"), "{body}");
    let peer = Keypair::derived("v", 1).public().to_hex();
    assert!(body.contains(&format!("cairn_p2p_peer_score{{peer=\"{peer}\"}} -25")), "{body}");
    servers.shutdown().await;
}

#[tokio::test]
async fn port_in_use_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut cfg = loopback();
    cfg.http = addr;
    let err = serve(Mock::new(false), &cfg).await.err().unwrap().to_string();
    assert!(err.contains(&addr.to_string()) && err.contains("http"), "{err}");
}

/// Python's grpcio-reflection speaks only `grpc.reflection.v1alpha`; the node must answer it, not UNIMPLEMENTED.
#[tokio::test]
async fn reflection_v1alpha_lists_the_node_service() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let servers = serve(Mock::new(false), &loopback()).await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", servers.grpc))
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
    assert!(names.iter().any(|n| n == "cairn.node.v1.Node"), "{names:?}");
    servers.shutdown().await;
}

#[tokio::test]
async fn grpc_broadcast_txs_answers_each_tx_in_order() {
    let servers = serve(Mock::new(false), &loopback()).await.unwrap();
    let mut c = grpc_client(servers.grpc).await;
    let txs = vec![b"a=1".to_vec(), b"b=2".to_vec()];
    let r = c.broadcast_txs(pb::BroadcastTxsRequest { txs: txs.clone() }).await.unwrap().into_inner();
    assert_eq!(r.results.len(), 2);
    for (tx, item) in txs.iter().zip(&r.results) {
        assert_eq!(item.hash, Hash::digest(tx).0.to_vec());
        assert_eq!((item.error_code, item.check_code), (0, 0), "{item:?}");
    }
    let too_many = vec![b"k=v".to_vec(); super::MAX_BATCH_TXS + 1];
    let err = c.broadcast_txs(pb::BroadcastTxsRequest { txs: too_many }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("at most"), "{}", err.message());
    let err =
        c.broadcast_txs(pb::BroadcastTxsRequest { txs: vec![b"x".to_vec(), vec![]] }).await.unwrap_err();
    assert!(err.message().contains("txs[1]"), "{}", err.message());
    servers.shutdown().await;
}
