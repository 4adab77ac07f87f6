//! [`ExecApp`]: the `Application` that routes signed txs to Wasm modules.
//!
//! Calls are serialized on one lock and run on tokio's blocking pool (execution is CPU-bound and synchronous).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use borsh::BorshDeserialize;
use cairn_abci::{
    AppError, AppResult, Application, CheckTxRequest, CheckTxResponse, CommitResponse, Event,
    FinalizeBlockRequest, FinalizeBlockResponse, InfoRequest, InfoResponse, InitChainRequest,
    InitChainResponse, PrepareProposalRequest, PrepareProposalResponse, ProcessProposalRequest,
    ProposalStatus, QueryRequest, QueryResponse, TxResult,
};
use cairn_primitives::{Address, Hash, Height, MAX_TX_BYTES, Message, PublicKey, Tx, Validator};
use lru::LruCache;

use crate::backend::{Backend, Batch, MemBackend, Overlay};
use crate::cache::ModuleCache;
use crate::genesis::Genesis;
use crate::instance::BlockEnv;
use crate::registry::{self, Params};
use crate::session::{Failure, Host, Session};
use crate::state_backend::StateBackend;
use crate::validate::Limits;
use crate::{ExecError, HostError, keys};

/// Tx result and CheckTx codes (0 is success).
pub mod codes {
    pub const DECODE: u32 = 1;
    pub const WRONG_CHAIN: u32 = 2;
    pub const BAD_SIGNATURE: u32 = 3;
    pub const BAD_NONCE: u32 = 4;
    pub const TOO_LARGE: u32 = 5;
    pub const FUEL_LIMIT: u32 = 6;
    pub const OUT_OF_FUEL: u32 = 7;
    pub const EXEC_FAILED: u32 = 8;
    pub const UNAUTHORIZED: u32 = 9;
    pub const BLOCK_FUEL: u32 = 10;
    pub const INVALID: u32 = 11;
    pub const NOT_READY: u32 = 12;
    pub const NOT_FOUND: u32 = 13;
}

/// Most messages in one tx.
pub const MAX_MESSAGES: usize = 64;
/// How far ahead of the committed next nonce CheckTx accepts a tx (pipelined submissions).
pub const MAX_NONCE_AHEAD: u64 = 10_000;
/// Signatures verified by CheckTx that FinalizeBlock need not verify again (by tx hash).
pub const VERIFIED_CACHE: usize = 200_000;

/// How an `ExecApp` runs.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    pub limits: Limits,
    /// Compiled modules kept in memory.
    pub cache_capacity: usize,
    /// Wasm stack bound in bytes (deep recursion traps).
    pub max_wasm_stack: usize,
    /// fsync every commit.
    pub fsync: bool,
    /// Versions of state kept for historical queries and proofs (0: all).
    pub prune_window: u64,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            limits: Limits::default(),
            cache_capacity: 64,
            max_wasm_stack: 512 * 1024,
            fsync: true,
            prune_window: 1_000,
        }
    }
}

struct Inner {
    host: Host,
    home: Option<PathBuf>,
    /// Genesis writes: staged with the first block (state versions start at height 1).
    genesis: Option<Arc<Batch>>,
    /// Height finalized and staged, waiting for `commit`.
    staged: Option<Height>,
    verified: LruCache<Hash, ()>,
}

/// The Wasm execution application. Cheap to clone (shared).
#[derive(Clone)]
pub struct ExecApp {
    inner: Arc<Mutex<Inner>>,
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

fn fail(code: u32, log: impl Into<String>) -> TxResult {
    TxResult { code, log: log.into(), ..TxResult::default() }
}

fn exec_code(e: &ExecError) -> u32 {
    match e {
        ExecError::OutOfFuel { .. } => codes::OUT_OF_FUEL,
        ExecError::Unauthorized(_) => codes::UNAUTHORIZED,
        ExecError::InvalidMessage(_) | ExecError::UnknownCode(_) | ExecError::UnknownInstance(_) => {
            codes::INVALID
        }
        _ => codes::EXEC_FAILED,
    }
}

impl ExecApp {
    /// Opens (or creates) an app in `home`: state in `home/state/state.redb`, compiled modules in `home/cache`.
    pub fn open(home: &Path, config: ExecConfig) -> Result<ExecApp, HostError> {
        let state_dir = home.join("state");
        std::fs::create_dir_all(&state_dir)
            .map_err(|source| HostError::CacheIo { path: state_dir.display().to_string(), source })?;
        let backend = StateBackend::open(
            &state_dir.join("state.redb"),
            cairn_state::StateConfig { prune_window: config.prune_window, fsync: config.fsync },
        )
        .map_err(HostError::Backend)?;
        let cache =
            ModuleCache::new(Some(&home.join("cache")), config.cache_capacity, config.max_wasm_stack)?;
        Ok(ExecApp::with_parts(Arc::new(backend), cache, Some(home.to_path_buf()), config))
    }

    /// An app over an in-memory state and cache (tests).
    pub fn in_memory(config: ExecConfig) -> Result<ExecApp, HostError> {
        let cache = ModuleCache::new(None, config.cache_capacity, config.max_wasm_stack)?;
        Ok(ExecApp::with_parts(Arc::new(MemBackend::new()), cache, None, config))
    }

    /// An app over any backend and cache.
    pub fn with_parts(
        backend: Arc<dyn Backend>,
        cache: ModuleCache,
        home: Option<PathBuf>,
        config: ExecConfig,
    ) -> ExecApp {
        let host = Host { cache: Arc::new(cache), base: backend, limits: config.limits };
        let cap = NonZeroUsize::new(VERIFIED_CACHE).unwrap_or(NonZeroUsize::MIN);
        let inner = Inner { host, home, genesis: None, staged: None, verified: LruCache::new(cap) };
        ExecApp { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the blocking pool with the app locked.
    async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Inner) -> R + Send + 'static,
    ) -> AppResult<R> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(internal)
    }

    /// Synchronous FinalizeBlock (benchmarks, in-process callers without a runtime).
    pub fn finalize_block_sync(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        self.lock().finalize_block(req)
    }

    pub fn commit_sync(&self) -> AppResult<CommitResponse> {
        self.lock().commit()
    }

    pub fn check_tx_sync(&self, req: CheckTxRequest) -> CheckTxResponse {
        self.lock().check_tx(&req.tx)
    }

    pub fn init_chain_sync(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        self.lock().init_chain(req)
    }

    pub fn query_sync(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        self.lock().query(req)
    }

    pub fn info_sync(&self) -> InfoResponse {
        self.lock().info()
    }

    /// The module cache (cold-start measurements).
    pub fn module_cache(&self) -> Arc<ModuleCache> {
        self.lock().host.cache.clone()
    }
}

impl Inner {
    /// Committed state as seen by CheckTx and queries: before the first block commits, the genesis writes.
    fn view(&self) -> Overlay {
        match &self.genesis {
            Some(g) => Overlay::with_shared(g.clone()),
            None => Overlay::default(),
        }
    }

    fn params(&self, overlay: &Overlay) -> Result<Params, HostError> {
        registry::load_params(overlay, &*self.host.base)?
            .ok_or_else(|| HostError::Genesis("the chain has no parameters: InitChain has not run".into()))
    }

    fn info(&self) -> InfoResponse {
        InfoResponse {
            data: "cairn-execution".into(),
            app_version: 1,
            last_height: self.host.base.version(),
            last_app_hash: self.host.base.root(),
        }
    }

    fn init_chain(&mut self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        let version = self.host.base.version();
        if version.0 > 0 {
            return Err(AppError::OutOfOrder(format!("the chain is already initialised (height {version})")));
        }
        if req.initial_height.0 > 1 {
            return Err(AppError::InvalidArgument(format!(
                "initial_height {} is not supported: ExecApp chains start at height 1",
                req.initial_height
            )));
        }
        let genesis = Genesis::parse(&req.app_state, self.home.as_deref(), self.host.limits.max_module_bytes)
            .map_err(|e| AppError::InvalidArgument(e.to_string()))?;
        let mut params = Params {
            chain_id: req.chain_id.as_str().to_string(),
            upload_permission: genesis.upload_permission.clone(),
            max_tx_fuel: genesis.max_tx_fuel,
            max_block_fuel: genesis.max_block_fuel,
            sybil_module: None,
        };
        let mut overlay = Overlay::new(Batch::new());
        registry::put(&mut overlay, keys::PARAMS.to_vec(), &params);
        let block = BlockEnv { chain_id: params.chain_id.clone(), height: 0, time_ms: req.time_ms };
        let zero = Address::default();
        for (i, m) in genesis.modules.iter().enumerate() {
            let label = &m.label;
            let mut s = Session::new(&self.host, overlay, block.clone(), zero, u64::MAX / 4);
            let r =
                s.store_code(&m.code).and_then(|id| s.instantiate(&zero, &id, label, m.admin, &m.init_msg));
            overlay = s.finish();
            let addr =
                r.map_err(|e| AppError::InvalidArgument(format!("genesis modules[{i}] ({label}): {e}")))?;
            if genesis.sybil_module.as_deref() == Some(label.as_str()) {
                params.sybil_module = Some(addr);
            }
        }
        registry::put(&mut overlay, keys::PARAMS.to_vec(), &params);
        // The Sybil module's genesis set, if it reports one, is the chain's initial validator set.
        let (validators, overlay, _events) =
            self.sybil_updates(&params, overlay, &block).map_err(internal)?;
        let batch = overlay.into_batch();
        let app_hash = self.host.base.stage(Height(1), batch.clone()).map_err(internal)?;
        self.host.base.discard_staged();
        self.genesis = Some(Arc::new(batch));
        Ok(InitChainResponse {
            consensus_params: None,
            validators: validators.into_iter().filter(|v| v.power > 0).collect(),
            app_hash,
        })
    }

    /// Validator updates from the active Sybil module. A failing module yields no updates and an event.
    fn sybil_updates(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
    ) -> Result<(Vec<Validator>, Overlay, Vec<Event>), HostError> {
        let Some(sybil) = params.sybil_module else { return Ok((Vec::new(), overlay, Vec::new())) };
        let mut s = Session::new(&self.host, overlay, block.clone(), Address::default(), params.max_tx_fuel);
        let r = s.execute_entry(&sybil, "validator_set_updates", &[]);
        let mut events = s.take_events();
        let overlay = s.finish();
        let out = match r {
            Ok(out) => out,
            Err(Failure::Host(h)) => return Err(h),
            Err(Failure::Exec(e)) => {
                events.push(
                    Event::new("sybil_failed").attr("module", sybil.to_hex()).attr("error", e.to_string()),
                );
                return Ok((Vec::new(), overlay, events));
            }
        };
        match <Vec<([u8; 32], u64)>>::try_from_slice(&out) {
            Ok(list) => {
                // A key that is not a valid ed25519 point could never sign a vote: drop it rather than hand the
                // engine a validator set it must reject.
                let mut v = Vec::with_capacity(list.len());
                for (pk, power) in list {
                    let public_key = PublicKey(pk);
                    if public_key.validate().is_ok() {
                        v.push(Validator { public_key, power });
                    } else {
                        events.push(
                            Event::new("sybil_invalid_key")
                                .attr("module", sybil.to_hex())
                                .attr("key", public_key.to_hex()),
                        );
                    }
                }
                Ok((v, overlay, events))
            }
            Err(e) => {
                events.push(
                    Event::new("sybil_failed")
                        .attr("module", sybil.to_hex())
                        .attr("error", format!("malformed validator_set_updates output: {e}")),
                );
                Ok((Vec::new(), overlay, events))
            }
        }
    }

    fn check_tx(&mut self, bytes: &[u8]) -> CheckTxResponse {
        let reject = |code: u32, log: String| CheckTxResponse { code, log, ..CheckTxResponse::default() };
        if bytes.len() > MAX_TX_BYTES {
            return reject(
                codes::TOO_LARGE,
                format!("tx is {} bytes, over the limit of {MAX_TX_BYTES}", bytes.len()),
            );
        }
        let tx = match Tx::from_bytes(bytes) {
            Ok(tx) => tx,
            Err(e) => return reject(codes::DECODE, format!("tx does not decode: {e}")),
        };
        let overlay = self.view();
        let params = match self.params(&overlay) {
            Ok(p) => p,
            Err(e) => return reject(codes::NOT_READY, e.to_string()),
        };
        let body = &tx.body;
        if body.chain_id.as_str() != params.chain_id {
            return reject(
                codes::WRONG_CHAIN,
                format!("tx is for chain {:?}, this chain is {:?}", body.chain_id.as_str(), params.chain_id),
            );
        }
        if body.fuel_limit > params.max_tx_fuel {
            return reject(
                codes::FUEL_LIMIT,
                format!(
                    "fuel limit {} is over the chain's maximum of {}",
                    body.fuel_limit, params.max_tx_fuel
                ),
            );
        }
        if body.messages.len() > MAX_MESSAGES {
            return reject(
                codes::INVALID,
                format!("{} messages, over the limit of {MAX_MESSAGES}", body.messages.len()),
            );
        }
        let next = match registry::next_nonce(&overlay, &*self.host.base, &body.sender.0) {
            Ok(n) => n,
            Err(e) => return reject(codes::NOT_READY, e.to_string()),
        };
        if body.nonce < next {
            return reject(
                codes::BAD_NONCE,
                format!("nonce {} was already used: the sender's next nonce is {next}", body.nonce),
            );
        }
        if body.nonce > next.saturating_add(MAX_NONCE_AHEAD) {
            return reject(
                codes::BAD_NONCE,
                format!("nonce {} is too far ahead of the sender's next nonce {next}", body.nonce),
            );
        }
        // A tx verified before (a recheck after a commit, or a resubmission) is not verified again.
        let hash = Hash::digest(bytes);
        if !self.verified.contains(&hash) {
            if let Err(e) = tx.verify() {
                return reject(codes::BAD_SIGNATURE, e.to_string());
            }
            self.verified.put(hash, ());
        }
        CheckTxResponse {
            code: 0,
            log: String::new(),
            gas_wanted: body.fuel_limit,
            sender: body.sender.0.to_vec(),
            priority: 0,
        }
    }

    fn finalize_block(&mut self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        let expected = self.host.base.version().next();
        if req.height != expected {
            return Err(AppError::OutOfOrder(format!(
                "FinalizeBlock for height {}, the app expects {expected}",
                req.height
            )));
        }
        self.host.base.discard_staged();
        self.staged = None;
        let mut overlay = self.view();
        let params = self.params(&overlay).map_err(internal)?;
        let block =
            BlockEnv { chain_id: params.chain_id.clone(), height: req.height.0, time_ms: req.time_ms };
        let mut block_fuel_left = params.max_block_fuel;
        let mut tx_results = Vec::with_capacity(req.txs.len());
        for bytes in &req.txs {
            let (result, o) =
                self.run_tx(overlay, &params, &block, bytes, &mut block_fuel_left).map_err(internal)?;
            overlay = o;
            tx_results.push(result);
        }

        // end_block hooks, in address order.
        let mut events = Vec::new();
        let prefix = [keys::END_BLOCK_PREFIX];
        let end = keys::prefix_end(&prefix);
        let mut cursor = prefix.to_vec();
        let height_msg = borsh::to_vec(&req.height.0).unwrap_or_default();
        while let Some((k, _)) =
            overlay.next_entry(&*self.host.base, &cursor, end.as_deref()).map_err(internal)?
        {
            cursor = k.clone();
            cursor.push(0);
            let Some(addr) = k.get(1..33).and_then(|a| <[u8; 32]>::try_from(a).ok()).map(Address) else {
                continue;
            };
            let mut s =
                Session::new(&self.host, overlay, block.clone(), Address::default(), params.max_tx_fuel);
            let r = s.execute_entry(&addr, "end_block", &height_msg);
            events.extend(s.take_events());
            overlay = s.finish();
            match r {
                Ok(_) => {}
                Err(Failure::Host(h)) => return Err(internal(h)),
                Err(Failure::Exec(e)) => events.push(
                    Event::new("end_block_failed").attr("module", addr.to_hex()).attr("error", e.to_string()),
                ),
            }
        }

        let (validator_updates, overlay, sybil_events) =
            self.sybil_updates(&params, overlay, &block).map_err(internal)?;
        events.extend(sybil_events);
        let app_hash = self.host.base.stage(req.height, overlay.into_batch()).map_err(internal)?;
        self.staged = Some(req.height);
        Ok(FinalizeBlockResponse {
            events,
            tx_results,
            validator_updates,
            consensus_param_updates: None,
            app_hash,
        })
    }

    /// Executes one tx; `Err` only for host failures (the block cannot be executed).
    fn run_tx(
        &mut self,
        mut overlay: Overlay,
        params: &Params,
        block: &BlockEnv,
        bytes: &[u8],
        block_fuel_left: &mut u64,
    ) -> Result<(TxResult, Overlay), HostError> {
        let tx = match Tx::from_bytes(bytes) {
            Ok(tx) => tx,
            Err(e) => return Ok((fail(codes::DECODE, format!("tx does not decode: {e}")), overlay)),
        };
        let body = &tx.body;
        if body.chain_id.as_str() != params.chain_id {
            return Ok((
                fail(codes::WRONG_CHAIN, format!("tx is for chain {:?}", body.chain_id.as_str())),
                overlay,
            ));
        }
        if self.verified.pop(&Hash::digest(bytes)).is_none()
            && let Err(e) = tx.verify()
        {
            return Ok((fail(codes::BAD_SIGNATURE, e.to_string()), overlay));
        }
        let next = registry::next_nonce(&overlay, &*self.host.base, &body.sender.0)?;
        if body.nonce != next {
            return Ok((fail(codes::BAD_NONCE, format!("nonce {}, expected {next}", body.nonce)), overlay));
        }
        if body.messages.len() > MAX_MESSAGES {
            return Ok((fail(codes::INVALID, format!("more than {MAX_MESSAGES} messages")), overlay));
        }
        let fuel = body.fuel_limit.min(params.max_tx_fuel).min(*block_fuel_left);
        if fuel == 0 && body.fuel_limit > 0 {
            return Ok((fail(codes::BLOCK_FUEL, "the block's fuel limit is used up"), overlay));
        }
        // The nonce is spent from here on, whatever the messages do.
        registry::put(&mut overlay, keys::nonce(&body.sender.0), &next.saturating_add(1));

        let sender = Address::from(body.sender);
        let mut s = Session::new(&self.host, overlay, block.clone(), sender, fuel);
        let mark = s.begin();
        let mut outputs: Vec<Vec<u8>> = Vec::with_capacity(body.messages.len());
        let mut failure = None;
        for (i, msg) in body.messages.iter().enumerate() {
            let r = match msg {
                Message::Upload { code } => {
                    s.upload(&sender, code, &params.upload_permission).map(|id| id.0.to_vec())
                }
                Message::Instantiate { code_id, label, admin, msg } => {
                    s.instantiate(&sender, code_id, label, *admin, msg).map(|a| a.0.to_vec())
                }
                Message::Execute { contract, msg } => s.execute(&sender, contract, msg),
                Message::Migrate { contract, code_id, msg } => s.migrate(&sender, contract, code_id, msg),
            };
            match r {
                Ok(out) => outputs.push(out),
                Err(Failure::Host(h)) => return Err(h),
                Err(Failure::Exec(e)) => {
                    failure = Some((i, e));
                    break;
                }
            }
        }
        s.end(mark, failure.is_none());
        let used = s.fuel_used();
        *block_fuel_left = block_fuel_left.saturating_sub(used);
        let events = s.take_events();
        let overlay = s.finish();
        let result = match failure {
            None => TxResult {
                code: 0,
                log: String::new(),
                data: borsh::to_vec(&outputs).unwrap_or_default(),
                gas_wanted: body.fuel_limit,
                gas_used: used,
                events,
            },
            Some((i, e)) => TxResult {
                code: exec_code(&e),
                log: format!("message {i} failed: {e}"),
                data: Vec::new(),
                gas_wanted: body.fuel_limit,
                gas_used: used,
                events: Vec::new(),
            },
        };
        Ok((result, overlay))
    }

    fn commit(&mut self) -> AppResult<CommitResponse> {
        if self.staged.is_none() {
            return Err(AppError::OutOfOrder("Commit without a FinalizeBlock".into()));
        }
        self.host.base.commit().map_err(internal)?;
        self.staged = None;
        self.genesis = None;
        Ok(CommitResponse { retain_height: Height(0) })
    }

    fn query(&mut self, req: QueryRequest) -> AppResult<QueryResponse> {
        let latest = self.host.base.version();
        let height = if req.height.0 == 0 { latest } else { req.height };
        let mut resp = QueryResponse { height, ..QueryResponse::default() };
        let (kind, arg) = req.path.split_once('/').unwrap_or((req.path.as_str(), ""));
        let not_found = |mut r: QueryResponse, what: String| {
            r.code = codes::NOT_FOUND;
            r.log = what;
            r
        };
        let bad = |mut r: QueryResponse, what: String| {
            r.code = codes::INVALID;
            r.log = what;
            r
        };
        if height > latest {
            return Ok(bad(resp, format!("height {height} is not committed yet (the latest is {latest})")));
        }
        let overlay = self.view();
        let base = &*self.host.base;
        match kind {
            "store" => {
                let Ok(key) = hex::decode(arg) else {
                    return Ok(bad(resp, format!("store/<key hex>: bad hex {arg:?}")));
                };
                let (value, proof) = if req.prove {
                    base.prove(&key, height).map_err(internal)?
                } else {
                    (base.get_at(&key, height).map_err(internal)?, Vec::new())
                };
                resp.proof = proof;
                resp.key = key;
                match value {
                    Some(v) => resp.value = v,
                    None if req.prove => {}
                    None => return Ok(not_found(resp, "key not found".into())),
                }
                Ok(resp)
            }
            "nonce" => {
                let Ok(pk) = PublicKey::from_hex(arg) else {
                    return Ok(bad(resp, format!("nonce/<public key hex>: {arg:?}")));
                };
                let n = match base.get_at(&keys::nonce(&pk.0), height).map_err(internal)? {
                    Some(b) => registry::decode::<u64>(&b, "nonce").map_err(internal)?,
                    None => 0,
                };
                resp.key = pk.0.to_vec();
                resp.value = borsh::to_vec(&n).unwrap_or_default();
                Ok(resp)
            }
            "label" => match base.get_at(&keys::label(arg), height).map_err(internal)? {
                Some(v) => {
                    resp.key = arg.as_bytes().to_vec();
                    resp.value = v;
                    Ok(resp)
                }
                None => Ok(not_found(resp, format!("no module labelled {arg:?}"))),
            },
            "instance" => {
                let Ok(addr) = Address::from_hex(arg) else {
                    return Ok(bad(resp, format!("instance/<address hex>: {arg:?}")));
                };
                match registry::load_instance(&overlay, base, &addr).map_err(internal)? {
                    Some(info) => {
                        resp.value = serde_json::to_vec(&info).unwrap_or_default();
                        Ok(resp)
                    }
                    None => Ok(not_found(resp, format!("no module instance at {arg}"))),
                }
            }
            "module" => {
                if height != latest {
                    return Ok(bad(resp, "module queries run at the latest height only".into()));
                }
                let Ok(addr) = Address::from_hex(arg) else {
                    return Ok(bad(resp, format!("module/<address hex>: {arg:?}")));
                };
                let params = match self.params(&overlay) {
                    Ok(p) => p,
                    Err(e) => return Ok(bad(resp, e.to_string())),
                };
                let block = BlockEnv { chain_id: params.chain_id.clone(), height: height.0, time_ms: 0 };
                let mut s = Session::new(&self.host, overlay, block, Address::default(), params.max_tx_fuel);
                match s.query(&addr, &req.data) {
                    Ok(v) => {
                        resp.value = v;
                        Ok(resp)
                    }
                    Err(Failure::Host(h)) => Err(internal(h)),
                    Err(Failure::Exec(e)) => {
                        resp.code = exec_code(&e);
                        resp.log = e.to_string();
                        Ok(resp)
                    }
                }
            }
            _ => Ok(bad(
                resp,
                format!(
                    "unknown query path {:?}: use module/, label/, store/, nonce/ or instance/",
                    req.path
                ),
            )),
        }
    }
}

#[async_trait]
impl Application for ExecApp {
    async fn info(&self, _req: InfoRequest) -> AppResult<InfoResponse> {
        self.blocking(|i| i.info()).await
    }

    async fn init_chain(&self, req: InitChainRequest) -> AppResult<InitChainResponse> {
        self.blocking(move |i| i.init_chain(req)).await?
    }

    async fn check_tx(&self, req: CheckTxRequest) -> AppResult<CheckTxResponse> {
        self.blocking(move |i| i.check_tx(&req.tx)).await
    }

    async fn prepare_proposal(&self, req: PrepareProposalRequest) -> AppResult<PrepareProposalResponse> {
        // Mempool order, cut at the byte limit; txs that cannot fit the tx limit are left out.
        let mut total = 0u64;
        let mut txs = Vec::with_capacity(req.txs.len());
        for tx in req.txs {
            let len = tx.len() as u64;
            if tx.len() > MAX_TX_BYTES || total.saturating_add(len) > req.max_tx_bytes {
                continue;
            }
            total += len;
            txs.push(tx);
        }
        let ordered = order_by_sender_nonce(txs);
        let txs = self
            .blocking(move |i| {
                let overlay = i.view();
                let base = i.host.base.clone();
                hold_back_nonce_gaps(ordered, |pk| registry::next_nonce(&overlay, &*base, &pk.0).unwrap_or(0))
            })
            .await?;
        Ok(PrepareProposalResponse { txs })
    }

    async fn process_proposal(&self, req: ProcessProposalRequest) -> AppResult<ProposalStatus> {
        // Cheap, deterministic checks only: every tx must decode. Signatures and nonces are checked in
        // FinalizeBlock, where a bad tx fails alone.
        let ok = req.txs.iter().all(|t| Tx::from_bytes(t).is_ok());
        Ok(if ok { ProposalStatus::Accept } else { ProposalStatus::Reject })
    }

    async fn finalize_block(&self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        self.blocking(move |i| i.finalize_block(req)).await?
    }

    async fn commit(&self) -> AppResult<CommitResponse> {
        self.blocking(|i| i.commit()).await?
    }

    async fn query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
        self.blocking(move |i| i.query(req)).await?
    }
}

/// Puts each sender's txs in nonce order while keeping the slots the sender's txs occupied.
///
/// Gossip can deliver one sender's txs to the proposer out of order; FinalizeBlock requires the exact next nonce,
/// so a block `[n+1, n]` would fail `n+1`. Sorting within the sender's own slots fixes that without favouring any
/// sender over another. Undecodable txs keep their place (they fail alone in FinalizeBlock).
fn order_by_sender_nonce(txs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    use std::collections::BTreeMap;
    let mut slots: BTreeMap<PublicKey, Vec<(usize, u64)>> = BTreeMap::new();
    for (i, raw) in txs.iter().enumerate() {
        if let Ok(tx) = Tx::from_bytes(raw) {
            slots.entry(tx.body.sender).or_default().push((i, tx.body.nonce));
        }
    }
    let mut order: Vec<usize> = (0..txs.len()).collect();
    for entries in slots.values() {
        let mut by_nonce: Vec<(usize, u64)> = entries.clone();
        by_nonce.sort_by_key(|&(i, nonce)| (nonce, i));
        for (&(slot, _), &(src, _)) in entries.iter().zip(by_nonce.iter()) {
            order[slot] = src;
        }
    }
    let mut taken: Vec<Option<Vec<u8>>> = txs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| taken.get_mut(i).and_then(Option::take)).collect()
}

/// Keeps, per sender, only the run of txs whose nonces continue exactly from the sender's committed next nonce.
///
/// A tx after a gap (its predecessor has not reached this node yet) would fail in FinalizeBlock and be lost; left
/// out of the proposal it stays in the mempool and goes into a later block. Stale nonces and txs that do not
/// decode (which would make ProcessProposal reject the block) are left out as well; recheck evicts them.
fn hold_back_nonce_gaps(txs: Vec<Vec<u8>>, committed_next: impl Fn(&PublicKey) -> u64) -> Vec<Vec<u8>> {
    use std::collections::BTreeMap;
    let mut expected: BTreeMap<PublicKey, u64> = BTreeMap::new();
    txs.into_iter()
        .filter(|raw| {
            let Ok(tx) = Tx::from_bytes(raw) else { return false };
            let next = expected.entry(tx.body.sender).or_insert_with(|| committed_next(&tx.body.sender));
            if tx.body.nonce == *next {
                *next += 1;
                true
            } else {
                false
            }
        })
        .collect()
}

#[cfg(test)]
mod ordering_tests {
    use cairn_primitives::{Keypair, TxBody};

    use super::*;

    fn tx(key: &Keypair, nonce: u64) -> Vec<u8> {
        let body = TxBody {
            chain_id: "order-test".parse().expect("valid chain id"),
            sender: key.public(),
            nonce,
            fuel_limit: 1,
            messages: vec![],
        };
        Tx::sign(body, key).to_bytes()
    }

    #[test]
    fn each_senders_txs_are_put_in_nonce_order_within_their_slots() {
        let (a, b) = (Keypair::derived("order", 0), Keypair::derived("order", 1));
        let input = vec![tx(&a, 2), tx(&b, 7), b"garbage".to_vec(), tx(&a, 0), tx(&b, 5), tx(&a, 1)];
        let out = order_by_sender_nonce(input.clone());
        let expected = vec![
            input[3].clone(),
            input[4].clone(),
            input[2].clone(),
            input[5].clone(),
            input[1].clone(),
            input[0].clone(),
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn txs_after_a_nonce_gap_or_stale_are_held_back() {
        let (a, b) = (Keypair::derived("order", 0), Keypair::derived("order", 1));
        // a's committed next nonce is 3, b's is 0; a:5 follows a gap, a:2 is stale, b's run is complete.
        let input =
            vec![tx(&a, 2), tx(&a, 3), tx(&b, 0), tx(&a, 5), tx(&b, 1), b"garbage".to_vec(), tx(&a, 4)];
        let out = hold_back_nonce_gaps(input.clone(), |pk| if *pk == a.public() { 3 } else { 0 });
        assert_eq!(out, vec![input[1].clone(), input[2].clone(), input[4].clone(), input[6].clone()]);
    }
}
