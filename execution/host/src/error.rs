//! Errors of the host, classified by cause (issue 17):
//!
//! - **The block's content** — bad code, traps, limits, fuel, batch sizes: a [`ValidationError`] or [`ExecError`].
//!   That tx fails with a log, its writes are discarded, and the block goes on. Every node gets the same verdict.
//! - **This machine** — disk, database, out of address space, an exhausted instance pool, a host bug: a
//!   [`HostError`]. The node stops with a message saying the failure is local; the block itself is fine and another
//!   node (or this one after a repair) executes it.
//!
//! [`HostError::is_local`] is true for every variant on purpose: no path from a tx's bytes may produce one.

use cairn_primitives::Hash;

/// Why a module was refused at upload. Every variant says what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("module is {len} bytes, over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("invalid or disallowed wasm at offset {offset:#x}: {message}")]
    Invalid { offset: usize, message: String },
    #[error("import {module}.{name} is not allowed: modules may import only functions of `cairn_v1`")]
    ForeignImport { module: String, name: String },
    #[error("import cairn_v1.{name} is not part of the host API cairn_v1")]
    UnknownImport { name: String },
    #[error("import cairn_v1.{name} has signature {found}, the host API expects {expected}")]
    ImportSignature { name: String, expected: String, found: String },
    #[error("missing required export `{name}` ({kind})")]
    MissingExport { name: &'static str, kind: &'static str },
    #[error("export `{name}` has signature {found}, expected {expected}")]
    ExportSignature { name: String, expected: String, found: String },
    #[error("memory section: {0}")]
    Memory(String),
    #[error("table section: {0}")]
    Table(String),
    #[error("{section} section: {count} entries, over the limit of {max}")]
    Count { section: &'static str, count: u64, max: u64 },
    /// The chain's wasm engine (same configuration and pool limits on every node) refuses the module.
    #[error("the engine cannot run this module: {0}")]
    Engine(String),
}

/// Why a module call or a tx message failed. Becomes the tx log; the block goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("module aborted: {0}")]
    Aborted(String),
    #[error("out of fuel (limit {limit})")]
    OutOfFuel { limit: u64 },
    #[error("module trapped: {0}")]
    Trap(String),
    #[error("module returned error code {0}")]
    ReturnCode(i32),
    #[error("module misbehaved: {0}")]
    Guest(String),
    #[error("upload rejected: {0}")]
    Validation(#[from] ValidationError),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("no code with id {0}")]
    UnknownCode(Hash),
    #[error("no module instance at address {0}")]
    UnknownInstance(String),
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    #[error("module does not export `{0}`")]
    MissingEntry(&'static str),
    #[error(
        "the block's write budget is used up: the tx wrote {} entries / {} bytes, the block has {} / {} left",
        written.entries, written.bytes, left.entries, left.bytes
    )]
    BlockWrites { written: crate::backend::WriteSize, left: crate::backend::WriteSize },
    #[error(
        "insufficient funds for the storage deposit: the tx adds {bytes} bytes × {per_byte} per byte, {account} \
         has {have}, needs {need}"
    )]
    Deposit { account: String, bytes: u64, per_byte: u128, have: u128, need: u128 },
    #[error(
        "quota exceeded: the tx adds {bytes} bytes of state, {left} bytes are left of the quota this window"
    )]
    QuotaBytes { bytes: u64, left: u64 },
}

/// Why the state backend failed. `Storage` is the machine (disk, database); `Refused` means the store rejected a
/// batch as too large, which the host's per-tx and per-block budgets exist to make impossible (so a host bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("the store refused the block's writes (a budget of the host let them through): {0}")]
    Refused(String),
}

/// Failures of this machine (storage, disk cache, engine resources, genesis). They stop the call, not just a tx,
/// and never come from a tx's bytes: see the module docs.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("state backend: {0}")]
    Backend(#[from] BackendError),
    #[error("module cache at {path}: {source}")]
    CacheIo { path: String, source: std::io::Error },
    #[error("compiling module {code_id}: {message}")]
    Compile { code_id: Hash, message: String },
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("config: {0}")]
    Config(String),
    /// The engine could not get memory or an instance slot (pool or mmap exhausted).
    #[error("wasm engine resources exhausted: {0}")]
    Resource(String),
}

impl HostError {
    /// Always true: a `HostError` is a failure of this node, not of the block (kept as a method so callers say
    /// so where they turn one into a node error).
    pub fn is_local(&self) -> bool {
        true
    }

    /// The message a node stops with.
    pub fn local_message(&self) -> String {
        format!("local failure of this node (not caused by the block; the block is valid): {self}")
    }
}

pub type HostResult<T> = Result<T, HostError>;
