//! The module registry in state: stored code (chunked), instances, labels, nonces and chain parameters.

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_primitives::{Address, Hash};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Overlay};
use crate::instance::HostState;
use crate::validate::Limits;
use crate::{HostError, HostResult, keys};

/// Code is stored in chunks under the state store's value bound.
pub const CODE_CHUNK: usize = 60 * 1024;
/// Upper bound on stored code read back (the upload limit is lower; this bounds a corrupt record).
pub const MAX_STORED_CODE: u64 = 8 * 1024 * 1024;
/// Longest instance label.
pub const MAX_LABEL: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CodeMeta {
    pub len: u64,
    pub chunks: u32,
}

/// What the registry knows about an instance.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub code_id: Hash,
    pub admin: Option<Address>,
    pub label: String,
    pub creator: Address,
}

/// Who may upload code (a chain parameter).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadPermission {
    /// Any account.
    #[default]
    Anyone,
    /// Only these accounts (addresses = public keys).
    AllowList(Vec<Address>),
    /// No account: code enters only through genesis (or, later, a governance module).
    Governance,
}

/// Chain parameters the host keeps in state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Params {
    pub chain_id: String,
    pub upload_permission: UploadPermission,
    /// Most fuel one tx may use (a tx's own `fuel_limit` is capped by this).
    pub max_tx_fuel: u64,
    /// Most fuel all txs of one block may use together.
    pub max_block_fuel: u64,
    /// The active Sybil module, asked for validator updates after every block.
    pub sybil_module: Option<Address>,
    /// Most bytes (keys + values) all txs and hooks of one block may write together.
    pub max_block_write_bytes: u64,
    /// Most entries (sets and deletes) all txs and hooks of one block may write together.
    pub max_block_write_entries: u64,
    /// The module limits every node applies (genesis; never node-local config).
    pub limits: ChainLimits,
    /// The governance module whose passed actions the host applies after every block (see `app::gov`).
    pub gov_module: Option<Address>,
    /// Fees, storage deposits and quotas.
    pub fees: crate::fees::FeeParams,
}

/// [`Limits`] as stored in the chain's parameters (fixed-width integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainLimits {
    pub max_module_bytes: u64,
    pub max_memory_pages: u64,
    pub max_table_elements: u64,
    pub max_functions: u64,
    pub stack_budget: u32,
    pub prices: crate::prices::Prices,
}

impl From<&Limits> for ChainLimits {
    fn from(l: &Limits) -> ChainLimits {
        ChainLimits {
            max_module_bytes: l.max_module_bytes as u64,
            max_memory_pages: l.max_memory_pages,
            max_table_elements: l.max_table_elements,
            max_functions: l.max_functions,
            stack_budget: l.stack_budget,
            prices: l.prices,
        }
    }
}

impl ChainLimits {
    pub fn to_limits(self) -> Limits {
        Limits {
            max_module_bytes: usize::try_from(self.max_module_bytes).unwrap_or(usize::MAX),
            max_memory_pages: self.max_memory_pages,
            max_table_elements: self.max_table_elements,
            max_functions: self.max_functions,
            stack_budget: self.stack_budget,
            prices: self.prices,
        }
    }
}

pub(crate) fn decode<T: BorshDeserialize>(bytes: &[u8], what: &str) -> HostResult<T> {
    borsh::from_slice(bytes).map_err(|e| HostError::Corrupt(format!("{what}: {e}")))
}

fn backend_err(e: crate::BackendError) -> HostError {
    HostError::Backend(e)
}

pub(crate) fn get(overlay: &Overlay, base: &dyn Backend, key: &[u8]) -> HostResult<Option<Vec<u8>>> {
    overlay.get(base, key).map_err(backend_err)
}

pub(crate) fn get_typed<T: BorshDeserialize>(
    overlay: &Overlay,
    base: &dyn Backend,
    key: &[u8],
    what: &str,
) -> HostResult<Option<T>> {
    match get(overlay, base, key)? {
        Some(b) => decode(&b, what).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn put<T: BorshSerialize>(overlay: &mut Overlay, key: Vec<u8>, value: &T) {
    overlay.set(key, Some(borsh::to_vec(value).unwrap_or_default()));
}

pub(crate) fn code_exists(overlay: &Overlay, base: &dyn Backend, id: &Hash) -> HostResult<bool> {
    Ok(get(overlay, base, &keys::code_meta(id))?.is_some())
}

pub(crate) fn write_code(overlay: &mut Overlay, id: &Hash, code: &[u8]) {
    let chunks = code.chunks(CODE_CHUNK);
    let meta = CodeMeta { len: code.len() as u64, chunks: chunks.len() as u32 };
    for (i, chunk) in chunks.enumerate() {
        overlay.set(keys::code_chunk(id, i as u32), Some(chunk.to_vec()));
    }
    put(overlay, keys::code_meta(id), &meta);
}

pub(crate) fn read_code(overlay: &Overlay, base: &dyn Backend, id: &Hash) -> HostResult<Vec<u8>> {
    let meta: CodeMeta = get_typed(overlay, base, &keys::code_meta(id), "code meta")?
        .ok_or_else(|| HostError::Corrupt(format!("code {id} is not stored")))?;
    if meta.len > MAX_STORED_CODE {
        return Err(HostError::Corrupt(format!("code {id} claims {} bytes", meta.len)));
    }
    let mut code = Vec::with_capacity(meta.len as usize);
    for i in 0..meta.chunks {
        let chunk = get(overlay, base, &keys::code_chunk(id, i))?
            .ok_or_else(|| HostError::Corrupt(format!("code {id} chunk {i} missing")))?;
        code.extend_from_slice(&chunk);
        if code.len() as u64 > meta.len {
            return Err(HostError::Corrupt(format!("code {id} longer than recorded")));
        }
    }
    Ok(code)
}

pub(crate) fn load_instance(
    overlay: &Overlay,
    base: &dyn Backend,
    addr: &Address,
) -> HostResult<Option<InstanceInfo>> {
    get_typed(overlay, base, &keys::instance(addr), "instance info")
}

/// `load_instance` from inside a host call: a backend failure is recorded as fatal and traps.
pub(crate) fn load_instance_via(
    state: &mut HostState,
    addr: &Address,
) -> wasmtime::Result<Option<InstanceInfo>> {
    match load_instance(&state.overlay, &*state.base, addr) {
        Ok(v) => Ok(v),
        Err(e) => {
            let msg = e.to_string();
            state.fatal = Some(e);
            Err(wasmtime::Error::msg(msg))
        }
    }
}

pub(crate) fn load_params(overlay: &Overlay, base: &dyn Backend) -> HostResult<Option<Params>> {
    get_typed(overlay, base, keys::PARAMS, "params")
}

pub(crate) fn next_nonce(overlay: &Overlay, base: &dyn Backend, pk: &[u8; 32]) -> HostResult<u64> {
    Ok(get_typed::<u64>(overlay, base, &keys::nonce(pk), "nonce")?.unwrap_or(0))
}

/// A label is 1–64 characters of `[A-Za-z0-9._-]`.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > MAX_LABEL {
        return Err(format!("label must be 1 to {MAX_LABEL} characters, got {}", label.len()));
    }
    if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(format!("label {label:?}: only letters, digits, '.', '_' and '-' are allowed"));
    }
    Ok(())
}
