//! Protobuf ⇄ domain conversions at the gRPC edge (the tendermint-rs pattern).
//!
//! `TryFrom<proto>` validates: a missing required field, a hash or key that is not 32 bytes, an unknown or
//! unspecified enum value, or an invalid chain id becomes a [`ConvertError`] that names the field
//! (`"InitChainRequest.chain_id: must not be empty"`). The server answers those with `INVALID_ARGUMENT`; the
//! client reports a malformed *response* the same way, so a buggy app in another language is told what it got
//! wrong. `From<domain>` goes back out and cannot fail.
//!
//! Public keys are checked for length only: whether 32 bytes are a point on the curve is the node's business when
//! it applies a validator update, so a non-ed25519-aware app (e.g. the Python kvstore) can still speak the protocol.

use cairn_primitives::{ChainId, Hash, Height, PublicKey, Validator};
use cairn_proto::app::v1 as pb;

use crate::AppError;
use crate::types::*;

/// A proto message that does not make a valid domain value; `field` is the dotted path of the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConvertError {
    pub field: String,
    pub reason: String,
}

impl ConvertError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> ConvertError {
        ConvertError { field: field.into(), reason: reason.into() }
    }
}

impl From<ConvertError> for AppError {
    fn from(e: ConvertError) -> AppError {
        AppError::InvalidArgument(e.to_string())
    }
}

type Result<T> = std::result::Result<T, ConvertError>;

fn bytes32(field: &str, bytes: &[u8]) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        let reason = if bytes.is_empty() {
            "missing (expected 32 bytes)".to_string()
        } else {
            format!("expected 32 bytes, got {}", bytes.len())
        };
        ConvertError::new(field, reason)
    })
}

fn hash(field: &str, bytes: &[u8]) -> Result<Hash> {
    bytes32(field, bytes).map(Hash)
}

fn public_key(field: &str, bytes: &[u8]) -> Result<PublicKey> {
    bytes32(field, bytes).map(PublicKey)
}

fn required<T>(field: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| ConvertError::new(field, "missing (required)"))
}

fn validator(field: &str, v: &pb::Validator) -> Result<Validator> {
    Ok(Validator { public_key: public_key(&format!("{field}.public_key"), &v.public_key)?, power: v.power })
}

fn validators(field: &str, vs: &[pb::Validator]) -> Result<Vec<Validator>> {
    vs.iter().enumerate().map(|(i, v)| validator(&format!("{field}[{i}]"), v)).collect()
}

fn engine(field: &str, raw: i32) -> Result<EngineKind> {
    match pb::Engine::try_from(raw) {
        Ok(pb::Engine::Bft) => Ok(EngineKind::Bft),
        Ok(pb::Engine::Snow) => Ok(EngineKind::Snow),
        Ok(pb::Engine::Unspecified) => Err(ConvertError::new(field, "ENGINE_UNSPECIFIED is not an engine")),
        Err(_) => Err(ConvertError::new(field, format!("unknown engine {raw}"))),
    }
}

fn consensus_params(field: &str, p: &pb::ConsensusParams) -> Result<ConsensusParams> {
    let engine_switch = match &p.engine_switch {
        None => None,
        Some(s) => {
            if s.height == 0 {
                return Err(ConvertError::new(format!("{field}.engine_switch.height"), "must be > 0"));
            }
            Some(EngineSwitch {
                engine: engine(&format!("{field}.engine_switch.engine"), s.engine)?,
                height: Height(s.height),
            })
        }
    };
    Ok(ConsensusParams {
        max_block_bytes: p.max_block_bytes,
        max_block_txs: p.max_block_txs,
        engine: engine(&format!("{field}.engine"), p.engine)?,
        engine_switch,
    })
}

fn event(e: pb::Event) -> Event {
    Event {
        kind: e.kind,
        attributes: e.attributes.into_iter().map(|a| EventAttribute { key: a.key, value: a.value }).collect(),
    }
}

fn tx_result(r: pb::TxResult) -> TxResult {
    TxResult {
        code: r.code,
        log: r.log,
        data: r.data,
        gas_wanted: r.gas_wanted,
        gas_used: r.gas_used,
        events: r.events.into_iter().map(event).collect(),
    }
}

fn snapshot(field: &str, s: &pb::Snapshot) -> Result<Snapshot> {
    Ok(Snapshot {
        height: Height(s.height),
        format: s.format,
        chunks: s.chunks,
        hash: hash(&format!("{field}.hash"), &s.hash)?,
        metadata: s.metadata.clone(),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// domain -> proto (infallible)
// ---------------------------------------------------------------------------------------------------------------

impl From<EngineKind> for pb::Engine {
    fn from(e: EngineKind) -> pb::Engine {
        match e {
            EngineKind::Bft => pb::Engine::Bft,
            EngineKind::Snow => pb::Engine::Snow,
        }
    }
}

impl From<&ConsensusParams> for pb::ConsensusParams {
    fn from(p: &ConsensusParams) -> pb::ConsensusParams {
        pb::ConsensusParams {
            max_block_bytes: p.max_block_bytes,
            max_block_txs: p.max_block_txs,
            engine: pb::Engine::from(p.engine) as i32,
            engine_switch: p
                .engine_switch
                .map(|s| pb::EngineSwitch { engine: pb::Engine::from(s.engine) as i32, height: s.height.0 }),
        }
    }
}

/// `Validator` lives in cairn-primitives, so this is a function rather than a `From` impl.
pub fn validator_to_pb(v: &Validator) -> pb::Validator {
    pb::Validator { public_key: v.public_key.0.to_vec(), power: v.power }
}

impl From<Event> for pb::Event {
    fn from(e: Event) -> pb::Event {
        pb::Event {
            kind: e.kind,
            attributes: e
                .attributes
                .into_iter()
                .map(|a| pb::EventAttribute { key: a.key, value: a.value })
                .collect(),
        }
    }
}

impl From<TxResult> for pb::TxResult {
    fn from(r: TxResult) -> pb::TxResult {
        pb::TxResult {
            code: r.code,
            log: r.log,
            data: r.data,
            gas_wanted: r.gas_wanted,
            gas_used: r.gas_used,
            events: r.events.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<&Misbehavior> for pb::Misbehavior {
    fn from(m: &Misbehavior) -> pb::Misbehavior {
        let kind = match m.kind {
            MisbehaviorKind::Equivocation => pb::MisbehaviorKind::Equivocation,
            MisbehaviorKind::Downtime => pb::MisbehaviorKind::Downtime,
        };
        pb::Misbehavior { kind: kind as i32, validator: m.validator.0.to_vec(), height: m.height.0 }
    }
}

impl From<Snapshot> for pb::Snapshot {
    fn from(s: Snapshot) -> pb::Snapshot {
        pb::Snapshot {
            height: s.height.0,
            format: s.format,
            chunks: s.chunks,
            hash: s.hash.0.to_vec(),
            metadata: s.metadata,
        }
    }
}

impl From<InfoRequest> for pb::InfoRequest {
    fn from(_: InfoRequest) -> pb::InfoRequest {
        pb::InfoRequest {}
    }
}

impl From<InfoResponse> for pb::InfoResponse {
    fn from(r: InfoResponse) -> pb::InfoResponse {
        pb::InfoResponse {
            data: r.data,
            app_version: r.app_version,
            last_height: r.last_height.0,
            last_app_hash: r.last_app_hash.0.to_vec(),
        }
    }
}

impl From<InitChainRequest> for pb::InitChainRequest {
    fn from(r: InitChainRequest) -> pb::InitChainRequest {
        pb::InitChainRequest {
            chain_id: r.chain_id.as_str().to_string(),
            time_ms: r.time_ms,
            initial_height: r.initial_height.0,
            consensus_params: Some((&r.consensus_params).into()),
            validators: r.validators.iter().map(validator_to_pb).collect(),
            app_state: r.app_state,
        }
    }
}

impl From<InitChainResponse> for pb::InitChainResponse {
    fn from(r: InitChainResponse) -> pb::InitChainResponse {
        pb::InitChainResponse {
            consensus_params: r.consensus_params.as_ref().map(Into::into),
            validators: r.validators.iter().map(validator_to_pb).collect(),
            app_hash: r.app_hash.0.to_vec(),
        }
    }
}

impl From<CheckTxRequest> for pb::CheckTxRequest {
    fn from(r: CheckTxRequest) -> pb::CheckTxRequest {
        let kind = match r.kind {
            CheckTxKind::New => pb::CheckTxKind::New,
            CheckTxKind::Recheck => pb::CheckTxKind::Recheck,
        };
        pb::CheckTxRequest { tx: r.tx, kind: kind as i32 }
    }
}

impl From<CheckTxResponse> for pb::CheckTxResponse {
    fn from(r: CheckTxResponse) -> pb::CheckTxResponse {
        pb::CheckTxResponse {
            code: r.code,
            log: r.log,
            gas_wanted: r.gas_wanted,
            sender: r.sender,
            priority: r.priority,
        }
    }
}

impl From<PrepareProposalRequest> for pb::PrepareProposalRequest {
    fn from(r: PrepareProposalRequest) -> pb::PrepareProposalRequest {
        pb::PrepareProposalRequest {
            max_tx_bytes: r.max_tx_bytes,
            txs: r.txs,
            height: r.height.0,
            time_ms: r.time_ms,
            proposer: r.proposer.0.to_vec(),
        }
    }
}

impl From<PrepareProposalResponse> for pb::PrepareProposalResponse {
    fn from(r: PrepareProposalResponse) -> pb::PrepareProposalResponse {
        pb::PrepareProposalResponse { txs: r.txs }
    }
}

impl From<ProcessProposalRequest> for pb::ProcessProposalRequest {
    fn from(r: ProcessProposalRequest) -> pb::ProcessProposalRequest {
        pb::ProcessProposalRequest {
            txs: r.txs,
            hash: r.hash.0.to_vec(),
            height: r.height.0,
            time_ms: r.time_ms,
            proposer: r.proposer.0.to_vec(),
        }
    }
}

impl From<ProposalStatus> for pb::ProcessProposalResponse {
    fn from(s: ProposalStatus) -> pb::ProcessProposalResponse {
        let status = match s {
            ProposalStatus::Accept => pb::ProposalStatus::Accept,
            ProposalStatus::Reject => pb::ProposalStatus::Reject,
        };
        pb::ProcessProposalResponse { status: status as i32 }
    }
}

impl From<FinalizeBlockRequest> for pb::FinalizeBlockRequest {
    fn from(r: FinalizeBlockRequest) -> pb::FinalizeBlockRequest {
        pb::FinalizeBlockRequest {
            txs: r.txs,
            hash: r.hash.0.to_vec(),
            height: r.height.0,
            time_ms: r.time_ms,
            proposer: r.proposer.0.to_vec(),
            misbehavior: r.misbehavior.iter().map(Into::into).collect(),
            decided_last_commit: r.decided_last_commit.map(|c| pb::CommitInfo {
                height: c.height.0,
                signers: c.signers.iter().map(|k| k.0.to_vec()).collect(),
            }),
        }
    }
}

impl From<FinalizeBlockResponse> for pb::FinalizeBlockResponse {
    fn from(r: FinalizeBlockResponse) -> pb::FinalizeBlockResponse {
        pb::FinalizeBlockResponse {
            events: r.events.into_iter().map(Into::into).collect(),
            tx_results: r.tx_results.into_iter().map(Into::into).collect(),
            validator_updates: r.validator_updates.iter().map(validator_to_pb).collect(),
            consensus_param_updates: r.consensus_param_updates.as_ref().map(Into::into),
            app_hash: r.app_hash.0.to_vec(),
        }
    }
}

impl From<CommitResponse> for pb::CommitResponse {
    fn from(r: CommitResponse) -> pb::CommitResponse {
        pb::CommitResponse { retain_height: r.retain_height.0 }
    }
}

impl From<QueryRequest> for pb::QueryRequest {
    fn from(r: QueryRequest) -> pb::QueryRequest {
        pb::QueryRequest { path: r.path, data: r.data, height: r.height.0, prove: r.prove }
    }
}

impl From<QueryResponse> for pb::QueryResponse {
    fn from(r: QueryResponse) -> pb::QueryResponse {
        pb::QueryResponse {
            code: r.code,
            log: r.log,
            key: r.key,
            value: r.value,
            proof: r.proof,
            height: r.height.0,
        }
    }
}

impl From<OfferSnapshotResult> for pb::OfferSnapshotResponse {
    fn from(r: OfferSnapshotResult) -> pb::OfferSnapshotResponse {
        let result = match r {
            OfferSnapshotResult::Accept => pb::OfferSnapshotResult::Accept,
            OfferSnapshotResult::Abort => pb::OfferSnapshotResult::Abort,
            OfferSnapshotResult::Reject => pb::OfferSnapshotResult::Reject,
            OfferSnapshotResult::RejectFormat => pb::OfferSnapshotResult::RejectFormat,
        };
        pb::OfferSnapshotResponse { result: result as i32 }
    }
}

impl From<LoadSnapshotChunkRequest> for pb::LoadSnapshotChunkRequest {
    fn from(r: LoadSnapshotChunkRequest) -> pb::LoadSnapshotChunkRequest {
        pb::LoadSnapshotChunkRequest { height: r.height.0, format: r.format, chunk: r.chunk }
    }
}

impl From<ApplySnapshotChunkRequest> for pb::ApplySnapshotChunkRequest {
    fn from(r: ApplySnapshotChunkRequest) -> pb::ApplySnapshotChunkRequest {
        pb::ApplySnapshotChunkRequest { index: r.index, chunk: r.chunk, sender: r.sender }
    }
}

impl From<ApplySnapshotChunkResult> for pb::ApplySnapshotChunkResponse {
    fn from(r: ApplySnapshotChunkResult) -> pb::ApplySnapshotChunkResponse {
        let result = match r {
            ApplySnapshotChunkResult::Accept => pb::ApplySnapshotChunkResult::Accept,
            ApplySnapshotChunkResult::Abort => pb::ApplySnapshotChunkResult::Abort,
            ApplySnapshotChunkResult::Retry => pb::ApplySnapshotChunkResult::Retry,
            ApplySnapshotChunkResult::RetrySnapshot => pb::ApplySnapshotChunkResult::RetrySnapshot,
            ApplySnapshotChunkResult::RejectSnapshot => pb::ApplySnapshotChunkResult::RejectSnapshot,
        };
        pb::ApplySnapshotChunkResponse { result: result as i32 }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// proto -> domain (validating)
// ---------------------------------------------------------------------------------------------------------------

impl TryFrom<pb::InfoRequest> for InfoRequest {
    type Error = ConvertError;
    fn try_from(_: pb::InfoRequest) -> Result<InfoRequest> {
        Ok(InfoRequest {})
    }
}

impl TryFrom<pb::InfoResponse> for InfoResponse {
    type Error = ConvertError;
    fn try_from(r: pb::InfoResponse) -> Result<InfoResponse> {
        Ok(InfoResponse {
            last_app_hash: hash("InfoResponse.last_app_hash", &r.last_app_hash)?,
            data: r.data,
            app_version: r.app_version,
            last_height: Height(r.last_height),
        })
    }
}

impl TryFrom<pb::InitChainRequest> for InitChainRequest {
    type Error = ConvertError;
    fn try_from(r: pb::InitChainRequest) -> Result<InitChainRequest> {
        const M: &str = "InitChainRequest";
        if r.chain_id.is_empty() {
            return Err(ConvertError::new(format!("{M}.chain_id"), "missing (required)"));
        }
        let chain_id = ChainId::new(r.chain_id)
            .map_err(|e| ConvertError::new(format!("{M}.chain_id"), e.to_string()))?;
        let field = format!("{M}.consensus_params");
        let params = required(&field, r.consensus_params.as_ref())?;
        Ok(InitChainRequest {
            chain_id,
            time_ms: r.time_ms,
            initial_height: Height(r.initial_height),
            consensus_params: consensus_params(&field, params)?,
            validators: validators(&format!("{M}.validators"), &r.validators)?,
            app_state: r.app_state,
        })
    }
}

impl TryFrom<pb::InitChainResponse> for InitChainResponse {
    type Error = ConvertError;
    fn try_from(r: pb::InitChainResponse) -> Result<InitChainResponse> {
        const M: &str = "InitChainResponse";
        Ok(InitChainResponse {
            consensus_params: match &r.consensus_params {
                Some(p) => Some(consensus_params(&format!("{M}.consensus_params"), p)?),
                None => None,
            },
            validators: validators(&format!("{M}.validators"), &r.validators)?,
            app_hash: hash(&format!("{M}.app_hash"), &r.app_hash)?,
        })
    }
}

impl TryFrom<pb::CheckTxRequest> for CheckTxRequest {
    type Error = ConvertError;
    fn try_from(r: pb::CheckTxRequest) -> Result<CheckTxRequest> {
        let kind = match pb::CheckTxKind::try_from(r.kind) {
            Ok(pb::CheckTxKind::New) => CheckTxKind::New,
            Ok(pb::CheckTxKind::Recheck) => CheckTxKind::Recheck,
            Err(_) => {
                return Err(ConvertError::new("CheckTxRequest.kind", format!("unknown kind {}", r.kind)));
            }
        };
        Ok(CheckTxRequest { tx: r.tx, kind })
    }
}

impl TryFrom<pb::CheckTxResponse> for CheckTxResponse {
    type Error = ConvertError;
    fn try_from(r: pb::CheckTxResponse) -> Result<CheckTxResponse> {
        Ok(CheckTxResponse {
            code: r.code,
            log: r.log,
            gas_wanted: r.gas_wanted,
            sender: r.sender,
            priority: r.priority,
        })
    }
}

impl TryFrom<pb::PrepareProposalRequest> for PrepareProposalRequest {
    type Error = ConvertError;
    fn try_from(r: pb::PrepareProposalRequest) -> Result<PrepareProposalRequest> {
        Ok(PrepareProposalRequest {
            proposer: public_key("PrepareProposalRequest.proposer", &r.proposer)?,
            max_tx_bytes: r.max_tx_bytes,
            txs: r.txs,
            height: Height(r.height),
            time_ms: r.time_ms,
        })
    }
}

impl TryFrom<pb::PrepareProposalResponse> for PrepareProposalResponse {
    type Error = ConvertError;
    fn try_from(r: pb::PrepareProposalResponse) -> Result<PrepareProposalResponse> {
        Ok(PrepareProposalResponse { txs: r.txs })
    }
}

impl TryFrom<pb::ProcessProposalRequest> for ProcessProposalRequest {
    type Error = ConvertError;
    fn try_from(r: pb::ProcessProposalRequest) -> Result<ProcessProposalRequest> {
        Ok(ProcessProposalRequest {
            hash: hash("ProcessProposalRequest.hash", &r.hash)?,
            proposer: public_key("ProcessProposalRequest.proposer", &r.proposer)?,
            txs: r.txs,
            height: Height(r.height),
            time_ms: r.time_ms,
        })
    }
}

impl TryFrom<pb::ProcessProposalResponse> for ProposalStatus {
    type Error = ConvertError;
    fn try_from(r: pb::ProcessProposalResponse) -> Result<ProposalStatus> {
        match pb::ProposalStatus::try_from(r.status) {
            Ok(pb::ProposalStatus::Accept) => Ok(ProposalStatus::Accept),
            Ok(pb::ProposalStatus::Reject) => Ok(ProposalStatus::Reject),
            Ok(pb::ProposalStatus::Unspecified) => Err(ConvertError::new(
                "ProcessProposalResponse.status",
                "missing (PROPOSAL_STATUS_UNSPECIFIED)",
            )),
            Err(_) => Err(ConvertError::new(
                "ProcessProposalResponse.status",
                format!("unknown status {}", r.status),
            )),
        }
    }
}

impl TryFrom<pb::FinalizeBlockRequest> for FinalizeBlockRequest {
    type Error = ConvertError;
    fn try_from(r: pb::FinalizeBlockRequest) -> Result<FinalizeBlockRequest> {
        const M: &str = "FinalizeBlockRequest";
        let misbehavior = r
            .misbehavior
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let field = format!("{M}.misbehavior[{i}]");
                let kind = match pb::MisbehaviorKind::try_from(m.kind) {
                    Ok(pb::MisbehaviorKind::Equivocation) => MisbehaviorKind::Equivocation,
                    Ok(pb::MisbehaviorKind::Downtime) => MisbehaviorKind::Downtime,
                    Ok(pb::MisbehaviorKind::Unspecified) => {
                        return Err(ConvertError::new(format!("{field}.kind"), "missing (UNSPECIFIED)"));
                    }
                    Err(_) => {
                        return Err(ConvertError::new(
                            format!("{field}.kind"),
                            format!("unknown kind {}", m.kind),
                        ));
                    }
                };
                Ok(Misbehavior {
                    kind,
                    validator: public_key(&format!("{field}.validator"), &m.validator)?,
                    height: Height(m.height),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let decided_last_commit = r
            .decided_last_commit
            .map(|c| {
                let signers = c
                    .signers
                    .iter()
                    .enumerate()
                    .map(|(i, k)| public_key(&format!("{M}.decided_last_commit.signers[{i}]"), k))
                    .collect::<Result<Vec<_>>>()?;
                Ok(CommitInfo { height: Height(c.height), signers })
            })
            .transpose()?;
        Ok(FinalizeBlockRequest {
            hash: hash(&format!("{M}.hash"), &r.hash)?,
            proposer: public_key(&format!("{M}.proposer"), &r.proposer)?,
            txs: r.txs,
            height: Height(r.height),
            time_ms: r.time_ms,
            misbehavior,
            decided_last_commit,
        })
    }
}

impl TryFrom<pb::FinalizeBlockResponse> for FinalizeBlockResponse {
    type Error = ConvertError;
    fn try_from(r: pb::FinalizeBlockResponse) -> Result<FinalizeBlockResponse> {
        const M: &str = "FinalizeBlockResponse";
        Ok(FinalizeBlockResponse {
            app_hash: hash(&format!("{M}.app_hash"), &r.app_hash)?,
            validator_updates: validators(&format!("{M}.validator_updates"), &r.validator_updates)?,
            consensus_param_updates: match &r.consensus_param_updates {
                Some(p) => Some(consensus_params(&format!("{M}.consensus_param_updates"), p)?),
                None => None,
            },
            events: r.events.into_iter().map(event).collect(),
            tx_results: r.tx_results.into_iter().map(tx_result).collect(),
        })
    }
}

impl TryFrom<pb::CommitResponse> for CommitResponse {
    type Error = ConvertError;
    fn try_from(r: pb::CommitResponse) -> Result<CommitResponse> {
        Ok(CommitResponse { retain_height: Height(r.retain_height) })
    }
}

impl TryFrom<pb::QueryRequest> for QueryRequest {
    type Error = ConvertError;
    fn try_from(r: pb::QueryRequest) -> Result<QueryRequest> {
        Ok(QueryRequest { path: r.path, data: r.data, height: Height(r.height), prove: r.prove })
    }
}

impl TryFrom<pb::QueryResponse> for QueryResponse {
    type Error = ConvertError;
    fn try_from(r: pb::QueryResponse) -> Result<QueryResponse> {
        Ok(QueryResponse {
            code: r.code,
            log: r.log,
            key: r.key,
            value: r.value,
            proof: r.proof,
            height: Height(r.height),
        })
    }
}

/// `ListSnapshotsResponse` has no domain struct: the trait returns the list.
pub fn list_snapshots_response(r: &pb::ListSnapshotsResponse) -> Result<Vec<Snapshot>> {
    r.snapshots
        .iter()
        .enumerate()
        .map(|(i, s)| snapshot(&format!("ListSnapshotsResponse.snapshots[{i}]"), s))
        .collect()
}

/// `OfferSnapshotRequest` has no domain struct: the trait takes its two fields.
pub fn offer_snapshot_request(r: &pb::OfferSnapshotRequest) -> Result<(Snapshot, Hash)> {
    let s = required("OfferSnapshotRequest.snapshot", r.snapshot.as_ref())?;
    Ok((snapshot("OfferSnapshotRequest.snapshot", s)?, hash("OfferSnapshotRequest.app_hash", &r.app_hash)?))
}

impl TryFrom<pb::OfferSnapshotResponse> for OfferSnapshotResult {
    type Error = ConvertError;
    fn try_from(r: pb::OfferSnapshotResponse) -> Result<OfferSnapshotResult> {
        const F: &str = "OfferSnapshotResponse.result";
        match pb::OfferSnapshotResult::try_from(r.result) {
            Ok(pb::OfferSnapshotResult::Accept) => Ok(OfferSnapshotResult::Accept),
            Ok(pb::OfferSnapshotResult::Abort) => Ok(OfferSnapshotResult::Abort),
            Ok(pb::OfferSnapshotResult::Reject) => Ok(OfferSnapshotResult::Reject),
            Ok(pb::OfferSnapshotResult::RejectFormat) => Ok(OfferSnapshotResult::RejectFormat),
            Ok(pb::OfferSnapshotResult::Unspecified) => Err(ConvertError::new(F, "missing (UNSPECIFIED)")),
            Err(_) => Err(ConvertError::new(F, format!("unknown result {}", r.result))),
        }
    }
}

impl TryFrom<pb::LoadSnapshotChunkRequest> for LoadSnapshotChunkRequest {
    type Error = ConvertError;
    fn try_from(r: pb::LoadSnapshotChunkRequest) -> Result<LoadSnapshotChunkRequest> {
        Ok(LoadSnapshotChunkRequest { height: Height(r.height), format: r.format, chunk: r.chunk })
    }
}

impl TryFrom<pb::ApplySnapshotChunkRequest> for ApplySnapshotChunkRequest {
    type Error = ConvertError;
    fn try_from(r: pb::ApplySnapshotChunkRequest) -> Result<ApplySnapshotChunkRequest> {
        Ok(ApplySnapshotChunkRequest { index: r.index, chunk: r.chunk, sender: r.sender })
    }
}

impl TryFrom<pb::ApplySnapshotChunkResponse> for ApplySnapshotChunkResult {
    type Error = ConvertError;
    fn try_from(r: pb::ApplySnapshotChunkResponse) -> Result<ApplySnapshotChunkResult> {
        const F: &str = "ApplySnapshotChunkResponse.result";
        match pb::ApplySnapshotChunkResult::try_from(r.result) {
            Ok(pb::ApplySnapshotChunkResult::Accept) => Ok(ApplySnapshotChunkResult::Accept),
            Ok(pb::ApplySnapshotChunkResult::Abort) => Ok(ApplySnapshotChunkResult::Abort),
            Ok(pb::ApplySnapshotChunkResult::Retry) => Ok(ApplySnapshotChunkResult::Retry),
            Ok(pb::ApplySnapshotChunkResult::RetrySnapshot) => Ok(ApplySnapshotChunkResult::RetrySnapshot),
            Ok(pb::ApplySnapshotChunkResult::RejectSnapshot) => Ok(ApplySnapshotChunkResult::RejectSnapshot),
            Ok(pb::ApplySnapshotChunkResult::Unspecified) => {
                Err(ConvertError::new(F, "missing (UNSPECIFIED)"))
            }
            Err(_) => Err(ConvertError::new(F, format!("unknown result {}", r.result))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init_chain() -> InitChainRequest {
        InitChainRequest {
            chain_id: ChainId::new("test-1").unwrap(),
            time_ms: 5,
            initial_height: Height(1),
            consensus_params: ConsensusParams {
                engine_switch: Some(EngineSwitch { engine: EngineKind::Snow, height: Height(100) }),
                ..ConsensusParams::default()
            },
            validators: vec![Validator { public_key: PublicKey([3; 32]), power: 10 }],
            app_state: b"{}".to_vec(),
        }
    }

    #[test]
    fn init_chain_round_trips() {
        let req = init_chain();
        let back = InitChainRequest::try_from(pb::InitChainRequest::from(req.clone())).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn finalize_block_response_round_trips() {
        let resp = FinalizeBlockResponse {
            events: vec![Event::new("block").attr("a", "b")],
            tx_results: vec![TxResult { code: 3, log: "bad".into(), ..TxResult::default() }],
            validator_updates: vec![Validator { public_key: PublicKey([9; 32]), power: 0 }],
            consensus_param_updates: Some(ConsensusParams::default()),
            app_hash: Hash([4; 32]),
        };
        let back = FinalizeBlockResponse::try_from(pb::FinalizeBlockResponse::from(resp.clone())).unwrap();
        assert_eq!(back, resp);
    }

    #[test]
    fn missing_chain_id_names_the_field() {
        let mut p = pb::InitChainRequest::from(init_chain());
        p.chain_id.clear();
        let err = InitChainRequest::try_from(p).unwrap_err();
        assert_eq!(err.field, "InitChainRequest.chain_id");
        assert!(err.to_string().starts_with("InitChainRequest.chain_id: missing"), "{err}");
    }

    #[test]
    fn missing_consensus_params_names_the_field() {
        let mut p = pb::InitChainRequest::from(init_chain());
        p.consensus_params = None;
        let err = InitChainRequest::try_from(p).unwrap_err();
        assert_eq!(err.field, "InitChainRequest.consensus_params");
    }

    #[test]
    fn unspecified_engine_is_rejected() {
        let mut p = pb::InitChainRequest::from(init_chain());
        if let Some(params) = p.consensus_params.as_mut() {
            params.engine = 0;
        }
        let err = InitChainRequest::try_from(p).unwrap_err();
        assert_eq!(err.field, "InitChainRequest.consensus_params.engine");
    }

    #[test]
    fn short_validator_key_names_index() {
        let mut p = pb::InitChainRequest::from(init_chain());
        p.validators[0].public_key.truncate(31);
        let err = InitChainRequest::try_from(p).unwrap_err();
        assert_eq!(err.field, "InitChainRequest.validators[0].public_key");
        assert!(err.reason.contains("expected 32 bytes, got 31"), "{err}");
    }

    #[test]
    fn finalize_block_request_needs_a_hash() {
        let p = pb::FinalizeBlockRequest { proposer: vec![1; 32], ..Default::default() };
        let err = FinalizeBlockRequest::try_from(p).unwrap_err();
        assert_eq!(err.to_string(), "FinalizeBlockRequest.hash: missing (expected 32 bytes)");
    }

    #[test]
    fn decided_last_commit_round_trips_and_a_short_signer_names_its_index() {
        let req = FinalizeBlockRequest {
            txs: vec![b"t".to_vec()],
            hash: Hash([1; 32]),
            height: Height(5),
            time_ms: 9,
            proposer: PublicKey([2; 32]),
            misbehavior: vec![Misbehavior {
                kind: MisbehaviorKind::Equivocation,
                validator: PublicKey([3; 32]),
                height: Height(4),
            }],
            decided_last_commit: Some(CommitInfo {
                height: Height(4),
                signers: vec![PublicKey([3; 32]), PublicKey([4; 32])],
            }),
        };
        let back = FinalizeBlockRequest::try_from(pb::FinalizeBlockRequest::from(req.clone())).unwrap();
        assert_eq!(back, req);
        let none = FinalizeBlockRequest { decided_last_commit: None, ..req.clone() };
        let back = FinalizeBlockRequest::try_from(pb::FinalizeBlockRequest::from(none.clone())).unwrap();
        assert_eq!(back.decided_last_commit, None, "absent stays absent, not an empty list");
        let mut p = pb::FinalizeBlockRequest::from(req);
        if let Some(c) = p.decided_last_commit.as_mut() {
            c.signers[1].truncate(5);
        }
        let err = FinalizeBlockRequest::try_from(p).unwrap_err();
        assert_eq!(err.field, "FinalizeBlockRequest.decided_last_commit.signers[1]");
    }

    #[test]
    fn unspecified_proposal_status_is_rejected() {
        let err = ProposalStatus::try_from(pb::ProcessProposalResponse { status: 0 }).unwrap_err();
        assert_eq!(err.field, "ProcessProposalResponse.status");
        assert_eq!(
            ProposalStatus::try_from(pb::ProcessProposalResponse::from(ProposalStatus::Reject)).unwrap(),
            ProposalStatus::Reject
        );
    }

    #[test]
    fn convert_error_becomes_invalid_argument() {
        let e: AppError = ConvertError::new("X.y", "missing (required)").into();
        assert_eq!(e, AppError::InvalidArgument("X.y: missing (required)".into()));
    }
}
