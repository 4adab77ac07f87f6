//! The gRPC `cairn.node.v1.Node` service over a [`Backend`], with server reflection.

use std::pin::Pin;
use std::sync::Arc;

use cairn_abci::{EngineKind, Event, QueryRequest, TxResult};
use cairn_primitives::{Block, Hash, Height};
use cairn_proto::app::v1 as app_pb;
use cairn_proto::node::v1 as pb;
use cairn_proto::node::v1::node_server::{Node, NodeServer};
use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tonic::{Request, Response, Status};

use super::backend::{Backend, BackendError, StoredBlock, broadcast_commit};
use super::{
    COMMIT_WAIT, MAX_BATCH_TXS, MAX_GRPC_REQUEST_BYTES, MAX_GRPC_RESPONSE_BYTES, MAX_QUERY_BYTES,
    MAX_TX_BODY_BYTES,
};
use crate::types::{NodeEvent, NodeStatus, TxRecord};

pub(super) async fn serve<B: Backend>(backend: Arc<B>, listener: TcpListener, rx: watch::Receiver<bool>) {
    let service = NodeServer::new(NodeService { backend, stop: rx.clone() })
        .max_decoding_message_size(MAX_GRPC_REQUEST_BYTES)
        .max_encoding_message_size(MAX_GRPC_RESPONSE_BYTES);
    let mut router = tonic::transport::Server::builder().tcp_nodelay(true).add_service(service);
    // Both reflection versions: grpcurl speaks v1, grpcio-reflection (Python) and older clients only v1alpha.
    match cairn_abci::server::reflection_services() {
        Ok((v1, v1alpha)) => router = router.add_service(v1).add_service(v1alpha),
        Err(e) => tracing::warn!(error = %e, "gRPC reflection unavailable"),
    }
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    if let Err(e) = router.serve_with_incoming_shutdown(incoming, super::stopped(rx)).await {
        tracing::error!(error = %e, "gRPC API stopped");
    }
}

struct NodeService<B> {
    backend: Arc<B>,
    /// Ends event streams on shutdown (a graceful shutdown waits for open streams).
    stop: watch::Receiver<bool>,
}

pub(super) fn to_status(e: BackendError) -> Status {
    match e {
        BackendError::Invalid(m) => Status::invalid_argument(m),
        BackendError::Exhausted(m) | BackendError::TooLarge(m) => Status::resource_exhausted(m),
        BackendError::AlreadyExists(m) => Status::already_exists(m),
        BackendError::Unavailable(m) => Status::unavailable(m),
        BackendError::Internal(m) => Status::internal(m),
    }
}

fn hash32(field: &str, bytes: &[u8]) -> Result<Hash, Status> {
    <[u8; 32]>::try_from(bytes)
        .map(Hash)
        .map_err(|_| Status::invalid_argument(format!("{field}: expected 32 bytes, got {}", bytes.len())))
}

pub(super) fn engine_pb(e: EngineKind) -> i32 {
    match e {
        EngineKind::Bft => app_pb::Engine::Bft as i32,
        EngineKind::Snow => app_pb::Engine::Snow as i32,
    }
}

fn event_pb(e: &Event) -> app_pb::Event {
    app_pb::Event {
        kind: e.kind.clone(),
        attributes: e
            .attributes
            .iter()
            .map(|a| app_pb::EventAttribute { key: a.key.clone(), value: a.value.clone() })
            .collect(),
    }
}

fn result_pb(r: &TxResult) -> app_pb::TxResult {
    app_pb::TxResult {
        code: r.code,
        log: r.log.clone(),
        data: r.data.clone(),
        gas_wanted: r.gas_wanted,
        gas_used: r.gas_used,
        events: r.events.iter().map(event_pb).collect(),
    }
}

pub(super) fn status_pb(s: &NodeStatus) -> pb::StatusResponse {
    pb::StatusResponse {
        chain_id: s.chain_id.to_string(),
        height: s.height.0,
        app_hash: s.app_hash.0.to_vec(),
        latest_block_id: s.last_block_id.0.to_vec(),
        latest_block_time_ms: s.last_block_time_ms,
        validator_count: s.validators.len() as u32,
        total_power: s.validators.iter().map(|v| v.power).fold(0u64, u64::saturating_add),
        engine: engine_pb(s.engine),
        engine_switch: None,
        peers: s
            .peers
            .iter()
            .map(|p| pb::Peer {
                id: p.to_hex(),
                address: String::new(),
                score: s.peer_scores.get(p).copied().unwrap_or(0),
            })
            .collect(),
        catching_up: s.catching_up,
        node_key: if s.is_validator { s.node_key.0.to_vec() } else { Vec::new() },
        version: env!("CARGO_PKG_VERSION").to_string(),
        p2p_key: s.p2p_key.0.to_vec(),
        peer_id: s.peer_id(),
    }
}

fn block_pb(stored: StoredBlock) -> pb::GetBlockResponse {
    let StoredBlock { block, certificate } = stored;
    let h = &block.header;
    pb::GetBlockResponse {
        block_id: block.id().0.to_vec(),
        header: Some(pb::BlockHeader {
            chain_id: h.chain_id.to_string(),
            height: h.height.0,
            parent: h.parent.0.to_vec(),
            time_ms: h.time_ms,
            proposer: h.proposer.0.to_vec(),
            txs_root: h.txs_root.0.to_vec(),
            app_hash: h.app_hash.0.to_vec(),
            validators_hash: h.validators_hash.0.to_vec(),
            last_commit_hash: h.last_commit_hash.0.to_vec(),
            evidence_root: h.evidence_root.0.to_vec(),
        }),
        num_txs: block.txs.len() as u32,
        block: cairn_primitives::encode::<Block>(&block),
        certificate: certificate.unwrap_or_default(),
    }
}

fn tx_pb(rec: &TxRecord) -> pb::GetTxResponse {
    pb::GetTxResponse {
        hash: rec.hash.0.to_vec(),
        height: rec.height.0,
        index: rec.index,
        tx: rec.tx.clone(),
        result: Some(result_pb(&rec.result)),
    }
}

/// The notifications one node event turns into: a synthetic `new_block` or `tx` event (so a client can follow
/// blocks and tx finality even when the app emits nothing), then the tx's own events.
pub(super) fn notifications(ev: &NodeEvent) -> Vec<pb::EventNotification> {
    match ev {
        NodeEvent::NewBlock { height, id, num_txs, time_ms, finalized_at_ms, .. } => {
            let e = Event::new("new_block")
                .attr("height", height.0.to_string())
                .attr("id", id.to_hex())
                .attr("num_txs", num_txs.to_string())
                .attr("time_ms", time_ms.to_string())
                .attr("finalized_at_ms", finalized_at_ms.to_string());
            vec![pb::EventNotification {
                height: height.0,
                tx_hash: Vec::new(),
                tx_index: 0,
                event: Some(event_pb(&e)),
            }]
        }
        NodeEvent::Tx { hash, height, index, result } => {
            let tx = Event::new("tx")
                .attr("hash", hash.to_hex())
                .attr("code", result.code.to_string())
                .attr("log", result.log.clone());
            std::iter::once(&tx)
                .chain(result.events.iter())
                .map(|e| pb::EventNotification {
                    height: height.0,
                    tx_hash: hash.0.to_vec(),
                    tx_index: *index,
                    event: Some(event_pb(e)),
                })
                .collect()
        }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::EventNotification, Status>> + Send>>;

#[tonic::async_trait]
impl<B: Backend> Node for NodeService<B> {
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(status_pb(&self.backend.status())))
    }

    async fn broadcast_tx(
        &self,
        req: Request<pb::BroadcastTxRequest>,
    ) -> Result<Response<pb::BroadcastTxResponse>, Status> {
        let req = req.into_inner();
        if req.tx.is_empty() {
            return Err(Status::invalid_argument("tx: empty (send the borsh-encoded signed tx)"));
        }
        if req.tx.len() > MAX_TX_BODY_BYTES {
            return Err(Status::resource_exhausted(format!(
                "tx: {} bytes is over the limit of {MAX_TX_BODY_BYTES} bytes",
                req.tx.len()
            )));
        }
        let commit = req.mode == pb::BroadcastMode::Commit as i32;
        let resp = if commit {
            let (outcome, rec) =
                broadcast_commit(&*self.backend, req.tx, COMMIT_WAIT).await.map_err(to_status)?;
            pb::BroadcastTxResponse {
                hash: outcome.hash.0.to_vec(),
                check_code: outcome.code,
                log: outcome.log,
                height: rec.as_ref().map_or(0, |r| r.height.0),
                result: rec.as_ref().map(|r| result_pb(&r.result)),
            }
        } else {
            let outcome = self.backend.broadcast_tx(req.tx).await.map_err(to_status)?;
            pb::BroadcastTxResponse {
                hash: outcome.hash.0.to_vec(),
                check_code: outcome.code,
                log: outcome.log,
                height: 0,
                result: None,
            }
        };
        Ok(Response::new(resp))
    }

    async fn broadcast_txs(
        &self,
        req: Request<pb::BroadcastTxsRequest>,
    ) -> Result<Response<pb::BroadcastTxsResponse>, Status> {
        let txs = req.into_inner().txs;
        if txs.len() > MAX_BATCH_TXS {
            return Err(Status::invalid_argument(format!(
                "txs: {} in one batch, at most {MAX_BATCH_TXS}",
                txs.len()
            )));
        }
        if let Some((i, _)) = txs.iter().enumerate().find(|(_, t)| t.is_empty()) {
            return Err(Status::invalid_argument(format!(
                "txs[{i}]: empty (send the borsh-encoded signed tx)"
            )));
        }
        let hashes: Vec<Hash> = txs.iter().map(|t| Hash::digest(t)).collect();
        let results = self.backend.broadcast_txs(txs).await;
        let results = hashes
            .into_iter()
            .zip(results)
            .map(|(hash, r)| match r {
                Ok(o) => pb::BroadcastTxsItem {
                    hash: o.hash.0.to_vec(),
                    check_code: o.code,
                    log: o.log,
                    error_code: 0,
                    error: String::new(),
                },
                Err(e) => {
                    let status = to_status(e);
                    pb::BroadcastTxsItem {
                        hash: hash.0.to_vec(),
                        check_code: 0,
                        log: String::new(),
                        error_code: status.code() as u32,
                        error: status.message().to_string(),
                    }
                }
            })
            .collect();
        Ok(Response::new(pb::BroadcastTxsResponse { results }))
    }

    async fn get_block(
        &self,
        req: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::GetBlockResponse>, Status> {
        let height = Height(req.into_inner().height);
        match self.backend.block(height).await.map_err(to_status)? {
            Some(b) => Ok(Response::new(block_pb(b))),
            None => Err(Status::not_found(format!("no finalized block at height {height} on this node"))),
        }
    }

    async fn get_tx(&self, req: Request<pb::GetTxRequest>) -> Result<Response<pb::GetTxResponse>, Status> {
        let hash = hash32("hash", &req.into_inner().hash)?;
        match self.backend.tx(hash).await.map_err(to_status)? {
            Some(rec) => Ok(Response::new(tx_pb(&rec))),
            None => Err(Status::not_found(format!(
                "no finalized tx {hash} on this node (still in the mempool, rejected, or unknown)"
            ))),
        }
    }

    async fn query(&self, req: Request<pb::QueryRequest>) -> Result<Response<pb::QueryResponse>, Status> {
        let req = req.into_inner();
        if req.data.len() > MAX_QUERY_BYTES || req.path.len() > MAX_QUERY_BYTES {
            return Err(Status::resource_exhausted(format!(
                "query path or data over the limit of {MAX_QUERY_BYTES} bytes"
            )));
        }
        let resp = self
            .backend
            .query(QueryRequest {
                path: req.path,
                data: req.data,
                height: Height(req.height),
                prove: req.prove,
            })
            .await
            .map_err(to_status)?;
        Ok(Response::new(pb::QueryResponse {
            code: resp.code,
            log: resp.log,
            key: resp.key,
            value: resp.value,
            proof: resp.proof,
            height: resp.height.0,
        }))
    }

    type SubscribeEventsStream = EventStream;

    async fn subscribe_events(
        &self,
        req: Request<pb::SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
        let kinds = req.into_inner().kinds;
        if kinds.len() > 64 {
            return Err(Status::invalid_argument("kinds: at most 64 event kinds per subscription"));
        }
        let mut rx = self.backend.subscribe();
        let (tx, out) =
            tokio::sync::mpsc::channel::<Result<pb::EventNotification, Status>>(super::EVENT_BUFFER);
        let stop = super::stopped(self.stop.clone());
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                let next = tokio::select! {
                    _ = &mut stop => return,
                    next = rx.recv() => next,
                };
                let ev = match next {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::resource_exhausted(format!(
                                "this subscriber fell {n} events behind and was dropped; resubscribe and read faster"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                for n in notifications(&ev) {
                    let wanted =
                        kinds.is_empty() || n.event.as_ref().is_some_and(|e| kinds.contains(&e.kind));
                    if wanted && tx.send(Ok(n)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out))))
    }
}
