//! Static checks at upload (before anything is compiled or stored): the module imports only `cairn_v1` host
//! functions with the right signatures, exports the entry points, stays within size, memory and table limits, and
//! uses no non-deterministic or unsupported features.
//!
//! Decisions, documented in the README:
//! - **Floats** are allowed; the engine canonicalises NaNs (`cranelift_nan_canonicalization`), which makes every
//!   float result bit-for-bit deterministic across machines.
//! - **SIMD, relaxed SIMD, threads/shared memory, memory64, multi-memory, exceptions, GC, tail calls** are
//!   rejected by the validator (the error names the feature and the byte offset). `externref` is GC: rejected.
//! - The static checks here are the first half of the upload verdict; the second is a compile with the chain's
//!   engine ([`crate::cache::ModuleCache::admit`]), which refuses what the engine or its pool cannot run.
//! - **Memory**: exactly one, defined by the module (not imported) and exported as `memory`. An *initial* size over
//!   [`Limits::max_memory_pages`] is rejected; a declared *maximum* above it is accepted and capped at run time
//!   (growth past the cap makes `memory.grow` return -1).
//! - **Tables**: initial size at most [`Limits::max_table_elements`]; growth past it fails at run time.

use wasmparser::types::EntityType;
use wasmparser::{FuncType, ValType, Validator, WasmFeatures};

use crate::ValidationError;
use crate::imports::HOST_FUNCTIONS;

/// Static limits on modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest module accepted at upload.
    pub max_module_bytes: usize,
    /// Cap on linear memory, in 64 KiB pages.
    pub max_memory_pages: u64,
    /// Cap on table elements.
    pub max_table_elements: u64,
    /// Most functions (imported + defined) in a module; bounds compile time.
    pub max_functions: u64,
    /// Logical stack units one chain of calls may use (see `instrument`); at most the engine's
    /// [`STACK_BUDGET`](crate::instrument::STACK_BUDGET), which the native stack is sized for.
    pub stack_budget: u32,
    /// The fuel price of every host call.
    pub prices: crate::prices::Prices,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_module_bytes: 4 * 1024 * 1024,
            max_memory_pages: 256, // 16 MiB
            max_table_elements: 10_000,
            max_functions: 50_000,
            stack_budget: crate::instrument::STACK_BUDGET,
            prices: crate::prices::Prices::default(),
        }
    }
}

/// The Wasm features a cairn module may use: wasm 2.0 without SIMD. Reference types cover `funcref` only:
/// `externref` and the other GC types need wasmtime's `gc` feature, which the chain's engine is built without
/// (a module using them would pass here and fail to compile on every node).
pub fn features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::FLOATS
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
}

/// Entry points every module must export, with their signature `(i32, i32) -> i32`.
pub const REQUIRED_ENTRIES: [&str; 3] = ["instantiate", "execute", "query"];
/// Entry points a module may export, with the same signature.
pub const OPTIONAL_ENTRIES: [&str; 5] =
    ["migrate", "begin_block", "end_block", "validator_set_updates", "quota"];

/// What a valid module imports and exports (for `cairn module check` and for the registry).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// `cairn_v1` functions imported, sorted by name.
    pub imports: Vec<String>,
    /// Exports as `name: kind/signature`, sorted by name.
    pub exports: Vec<(String, String)>,
    pub has_migrate: bool,
    pub has_end_block: bool,
    /// Sybil modules only: `begin_block(BeginBlockInfo)`, the previous block's signers and this block's evidence.
    pub has_begin_block: bool,
    pub has_validator_set_updates: bool,
    /// Sybil modules only: `quota(account) -> (fuel, bytes)`, the fee-less quota the module grants.
    pub has_quota: bool,
    /// Memory declared: (initial pages, maximum pages if any).
    pub memory_pages: (u64, Option<u64>),
}

fn sig(params: &[ValType], results: &[ValType]) -> String {
    let p: Vec<String> = params.iter().map(|t| t.to_string()).collect();
    let r: Vec<String> = results.iter().map(|t| t.to_string()).collect();
    format!("({}) -> ({})", p.join(", "), r.join(", "))
}

fn func_sig(f: &FuncType) -> String {
    sig(f.params(), f.results())
}

/// Validates `bytes` as a cairn module.
pub fn validate(bytes: &[u8], limits: &Limits) -> Result<ModuleInfo, ValidationError> {
    if bytes.len() > limits.max_module_bytes {
        return Err(ValidationError::TooLarge { len: bytes.len(), max: limits.max_module_bytes });
    }
    let mut validator = Validator::new_with_features(features());
    let types = validator.validate_all(bytes).map_err(|e| ValidationError::Invalid {
        offset: e.offset(),
        // Some wasmparser messages are multi-line debug output: keep the log on one line.
        message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
    })?;
    let types = types.as_ref();

    let mut info = ModuleInfo::default();
    let func_count = u64::from(types.function_count());
    if func_count > limits.max_functions {
        return Err(ValidationError::Count {
            section: "function",
            count: func_count,
            max: limits.max_functions,
        });
    }

    // Imports: only functions of cairn_v1, each with the host's signature.
    if let Some(imports) = types.core_imports() {
        for (module, name, ty) in imports {
            if module != "cairn_v1" {
                return Err(ValidationError::ForeignImport { module: module.into(), name: name.into() });
            }
            let Some(host) = HOST_FUNCTIONS.iter().find(|h| h.name == name) else {
                return Err(ValidationError::UnknownImport { name: name.into() });
            };
            let expected = sig(host.params, host.results);
            let found = match ty {
                EntityType::Func(id) | EntityType::FuncExact(id) => func_sig(types[id].unwrap_func()),
                other => format!("a non-function ({other:?})"),
            };
            if found != expected {
                return Err(ValidationError::ImportSignature { name: name.into(), expected, found });
            }
            info.imports.push(name.to_string());
        }
    }
    info.imports.sort();
    info.imports.dedup();

    // Memory: exactly one, defined here, exported as `memory`.
    if types.memory_count() != 1 {
        return Err(ValidationError::Memory(format!(
            "the module must define exactly one memory, it has {}",
            types.memory_count()
        )));
    }
    let mem = types.memory_at(0);
    if mem.shared || mem.memory64 {
        return Err(ValidationError::Memory("shared and 64-bit memories are not allowed".into()));
    }
    if mem.initial > limits.max_memory_pages {
        return Err(ValidationError::Memory(format!(
            "initial size of {} pages exceeds the cap of {} pages ({} MiB)",
            mem.initial,
            limits.max_memory_pages,
            limits.max_memory_pages / 16
        )));
    }
    info.memory_pages = (mem.initial, mem.maximum);

    let max_tables = u64::from(crate::cache::MAX_TABLES);
    if u64::from(types.table_count()) > max_tables {
        return Err(ValidationError::Count {
            section: "table",
            count: types.table_count().into(),
            max: max_tables,
        });
    }
    for t in 0..types.table_count() {
        let table = types.table_at(t);
        if table.initial > limits.max_table_elements {
            return Err(ValidationError::Table(format!(
                "table {t} starts with {} elements, over the cap of {}",
                table.initial, limits.max_table_elements
            )));
        }
    }

    // Exports.
    let entry_sig = "(i32, i32) -> (i32)";
    let mut exported: Vec<(String, String)> = Vec::new();
    if let Some(exports) = types.core_exports() {
        for (name, ty) in exports {
            let desc = match ty {
                EntityType::Func(id) | EntityType::FuncExact(id) => {
                    format!("func {}", func_sig(types[id].unwrap_func()))
                }
                EntityType::Memory(m) => format!("memory {} pages", m.initial),
                EntityType::Table(_) => "table".into(),
                EntityType::Global(_) => "global".into(),
                EntityType::Tag(_) => "tag".into(),
            };
            exported.push((name.to_string(), desc));
        }
    }
    exported.sort();
    if exported.iter().any(|(n, _)| n == crate::instrument::DEPTH_EXPORT) {
        return Err(ValidationError::ExportSignature {
            name: crate::instrument::DEPTH_EXPORT.into(),
            expected: "no export of this name (reserved for the host's stack counter)".into(),
            found: "an export".into(),
        });
    }
    let find = |name: &str| exported.iter().find(|(n, _)| n == name).map(|(_, d)| d.clone());
    match find("memory") {
        Some(d) if d.starts_with("memory") => {}
        Some(d) => {
            return Err(ValidationError::ExportSignature {
                name: "memory".into(),
                expected: "memory".into(),
                found: d,
            });
        }
        None => return Err(ValidationError::MissingExport { name: "memory", kind: "memory" }),
    }
    let check_func = |name: &'static str, expected: &str, required: bool| -> Result<bool, ValidationError> {
        match find(name) {
            Some(d) if d == format!("func {expected}") => Ok(true),
            Some(d) => Err(ValidationError::ExportSignature {
                name: name.into(),
                expected: format!("func {expected}"),
                found: d,
            }),
            None if required => Err(ValidationError::MissingExport { name, kind: "function" }),
            None => Ok(false),
        }
    };
    check_func("cairn_alloc", "(i32) -> (i32)", true)?;
    for name in REQUIRED_ENTRIES {
        check_func(name, entry_sig, true)?;
    }
    info.has_migrate = check_func("migrate", entry_sig, false)?;
    info.has_end_block = check_func("end_block", entry_sig, false)?;
    info.has_begin_block = check_func("begin_block", entry_sig, false)?;
    info.has_validator_set_updates = check_func("validator_set_updates", entry_sig, false)?;
    info.has_quota = check_func("quota", entry_sig, false)?;
    info.exports = exported;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(extra_imports: &str, extra: &str) -> Vec<u8> {
        let text = format!(
            r#"(module {extra_imports}
                (memory (export "memory") 1)
                (func (export "cairn_alloc") (param i32) (result i32) i32.const 1024)
                (func (export "instantiate") (param i32 i32) (result i32) i32.const 0)
                (func (export "execute") (param i32 i32) (result i32) i32.const 0)
                (func (export "query") (param i32 i32) (result i32) i32.const 0)
                {extra})"#
        );
        wat::parse_str(text).unwrap_or_default()
    }

    #[test]
    fn minimal_module_passes() {
        let info = validate(&module("", ""), &Limits::default()).map_err(|e| e.to_string());
        assert!(info.is_ok(), "{info:?}");
    }

    #[test]
    fn wrong_import_signature_is_named() {
        let bytes = module(r#"(import "cairn_v1" "storage_get" (func (param i32) (result i64)))"#, "");
        let err = validate(&bytes, &Limits::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("storage_get") && err.contains("expects"), "{err}");
    }

    #[test]
    fn simd_is_rejected_with_offset() {
        let bytes = module("", r#"(func (result v128) v128.const i64x2 0 0)"#);
        let err = validate(&bytes, &Limits::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("offset") && err.to_lowercase().contains("simd"), "{err}");
    }

    #[test]
    fn missing_entry_point_is_named() {
        let text = r#"(module (memory (export "memory") 1)
            (func (export "cairn_alloc") (param i32) (result i32) i32.const 0)
            (func (export "instantiate") (param i32 i32) (result i32) i32.const 0))"#;
        let bytes = wat::parse_str(text).unwrap_or_default();
        let err = validate(&bytes, &Limits::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("`execute`"), "{err}");
    }

    #[test]
    fn huge_initial_memory_is_rejected() {
        let text = r#"(module (memory (export "memory") 1000)
            (func (export "cairn_alloc") (param i32) (result i32) i32.const 0))"#;
        let bytes = wat::parse_str(text).unwrap_or_default();
        let err = validate(&bytes, &Limits::default()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("1000 pages"), "{err}");
    }
}
