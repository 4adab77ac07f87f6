//! The compiled-module cache, keyed by code id (blake3 of the Wasm bytes) and the engine's compatibility hash:
//! an in-memory LRU of ready `InstancePre`s, backed by serialized modules on disk so a restart does not recompile.

use std::hash::{DefaultHasher, Hash as _, Hasher};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cairn_primitives::Hash;
use lru::LruCache;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, PoolingAllocationConfig,
};

use crate::instance::HostState;
use crate::validate::{self, Limits, ModuleInfo};
use crate::{HostError, HostResult, ValidationError, imports, instrument};

/// A compiled module, ready to instantiate.
pub struct Compiled {
    pub code_id: Hash,
    pub module: Module,
    pub pre: InstancePre<HostState>,
    pub has_migrate: bool,
    pub has_end_block: bool,
    pub has_begin_block: bool,
    pub has_validator_set_updates: bool,
    pub has_quota: bool,
}

impl Compiled {
    fn new(code_id: Hash, module: Module, pre: InstancePre<HostState>) -> Compiled {
        let has = |name: &str| module.get_export(name).is_some_and(|e| e.func().is_some());
        Compiled {
            code_id,
            has_migrate: has("migrate"),
            has_end_block: has("end_block"),
            has_begin_block: has("begin_block"),
            has_validator_set_updates: has("validator_set_updates"),
            has_quota: has("quota"),
            module,
            pre,
        }
    }
}

/// A module the chain accepts: what it imports and exports, and its compiled form.
pub struct Admitted {
    pub info: ModuleInfo,
    pub compiled: Arc<Compiled>,
}

/// Why [`ModuleCache::admit`] did not accept a module: its content, or this machine.
#[derive(Debug, thiserror::Error)]
pub enum Admission {
    #[error(transparent)]
    Refused(#[from] ValidationError),
    #[error(transparent)]
    Local(#[from] HostError),
}

/// Where a module came from, for cold-start measurements and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheHit {
    Memory,
    Disk,
    Compiled,
}

/// The wasmtime configuration every cairn node must share: fuel on, NaNs canonical, no SIMD/threads, a bounded
/// Wasm stack. Changing any of these changes the engine hash and so the cache directory.
pub fn engine_config(max_wasm_stack: usize) -> Config {
    let mut c = Config::new();
    c.consume_fuel(true)
        .cranelift_nan_canonicalization(true)
        .wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_multi_memory(false)
        .wasm_tail_call(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_extended_const(false)
        .max_wasm_stack(max_wasm_stack)
        // Modules get at most 16 MiB: reserve that much address space (plus guard) instead of 4 GiB, so
        // creating an instance's memory is a small mapping.
        .memory_reservation(16 * 1024 * 1024)
        .memory_guard_size(64 * 1024)
        .memory_reservation_for_growth(0);
    // Instances come from a pool of pre-reserved slots: one tx instantiates at least one module, and mapping a
    // fresh memory per instance (the on-demand allocator) costs more than running a bank transfer.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(POOL_SLOTS)
        .total_memories(POOL_SLOTS)
        .total_tables(POOL_SLOTS * MAX_TABLES)
        .total_component_instances(0)
        .max_memories_per_module(1)
        .max_tables_per_module(MAX_TABLES)
        .max_memory_size(MAX_MEMORY_BYTES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .linear_memory_keep_resident(256 * 1024)
        .table_keep_resident(64 * 1024);
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// Instance (and memory) slots per engine: one tx holds at most `MAX_CALL_DEPTH` instances at once.
pub const POOL_SLOTS: u32 = 64;
/// Tables a module may define (checked at upload).
pub const MAX_TABLES: u32 = 4;
/// The memory cap in bytes (256 pages); matches `Limits::default().max_memory_pages`.
pub const MAX_MEMORY_BYTES: usize = 16 * 1024 * 1024;
/// Elements per table; matches `Limits::default().max_table_elements`.
pub const MAX_TABLE_ELEMENTS: usize = 10_000;

pub struct ModuleCache {
    engine: Engine,
    linker: Linker<HostState>,
    memory: Mutex<LruCache<Hash, Arc<Compiled>>>,
    dir: Option<PathBuf>,
}

impl ModuleCache {
    /// `dir`: where serialized modules live (`None`: memory only). `capacity`: modules kept in memory.
    pub fn new(dir: Option<&Path>, capacity: usize, max_wasm_stack: usize) -> HostResult<ModuleCache> {
        let engine =
            Engine::new(&engine_config(max_wasm_stack)).map_err(|e| HostError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        imports::link(&mut linker).map_err(|e| HostError::Engine(e.to_string()))?;
        let dir = match dir {
            Some(d) => {
                let d = d.join(engine_tag(&engine));
                std::fs::create_dir_all(&d)
                    .map_err(|source| HostError::CacheIo { path: d.display().to_string(), source })?;
                Some(d)
            }
            None => None,
        };
        let cap = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Ok(ModuleCache { engine, linker, memory: Mutex::new(LruCache::new(cap)), dir })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Hash, Arc<Compiled>>> {
        match self.memory.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn path_of(&self, code_id: &Hash) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{}.cwasm", code_id.to_hex())))
    }

    /// The module for `code_id`: from memory, else from disk, else compiled from `code()` (and written to disk).
    pub fn get(
        &self,
        code_id: &Hash,
        code: impl FnOnce() -> HostResult<Vec<u8>>,
    ) -> HostResult<(Arc<Compiled>, CacheHit)> {
        if let Some(c) = self.lock().get(code_id) {
            return Ok((c.clone(), CacheHit::Memory));
        }
        let (module, hit) = match self.load_disk(code_id) {
            Some(m) => (m, CacheHit::Disk),
            None => {
                let bytes = code()?;
                if Hash::digest(&bytes) != *code_id {
                    return Err(HostError::Corrupt(format!("stored code does not hash to {code_id}")));
                }
                // Stored code passed `admit` on every node: failing now is this node's problem.
                let compile = |message: String| HostError::Compile { code_id: *code_id, message };
                let instrumented = instrument::instrument(&bytes).map_err(compile)?;
                let module = Module::new(&self.engine, &instrumented).map_err(|e| compile(e.to_string()))?;
                self.store_disk(code_id, &module)?;
                (module, CacheHit::Compiled)
            }
        };
        let compiled = Arc::new(self.prepare(*code_id, module)?);
        self.lock().put(*code_id, compiled.clone());
        Ok((compiled, hit))
    }

    /// Compiles `bytes` (already validated) and caches it.
    pub fn insert(&self, code_id: &Hash, bytes: &[u8]) -> HostResult<Arc<Compiled>> {
        self.get(code_id, || Ok(bytes.to_vec())).map(|(c, _)| c)
    }

    /// The upload verdict, the same for the chain and `cairn module check`: the static checks of
    /// [`validate`](crate::validate::validate), then a compile and link with this engine — the chain's wasmtime
    /// configuration and pooling limits — so a module that passes can be instantiated by every node. A refusal at
    /// any stage is a [`ValidationError`] naming the cause; only local failures (the disk cache) are `HostError`s.
    pub fn admit(&self, bytes: &[u8], limits: &Limits) -> Result<Admitted, Admission> {
        let info = validate::validate(bytes, limits)?;
        let code_id = Hash::digest(bytes);
        if let Some(c) = self.lock().get(&code_id) {
            return Ok(Admitted { info, compiled: c.clone() });
        }
        let engine_refusal = |e: wasmtime::Error| {
            // wasmtime's error chains are multi-line: keep the cause on one bounded line.
            let text = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
            ValidationError::Engine(imports::truncate_utf8(text.as_bytes(), imports::MAX_ABORT_MSG))
        };
        let instrumented = instrument::instrument(bytes).map_err(ValidationError::Engine)?;
        let module = Module::new(&self.engine, &instrumented).map_err(engine_refusal)?;
        let pre = self.linker.instantiate_pre(&module).map_err(engine_refusal)?;
        self.store_disk(&code_id, &module)?;
        let compiled = Arc::new(Compiled::new(code_id, module, pre));
        self.lock().put(code_id, compiled.clone());
        Ok(Admitted { info, compiled })
    }

    /// Forgets the in-memory copy (tests and cold-start measurements).
    pub fn evict_memory(&self) {
        self.lock().clear();
    }

    fn prepare(&self, code_id: Hash, module: Module) -> HostResult<Compiled> {
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| HostError::Compile { code_id, message: e.to_string() })?;
        Ok(Compiled::new(code_id, module, pre))
    }

    fn load_disk(&self, code_id: &Hash) -> Option<Module> {
        let path = self.path_of(code_id)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: `deserialize_file` trusts the file to be a module serialized by this same wasmtime with this
        // same config. The file was written by `store_disk` of this host into its own cache directory, named by
        // the code hash inside a directory named by the engine's compatibility hash; wasmtime additionally checks
        // the header's version and config and fails (we then recompile) on any mismatch.
        #[allow(unsafe_code)]
        let module = unsafe { Module::deserialize_file(&self.engine, &path) };
        match module {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached module");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    fn store_disk(&self, code_id: &Hash, module: &Module) -> HostResult<()> {
        let Some(path) = self.path_of(code_id) else { return Ok(()) };
        let bytes = module.serialize().map_err(|e| HostError::Engine(e.to_string()))?;
        // Write then rename, so a crash never leaves a half-written file under the final name.
        let tmp = path.with_extension("tmp");
        let io = |source| HostError::CacheIo { path: path.display().to_string(), source };
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(())
    }
}

/// Names the cache subdirectory after the engine's compatibility hash (wasmtime version, target, config).
fn engine_tag(engine: &Engine) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    // The compiled form is the instrumented module: a change of the instrumentation is a change of engine.
    (instrument::STACK_BUDGET, instrument::FRAME_UNITS, instrument::DEPTH_EXPORT).hash(&mut h);
    format!("engine-{:016x}", h.finish())
}
