//! Errors of the host. A module failing (trap, abort, out of fuel) is *not* a [`HostError`] of the block: it is a
//! failed tx ([`ExecError`]); a `HostError` means the host itself cannot go on (state backend, cache IO).

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
}

/// Errors of the host itself (storage, disk cache, genesis). These stop the call, not just a tx.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("state backend: {0}")]
    Backend(String),
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
}

pub type HostResult<T> = Result<T, HostError>;
