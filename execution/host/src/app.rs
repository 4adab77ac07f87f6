//! [`ExecApp`]: the `Application` that routes signed txs to Wasm modules.
//!
//! Calls are serialized on one lock and run on tokio's blocking pool (execution is CPU-bound and synchronous).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use cairn_abci::{
    AppError, AppResult, Application, CheckTxRequest, CheckTxResponse, CommitResponse, FinalizeBlockRequest,
    FinalizeBlockResponse, InfoRequest, InfoResponse, InitChainRequest, InitChainResponse,
    PrepareProposalRequest, PrepareProposalResponse, ProcessProposalRequest, ProposalStatus, QueryRequest,
    QueryResponse, TxResult,
};
use cairn_primitives::{Address, Error as PrimitivesError, Hash, Height, MAX_TX_BYTES, PublicKey, Tx};
use lru::LruCache;

use crate::backend::{Backend, Batch, MemBackend, Overlay};
use crate::cache::ModuleCache;
use crate::fees::{self, FeeParams, Quota};
use crate::genesis::Genesis;
use crate::instance::BlockEnv;
use crate::registry::{self, Params};
use crate::session::{Failure, Host, Session};
use crate::state_backend::StateBackend;
use crate::validate::Limits;
use crate::{ExecError, HostError, keys};

mod begin_block;
mod block;
mod deposits;
pub mod gov;
mod proposal;
mod quota;

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
    /// The tx's writes do not fit what the block has left of its write budget (its writes are dropped).
    pub const BLOCK_WRITES: u32 = 14;
    /// The sender cannot pay `fuel_limit × price` (or the fee overflows, or the chain has no fee token).
    pub const INSUFFICIENT_FEE: u32 = 15;
    /// The price is below the chain's (or, in CheckTx, this node's) minimum.
    pub const PRICE_TOO_LOW: u32 = 16;
    /// The sender cannot lock the storage deposit for the bytes the tx adds (its writes are dropped).
    pub const DEPOSIT: u32 = 17;
    /// A price-0 tx beyond its sender's quota for the window.
    pub const QUOTA: u32 = 18;

    /// The code of a tx that cannot be paid for.
    pub fn fee_code(e: &crate::fees::FeeError) -> u32 {
        use crate::fees::FeeError;
        match e {
            FeeError::PriceTooLow { .. } => PRICE_TOO_LOW,
            FeeError::Quota { .. } => QUOTA,
            FeeError::NoFeeToken | FeeError::Overflow { .. } | FeeError::Insufficient { .. } => {
                INSUFFICIENT_FEE
            }
        }
    }
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
    /// Limits for `cairn module check` and until InitChain; a chain runs with the limits in its genesis
    /// parameters (capped by the engine's), never a node's own.
    pub limits: Limits,
    /// Compiled modules kept in memory.
    pub cache_capacity: usize,
    /// Wasm stack bound in bytes (deep recursion traps).
    pub max_wasm_stack: usize,
    /// fsync every commit.
    pub fsync: bool,
    /// Versions of state kept for historical queries and proofs (0: all).
    pub prune_window: u64,
    /// This node's own lowest price for paying txs (like Cosmos SDK's `minimum-gas-prices`): CheckTx refuses a
    /// cheaper tx even if the chain's minimum allows it. Never consulted by FinalizeBlock (not consensus).
    pub min_price: u128,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            limits: Limits::default(),
            cache_capacity: 64,
            // Far above what the deterministic stack budget can use (crate::instrument), so the native bound
            // never decides a result.
            max_wasm_stack: 1024 * 1024,
            fsync: true,
            prune_window: 1_000,
            min_price: 0,
        }
    }
}

/// Fuel a module query may burn (capped by the chain's per-tx limit): queries are free to the caller, so small.
pub const MAX_QUERY_FUEL: u64 = 10_000_000;

/// A query's answer, or a module query to run without the app's lock.
enum Answer {
    Done(QueryResponse),
    Module(Box<ModuleQuery>),
}

/// A module query, prepared under the lock: it reads committed state through its own overlay and session, so
/// block execution never waits for it.
struct ModuleQuery {
    host: Host,
    overlay: Overlay,
    block: BlockEnv,
    fuel: u64,
    addr: Address,
    data: Vec<u8>,
    resp: QueryResponse,
}

impl Answer {
    fn finish(self) -> AppResult<QueryResponse> {
        match self {
            Answer::Done(r) => Ok(r),
            Answer::Module(q) => q.run(),
        }
    }
}

/// Module queries running at once. Each holds an instance slot of the engine's pool, which block execution needs
/// too ([`crate::cache::POOL_SLOTS`]): past this bound a query is refused instead of starving a block.
pub const MAX_CONCURRENT_QUERIES: usize = 16;
static QUERIES_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// A slot of [`MAX_CONCURRENT_QUERIES`], given back on drop.
struct QuerySlot;

impl QuerySlot {
    fn take() -> Option<QuerySlot> {
        let prev = QUERIES_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        if prev >= MAX_CONCURRENT_QUERIES {
            QUERIES_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(QuerySlot)
    }
}

impl Drop for QuerySlot {
    fn drop(&mut self) {
        QUERIES_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ModuleQuery {
    fn run(self) -> AppResult<QueryResponse> {
        let ModuleQuery { host, overlay, block, fuel, addr, data, mut resp } = self;
        let Some(_slot) = QuerySlot::take() else {
            resp.code = codes::NOT_READY;
            resp.log = format!("{MAX_CONCURRENT_QUERIES} module queries are running: try again");
            return Ok(resp);
        };
        let mut s = Session::new(&host, overlay, block, Address::default(), fuel);
        match s.query(&addr, &data) {
            Ok(v) => resp.value = v,
            Err(Failure::Host(h)) => return Err(local(h)),
            Err(Failure::Exec(e)) => {
                resp.code = exec_code(&e);
                resp.log = e.to_string();
            }
        }
        Ok(resp)
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
    /// [`ExecConfig::min_price`].
    min_price: u128,
}

/// The Wasm execution application. Cheap to clone (shared).
#[derive(Clone)]
pub struct ExecApp {
    inner: Arc<Mutex<Inner>>,
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}

/// A failure of this machine during block execution: the node stops saying so (the block is not at fault).
fn local(e: HostError) -> AppError {
    AppError::Internal(e.local_message())
}

fn fail(code: u32, log: impl Into<String>) -> TxResult {
    TxResult { code, log: log.into(), ..TxResult::default() }
}

fn exec_code(e: &ExecError) -> u32 {
    match e {
        ExecError::OutOfFuel { .. } => codes::OUT_OF_FUEL,
        ExecError::BlockWrites { .. } => codes::BLOCK_WRITES,
        ExecError::Deposit { .. } => codes::DEPOSIT,
        ExecError::QuotaBytes { .. } => codes::QUOTA,
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
        let inner = Inner {
            host,
            home,
            genesis: None,
            staged: None,
            verified: LruCache::new(cap),
            min_price: config.min_price,
        };
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
        let answer = self.lock().query(req)?;
        answer.finish()
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
            gov_module: None,
            max_block_write_bytes: genesis.max_block_write_bytes,
            max_block_write_entries: genesis.max_block_write_entries,
            limits: genesis.limits,
            fees: FeeParams {
                bank: None,
                min_price: genesis.fees.min_price,
                destination: genesis.fees.destination,
                deposit_per_byte: genesis.fees.deposit_per_byte,
                quota_window: genesis.fees.quota_window,
            },
        };
        self.host.limits = params.limits.to_limits();
        let mut overlay = Overlay::new(Batch::new());
        registry::put(&mut overlay, keys::PARAMS.to_vec(), &params);
        let block = BlockEnv { chain_id: params.chain_id.clone(), height: 0, time_ms: req.time_ms };
        let zero = Address::default();
        for (i, m) in genesis.modules.iter().enumerate() {
            let label = &m.label;
            let mut s = Session::new(&self.host, overlay, block.clone(), zero, u64::MAX / 4);
            s.allow_hooks();
            let r =
                s.store_code(&m.code).and_then(|id| s.instantiate(&zero, &id, label, m.admin, &m.init_msg));
            overlay = s.finish();
            let addr =
                r.map_err(|e| AppError::InvalidArgument(format!("genesis modules[{i}] ({label}): {e}")))?;
            if genesis.sybil_module.as_deref() == Some(label.as_str()) {
                params.sybil_module = Some(addr);
            }
            if genesis.gov_module.as_deref() == Some(label.as_str()) {
                params.gov_module = Some(addr);
            }
            if genesis.fees.bank_module.as_deref() == Some(label.as_str()) {
                params.fees.bank = Some(addr);
            }
        }
        for (account, quota) in &genesis.quotas {
            registry::put(&mut overlay, keys::quota(account), quota);
        }
        registry::put(&mut overlay, keys::PARAMS.to_vec(), &params);
        // The Sybil module's genesis set, if it reports one, is the chain's initial validator set.
        let mut share = block::Share::sybil(&params);
        let (validators, mut overlay, _events) =
            self.sybil_updates(&params, overlay, &block, &mut share).map_err(internal)?;
        gov::record_genesis(&mut overlay, &params, &validators, &req.validators, &req.consensus_params);
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

    fn check_tx(&mut self, bytes: &[u8]) -> CheckTxResponse {
        self.check_tx_with(bytes, None)
    }

    /// CheckTx; `signature` is the verdict on the tx's signature if the caller already checked it (in a batch).
    fn check_tx_with(
        &mut self,
        bytes: &[u8],
        signature: Option<Result<(), PrimitivesError>>,
    ) -> CheckTxResponse {
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
        // The sender must be able to pay (or have the quota) before anything costlier runs.
        let height = self.host.base.version().0.saturating_add(1);
        let sender = Address::from(body.sender);
        let (granted, overlay) = if params.fees.uses_quota(body.price) {
            let block = BlockEnv { chain_id: params.chain_id.clone(), height, time_ms: 0 };
            match self.granted_quota(&params, overlay, &block, &sender) {
                Ok(g) => g,
                Err(e) => return reject(codes::NOT_READY, e.local_message()),
            }
        } else {
            (Quota::default(), overlay)
        };
        let payment = params.fees.payment(
            &overlay,
            &*self.host.base,
            &sender,
            body.fuel_limit,
            body.price,
            self.min_price,
            granted,
            height,
        );
        match payment {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return reject(codes::fee_code(&e), e.to_string()),
            Err(e) => return reject(codes::NOT_READY, e.to_string()),
        }
        // A tx verified before (a recheck after a commit, or a resubmission) is not verified again.
        let hash = Hash::digest(bytes);
        let verdict = match signature {
            Some(v) => v,
            None if self.verified.contains(&hash) => Ok(()),
            None => tx.verify(),
        };
        if let Err(e) = verdict {
            return reject(codes::BAD_SIGNATURE, e.to_string());
        }
        self.verified.put(hash, ());
        CheckTxResponse {
            code: 0,
            log: String::new(),
            gas_wanted: body.fuel_limit,
            sender: body.sender.0.to_vec(),
            // The mempool orders and evicts by price.
            priority: i64::try_from(body.price).unwrap_or(i64::MAX),
        }
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

    /// Answers a query; a module query is handed back to run after the app's lock is released.
    fn query(&self, req: QueryRequest) -> AppResult<Answer> {
        if req.path.starts_with("module/") {
            return self.module_query(req);
        }
        self.state_query(req).map(Answer::Done)
    }

    /// `module/<address>`: checked here, run later by [`ModuleQuery::run`] on its own small fuel budget.
    fn module_query(&self, req: QueryRequest) -> AppResult<Answer> {
        let latest = self.host.base.version();
        let height = if req.height.0 == 0 { latest } else { req.height };
        let resp = QueryResponse { height, ..QueryResponse::default() };
        let arg = req.path.strip_prefix("module/").unwrap_or_default();
        let bad = |mut r: QueryResponse, what: String| {
            r.code = codes::INVALID;
            r.log = what;
            Ok(Answer::Done(r))
        };
        let overlay = self.view();
        if height != latest {
            return bad(resp, "module queries run at the latest height only".into());
        }
        let Ok(addr) = Address::from_hex(arg) else {
            return bad(resp, format!("module/<address hex>: {arg:?}"));
        };
        let params = match self.params(&overlay) {
            Ok(p) => p,
            Err(e) => return bad(resp, e.to_string()),
        };
        let block = BlockEnv { chain_id: params.chain_id.clone(), height: height.0, time_ms: 0 };
        let fuel = params.max_tx_fuel.min(MAX_QUERY_FUEL);
        let mut host = self.host.clone();
        host.limits = params.limits.to_limits();
        Ok(Answer::Module(Box::new(ModuleQuery { host, overlay, block, fuel, addr, data: req.data, resp })))
    }

    fn state_query(&self, req: QueryRequest) -> AppResult<QueryResponse> {
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
            "validators" if height != latest => {
                Ok(bad(resp, "the validator set is answered at the latest height only".into()))
            }
            "validators" => {
                let set: Vec<([u8; 32], u64)> =
                    gov::chain_set(&overlay, base).map_err(internal)?.into_iter().collect();
                resp.value = borsh::to_vec(&set).unwrap_or_default();
                Ok(resp)
            }
            "params" => {
                let params = match self.params(&overlay) {
                    Ok(p) => p,
                    Err(e) => return Ok(bad(resp, e.to_string())),
                };
                resp.value = serde_json::to_vec(&fees::params_json(&params)).unwrap_or_default();
                Ok(resp)
            }
            "quota" => {
                let Ok(account) = Address::from_hex(arg) else {
                    return Ok(bad(resp, format!("quota/<address hex>: {arg:?}")));
                };
                let params = match self.params(&overlay) {
                    Ok(p) => p,
                    Err(e) => return Ok(bad(resp, e.to_string())),
                };
                // What a tx in the next block could use.
                let next = latest.0.saturating_add(1);
                let block = BlockEnv { chain_id: params.chain_id.clone(), height: next, time_ms: 0 };
                let (granted, overlay) =
                    self.granted_quota(&params, overlay, &block, &account).map_err(local)?;
                let left = fees::quota_left(&params.fees, &overlay, base, &account, granted, next)
                    .map_err(internal)?;
                resp.key = account.0.to_vec();
                resp.value = borsh::to_vec(&(left.fuel, left.bytes)).unwrap_or_default();
                Ok(resp)
            }
            _ => Ok(bad(
                resp,
                format!(
                    "unknown query path {:?}: use module/, label/, store/, nonce/, instance/, validators, params or \
                     quota/",
                    req.path
                ),
            )),
        }
    }
}

/// For each request that is a tx, the verdict on its signature, all checked in one batch ([`Tx::verify_all`]; the
/// verdict is the one [`Tx::verify`] gives); `None` for bytes that are not a tx (CheckTx says why).
fn signature_verdicts(reqs: &[CheckTxRequest]) -> Vec<Option<Result<(), PrimitivesError>>> {
    let txs: Vec<Option<Tx>> = reqs
        .iter()
        .map(|r| (r.tx.len() <= MAX_TX_BYTES).then(|| Tx::from_bytes(&r.tx).ok()).flatten())
        .collect();
    let decoded: Vec<&Tx> = txs.iter().flatten().collect();
    let mut verdicts = Tx::verify_all(&decoded).into_iter();
    txs.iter().map(|t| t.as_ref().and_then(|_| verdicts.next())).collect()
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

    /// The signatures of the batch are checked together first (about half the cost of one by one), on the
    /// blocking pool and without the app's lock, which FinalizeBlock and Commit wait on.
    async fn check_txs(&self, reqs: Vec<CheckTxRequest>) -> AppResult<Vec<CheckTxResponse>> {
        let (reqs, verdicts) = tokio::task::spawn_blocking(move || {
            let verdicts = signature_verdicts(&reqs);
            (reqs, verdicts)
        })
        .await
        .map_err(internal)?;
        self.blocking(move |i| reqs.iter().zip(verdicts).map(|(r, v)| i.check_tx_with(&r.tx, v)).collect())
            .await
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
        let ordered = proposal::order_by_sender_nonce(txs);
        let (height, time_ms) = (req.height, req.time_ms);
        let txs = self
            .blocking(move |i| {
                let overlay = i.view();
                let base = i.host.base.clone();
                let txs = proposal::hold_back_nonce_gaps(ordered, |pk| {
                    registry::next_nonce(&overlay, &*base, &pk.0).unwrap_or(0)
                });
                let txs = match i.params(&overlay) {
                    Ok(params) => proposal::pack(txs, &params),
                    Err(_) => txs,
                };
                i.fit_to_budgets(txs, height.0, time_ms)
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
        let answer = self.blocking(move |i| i.query(req)).await??;
        // The lock is released: a module query runs beside block execution, not in its way.
        tokio::task::spawn_blocking(move || answer.finish()).await.map_err(internal)?
    }
}
