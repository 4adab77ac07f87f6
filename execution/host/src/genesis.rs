//! The `app_state` section of genesis (JSON), documented in the README.

use std::path::{Path, PathBuf};

use cairn_primitives::Address;
use serde::Deserialize;

use crate::fees::{FeeDestination, Quota};
use crate::registry::{ChainLimits, UploadPermission};
use crate::validate::Limits;
use crate::{HostError, HostResult};

/// Default fuel cap per tx.
/// (Uploading a 4 MiB module costs 4 Mi × 20 ≈ 84 M fuel, so the default leaves room for the largest module.)
pub const DEFAULT_MAX_TX_FUEL: u64 = 100_000_000;
/// Default fuel cap per block.
pub const DEFAULT_MAX_BLOCK_FUEL: u64 = 50_000_000_000;
/// Default bound on the bytes (keys + values, deletes counted by key) one block may write. Well below what the
/// store stages in one batch ([`cairn_state::MAX_BATCH_BYTES`]), leaving room for genesis, nonces and hooks.
pub const DEFAULT_MAX_BLOCK_WRITE_BYTES: u64 = 128 * 1024 * 1024;
/// Default bound on the entries (sets and deletes, of absent keys too) one block may write.
pub const DEFAULT_MAX_BLOCK_WRITE_ENTRIES: u64 = 1 << 20;
/// Largest `app_state` accepted.
pub const MAX_APP_STATE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisModule {
    pub label: String,
    /// The code as hex, or…
    #[serde(default)]
    pub wasm_hex: Option<String>,
    /// …a path to the `.wasm` file (relative paths resolve against the app's home directory).
    #[serde(default)]
    pub wasm_path: Option<PathBuf>,
    /// Admin (hex address) allowed to migrate; `null`: immutable.
    #[serde(default)]
    pub admin: Option<String>,
    /// The init message: borsh bytes as hex.
    #[serde(default)]
    pub init_msg_hex: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum UploadPermissionJson {
    /// `"anyone"` or `"governance"`.
    Named(String),
    /// `{"allow_list": ["<hex address>", ...]}`.
    AllowList { allow_list: Vec<String> },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisJson {
    #[serde(default)]
    pub upload_permission: Option<UploadPermissionJson>,
    #[serde(default)]
    pub modules: Vec<GenesisModule>,
    /// Label of the module whose `validator_set_updates` drives the validator set.
    #[serde(default)]
    pub sybil_module: Option<String>,
    /// Label of the governance module whose passed actions the host applies.
    #[serde(default)]
    pub gov_module: Option<String>,
    #[serde(default)]
    pub max_tx_fuel: Option<u64>,
    #[serde(default)]
    pub max_block_fuel: Option<u64>,
    #[serde(default)]
    pub max_block_write_bytes: Option<u64>,
    #[serde(default)]
    pub max_block_write_entries: Option<u64>,
    /// Module limits; each may only tighten the engine's (the defaults).
    #[serde(default)]
    pub limits: Option<LimitsJson>,
    /// Host-call fuel prices; absent fields keep their defaults (`prices::Prices`).
    #[serde(default)]
    pub prices: Option<crate::prices::Prices>,
    /// Fees, storage deposits and quotas; absent: a fee-less chain without quotas.
    #[serde(default)]
    pub fees: Option<FeesJson>,
}

/// The `fees` section (see the root README, "Fees, deposits and quotas").
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeesJson {
    /// Label of the genesis bank module whose denom pays fees and deposits.
    #[serde(default)]
    pub bank_module: Option<String>,
    #[serde(default)]
    pub min_price: u128,
    #[serde(default)]
    pub destination: FeeDestination,
    #[serde(default)]
    pub deposit_per_byte: u128,
    /// Blocks per quota window (0: quotas off).
    #[serde(default)]
    pub quota_window: u64,
    #[serde(default)]
    pub quotas: Vec<QuotaJson>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaJson {
    /// Hex address (public key).
    pub account: String,
    pub fuel: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsJson {
    #[serde(default)]
    pub max_module_bytes: Option<u64>,
    #[serde(default)]
    pub max_memory_pages: Option<u64>,
    #[serde(default)]
    pub max_table_elements: Option<u64>,
    #[serde(default)]
    pub max_functions: Option<u64>,
    /// Logical stack units per chain of calls (docs/HOST_API.md), at most the engine's.
    #[serde(default)]
    pub stack_budget: Option<u64>,
}

/// One genesis module, loaded.
#[derive(Clone, Debug)]
pub struct GenesisInstance {
    pub label: String,
    pub code: Vec<u8>,
    pub admin: Option<Address>,
    pub init_msg: Vec<u8>,
}

/// Parsed and checked genesis: bytes loaded, hex decoded. Every error names the field.
#[derive(Clone, Debug)]
pub struct Genesis {
    pub upload_permission: UploadPermission,
    pub modules: Vec<GenesisInstance>,
    pub sybil_module: Option<String>,
    pub gov_module: Option<String>,
    pub max_tx_fuel: u64,
    pub max_block_fuel: u64,
    pub max_block_write_bytes: u64,
    pub max_block_write_entries: u64,
    pub limits: ChainLimits,
    pub fees: FeesJson,
    /// The genesis quota list, checked (each account once).
    pub quotas: Vec<(Address, Quota)>,
}

fn err(field: impl std::fmt::Display, msg: impl std::fmt::Display) -> HostError {
    HostError::Genesis(format!("{field}: {msg}"))
}

impl Genesis {
    /// Parses `app_state`. Empty bytes mean an empty genesis (no modules, anyone may upload).
    pub fn parse(app_state: &[u8], home: Option<&Path>, max_module_bytes: usize) -> HostResult<Genesis> {
        if app_state.len() > MAX_APP_STATE_BYTES {
            return Err(err("app_state", format!("{} bytes, over {MAX_APP_STATE_BYTES}", app_state.len())));
        }
        let json: GenesisJson = if app_state.iter().all(u8::is_ascii_whitespace) {
            serde_json::from_str("{}").map_err(|e| err("app_state", e))?
        } else {
            serde_json::from_slice(app_state).map_err(|e| err("app_state", e))?
        };
        let upload_permission = match json.upload_permission {
            None => UploadPermission::Anyone,
            Some(UploadPermissionJson::Named(s)) => match s.as_str() {
                "anyone" => UploadPermission::Anyone,
                "governance" => UploadPermission::Governance,
                other => {
                    return Err(err(
                        "upload_permission",
                        format!("{other:?}: expected \"anyone\", \"governance\" or {{\"allow_list\": [..]}}"),
                    ));
                }
            },
            Some(UploadPermissionJson::AllowList { allow_list }) => {
                let mut list = Vec::with_capacity(allow_list.len());
                for (i, a) in allow_list.iter().enumerate() {
                    list.push(
                        Address::from_hex(a)
                            .map_err(|e| err(format!("upload_permission.allow_list[{i}]"), e))?,
                    );
                }
                UploadPermission::AllowList(list)
            }
        };
        let mut modules = Vec::with_capacity(json.modules.len());
        for (i, m) in json.modules.into_iter().enumerate() {
            let field = |f: &str| format!("modules[{i}].{f}");
            let code = match (&m.wasm_hex, &m.wasm_path) {
                (Some(h), None) => hex::decode(h.trim()).map_err(|e| err(field("wasm_hex"), e))?,
                (None, Some(p)) => {
                    let path = match home {
                        Some(home) if p.is_relative() => home.join(p),
                        _ => p.clone(),
                    };
                    let meta = std::fs::metadata(&path)
                        .map_err(|e| err(field("wasm_path"), format!("{}: {e}", path.display())))?;
                    if meta.len() > max_module_bytes as u64 {
                        return Err(err(
                            field("wasm_path"),
                            format!("{} is {} bytes, over {max_module_bytes}", path.display(), meta.len()),
                        ));
                    }
                    std::fs::read(&path)
                        .map_err(|e| err(field("wasm_path"), format!("{}: {e}", path.display())))?
                }
                _ => return Err(err(field("wasm_hex"), "give exactly one of wasm_hex and wasm_path")),
            };
            let admin = match &m.admin {
                Some(a) => Some(Address::from_hex(a).map_err(|e| err(field("admin"), e))?),
                None => None,
            };
            let init = hex::decode(m.init_msg_hex.trim()).map_err(|e| err(field("init_msg_hex"), e))?;
            modules.push(GenesisInstance { label: m.label, code, admin, init_msg: init });
        }
        for (field, label) in [("sybil_module", &json.sybil_module), ("gov_module", &json.gov_module)] {
            if let Some(s) = label
                && !modules.iter().any(|m| &m.label == s)
            {
                return Err(err(field, format!("no genesis module is labelled {s:?}")));
            }
        }
        // The store must accept whatever a block may write, whatever else shares its batch: half its limits.
        let max_block_write_bytes = json.max_block_write_bytes.unwrap_or(DEFAULT_MAX_BLOCK_WRITE_BYTES);
        let max_bytes = (cairn_state::MAX_BATCH_BYTES / 2) as u64;
        if max_block_write_bytes > max_bytes {
            return Err(err("max_block_write_bytes", format!("{max_block_write_bytes}, over {max_bytes}")));
        }
        let max_block_write_entries = json.max_block_write_entries.unwrap_or(DEFAULT_MAX_BLOCK_WRITE_ENTRIES);
        let max_entries = (cairn_state::MAX_BATCH_CHANGES / 2) as u64;
        if max_block_write_entries > max_entries {
            return Err(err(
                "max_block_write_entries",
                format!("{max_block_write_entries}, over {max_entries}"),
            ));
        }
        let engine = ChainLimits::from(&Limits::default());
        let asked = json.limits.unwrap_or_default();
        let pick = |field: &str, v: Option<u64>, cap: u64| -> HostResult<u64> {
            match v {
                Some(v) if v > cap => {
                    Err(err(format!("limits.{field}"), format!("{v} is over the engine's {cap}")))
                }
                Some(v) => Ok(v),
                None => Ok(cap),
            }
        };
        let limits = ChainLimits {
            max_module_bytes: pick("max_module_bytes", asked.max_module_bytes, engine.max_module_bytes)?,
            max_memory_pages: pick("max_memory_pages", asked.max_memory_pages, engine.max_memory_pages)?,
            max_table_elements: pick(
                "max_table_elements",
                asked.max_table_elements,
                engine.max_table_elements,
            )?,
            max_functions: pick("max_functions", asked.max_functions, engine.max_functions)?,
            stack_budget: pick("stack_budget", asked.stack_budget, engine.stack_budget.into())? as u32,
            prices: json.prices.unwrap_or_default(),
        };
        if limits.stack_budget < crate::instrument::MIN_STACK_BUDGET {
            return Err(err(
                "limits.stack_budget",
                format!(
                    "{} is under {}: no module could call a function",
                    limits.stack_budget,
                    crate::instrument::MIN_STACK_BUDGET
                ),
            ));
        }
        if let Some(name) = limits.prices.zero_price() {
            return Err(err(format!("prices.{name}"), "0 would make that host call free (unbounded work)"));
        }
        let fees = json.fees.unwrap_or_default();
        if let Some(b) = &fees.bank_module
            && !modules.iter().any(|m| &m.label == b)
        {
            return Err(err("fees.bank_module", format!("no genesis module is labelled {b:?}")));
        }
        if fees.bank_module.is_none() && (fees.min_price > 0 || fees.deposit_per_byte > 0) {
            return Err(err(
                "fees",
                "min_price and deposit_per_byte need a bank_module whose denom pays them",
            ));
        }
        if !fees.quotas.is_empty() && fees.quota_window == 0 {
            return Err(err("fees.quota_window", "quotas are listed but the window is 0 (quotas off)"));
        }
        let mut quotas: Vec<(Address, Quota)> = Vec::with_capacity(fees.quotas.len());
        let mut seen = std::collections::BTreeSet::new();
        for (i, q) in fees.quotas.iter().enumerate() {
            let a = Address::from_hex(&q.account).map_err(|e| err(format!("fees.quotas[{i}].account"), e))?;
            if !seen.insert(a) {
                return Err(err(
                    format!("fees.quotas[{i}].account"),
                    format!("{} is listed twice", q.account),
                ));
            }
            quotas.push((a, Quota { fuel: q.fuel, bytes: q.bytes }));
        }
        Ok(Genesis {
            fees,
            quotas,
            limits,
            upload_permission,
            modules,
            sybil_module: json.sybil_module,
            gov_module: json.gov_module,
            max_tx_fuel: json.max_tx_fuel.unwrap_or(DEFAULT_MAX_TX_FUEL),
            max_block_fuel: json.max_block_fuel.unwrap_or(DEFAULT_MAX_BLOCK_FUEL),
            max_block_write_bytes,
            max_block_write_entries,
        })
    }
}
