//! [`KvStore`], the `Application`.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use cairn_abci::*;
use cairn_primitives::Height;

use crate::state::State;
use crate::tx::{self, code};

/// Largest state file `--state` will read.
const MAX_STATE_FILE_BYTES: usize = 1 << 30;

#[derive(Debug, Default)]
struct Inner {
    /// Whether InitChain ran (or a state file was loaded).
    initialized: bool,
    committed: State,
    /// The state `finalize_block` produced, until `commit`.
    pending: Option<State>,
}

/// The kvstore application: `key=value` writes and `val:<hex>!<power>` validator updates over an in-memory
/// [`State`], optionally saved to a file on every commit.
#[derive(Debug, Default)]
pub struct KvStore {
    inner: Mutex<Inner>,
    state_file: Option<PathBuf>,
}

impl KvStore {
    /// An empty, in-memory kvstore (waits for `init_chain`).
    pub fn new() -> KvStore {
        KvStore::default()
    }

    /// A kvstore that saves its committed state to `path` on every commit, resuming from it if it exists.
    pub fn with_state_file(path: impl Into<PathBuf>) -> Result<KvStore, AppError> {
        let path = path.into();
        let mut inner = Inner::default();
        match std::fs::read(&path) {
            Ok(bytes) => {
                inner.committed = cairn_primitives::decode(&bytes, MAX_STATE_FILE_BYTES).map_err(|e| {
                    AppError::Internal(format!("state file {} is not a kvstore state: {e}", path.display()))
                })?;
                inner.initialized = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(AppError::Internal(format!("cannot read state file {}: {e}", path.display())));
            }
        }
        Ok(KvStore { inner: Mutex::new(inner), state_file: Some(path) })
    }

    fn lock(&self) -> AppResult<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| AppError::Internal("kvstore state lock poisoned".into()))
    }

    /// The committed state (for tests and tools).
    pub fn committed(&self) -> AppResult<State> {
        Ok(self.lock()?.committed.clone())
    }

    fn save(&self, state: &State) -> AppResult<()> {
        let Some(path) = &self.state_file else { return Ok(()) };
        let tmp = path.with_extension("tmp");
        let bytes = cairn_primitives::encode(state);
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| AppError::Internal(format!("cannot write state file {}: {e}", path.display())))
    }
}

fn tx_event(tx: &tx::Tx) -> Event {
    match tx {
        tx::Tx::Set { key, value } => {
            Event::new("kv.set").attr("key", hex::encode(key)).attr("value_len", value.len().to_string())
        }
        tx::Tx::Validator { public_key, power } => Event::new("kv.validator")
            .attr("public_key", public_key.to_hex())
            .attr("power", power.to_string()),
    }
}

#[async_trait]
impl Application for KvStore {
    async fn info(&self, _req: InfoRequest) -> AppResult<InfoResponse> {
        let inner = self.lock()?;
        Ok(InfoResponse {
            data: "kvstore".into(),
            app_version: 1,
            last_height: Height(inner.committed.height),
            last_app_hash: inner.committed.app_hash(),
        })
    }

    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        let mut inner = self.lock()?;
        if inner.initialized {
            return Err(AppError::OutOfOrder("InitChain called on an initialized kvstore".into()));
        }
        let mut state = State { height: req.initial_height.0.max(1) - 1, ..State::default() };
        for v in &req.validators {
            if v.power > 0 {
                state.validators.insert(v.public_key, v.power);
            }
        }
        let app_hash = state.app_hash();
        self.save(&state)?;
        inner.committed = state;
        inner.initialized = true;
        Ok(InitChainResponse { consensus_params: None, validators: Vec::new(), app_hash })
    }

    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        Ok(match tx::parse(&req.tx) {
            Ok(_) => {
                CheckTxResponse { code: code::OK, gas_wanted: req.tx.len() as u64, ..Default::default() }
            }
            Err(e) => CheckTxResponse { code: e.code, log: e.reason, ..Default::default() },
        })
    }

    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        // Drop malformed txs; keep the rest in order while they fit.
        let mut budget = req.max_tx_bytes;
        let mut txs = Vec::new();
        for t in req.txs {
            if tx::parse(&t).is_err() {
                continue;
            }
            let len = t.len() as u64;
            if len > budget {
                break;
            }
            budget -= len;
            txs.push(t);
        }
        Ok(PrepareProposalResponse { txs })
    }

    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        Ok(if req.txs.iter().all(|t| tx::parse(t).is_ok()) {
            ProposalStatus::Accept
        } else {
            ProposalStatus::Reject
        })
    }

    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        let mut inner = self.lock()?;
        if !inner.initialized {
            return Err(AppError::OutOfOrder("FinalizeBlock before InitChain".into()));
        }
        if let Some(p) = &inner.pending {
            return Err(AppError::OutOfOrder(format!(
                "FinalizeBlock at height {} while block {} awaits Commit",
                req.height, p.height
            )));
        }
        let expected = inner.committed.height + 1;
        if req.height.0 != expected {
            return Err(AppError::OutOfOrder(format!(
                "FinalizeBlock at height {}, expected {expected}",
                req.height
            )));
        }
        let before = &inner.committed;
        let mut state = before.clone();
        state.height = req.height.0;
        let mut tx_results = Vec::with_capacity(req.txs.len());
        for t in &req.txs {
            let gas = t.len() as u64;
            let result = tx::parse(t).and_then(|parsed| {
                let event = tx_event(&parsed);
                state.apply(parsed).map(|()| event)
            });
            tx_results.push(match result {
                Ok(event) => {
                    TxResult { gas_wanted: gas, gas_used: gas, events: vec![event], ..TxResult::default() }
                }
                Err(e) => TxResult { code: e.code, log: e.reason, gas_wanted: gas, ..TxResult::default() },
            });
        }
        let validator_updates = state.validator_updates_since(before);
        let app_hash = state.app_hash();
        // The consensus facts a block brings (an app with stake would slash and count misses from them).
        let mut block_event = Event::new("kv.block").attr("height", req.height.to_string());
        if let Some(commit) = &req.decided_last_commit {
            block_event = block_event.attr("last_commit_signers", commit.signers.len().to_string());
        }
        if !req.misbehavior.is_empty() {
            block_event = block_event.attr("misbehavior", req.misbehavior.len().to_string());
        }
        let events = vec![block_event];
        inner.pending = Some(state);
        Ok(FinalizeBlockResponse {
            events,
            tx_results,
            validator_updates,
            consensus_param_updates: None,
            app_hash,
        })
    }

    async fn commit(&self) -> AppResult<CommitResponse> {
        let mut inner = self.lock()?;
        let Some(state) = inner.pending.take() else {
            return Err(AppError::OutOfOrder("Commit without a finalized block".into()));
        };
        if let Err(e) = self.save(&state) {
            inner.pending = Some(state);
            return Err(e);
        }
        inner.committed = state;
        Ok(CommitResponse { retain_height: Height(0) })
    }

    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        let inner = self.lock()?;
        let state = &inner.committed;
        let mut resp =
            QueryResponse { key: req.data.clone(), height: Height(state.height), ..Default::default() };
        if req.height.0 != 0 && req.height.0 != state.height {
            resp.code = code::BAD_HEIGHT;
            resp.log = format!("only the latest height ({}) is kept, asked for {}", state.height, req.height);
            return Ok(resp);
        }
        match req.path.as_str() {
            "/store" | "store" => match state.kv.get(&req.data) {
                Some(v) => {
                    resp.value = v.clone();
                    resp.log = "exists".into();
                }
                None => {
                    resp.code = code::NOT_FOUND;
                    resp.log = "key not found".into();
                }
            },
            "/validator" | "validator" => {
                let power = <[u8; 32]>::try_from(req.data.as_slice())
                    .ok()
                    .and_then(|k| state.validators.get(&cairn_primitives::PublicKey(k)));
                match power {
                    Some(p) => {
                        resp.value = p.to_string().into_bytes();
                        resp.log = "exists".into();
                    }
                    None => {
                        resp.code = code::NOT_FOUND;
                        resp.log = "not a validator (data must be the 32-byte public key)".into();
                    }
                }
            }
            other => {
                resp.code = code::UNKNOWN_PATH;
                resp.log = format!("unknown query path {other:?}; use /store or /validator");
            }
        }
        Ok(resp)
    }
}
