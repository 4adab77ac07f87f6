//! The committed `modules/wasm/*.wasm` are what the host will accept: valid Wasm, imports only from `cairn_v1`
//! with the signatures of docs/HOST_API.md, the required entry points exported with the right types, and no
//! floating point anywhere (so there is nothing for NaN canonicalisation to fix).

use std::collections::BTreeMap;
use std::path::PathBuf;

use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

use ValType::{I32, I64};

/// Parameter and result types of a function.
type Sig = (Vec<ValType>, Vec<ValType>);

/// (module file, optional exports it must have besides the required ones)
const MODULES: &[(&str, &[&str])] = &[
    ("bank", &["migrate"]),
    ("poa", &["migrate", "end_block", "validator_set_updates"]),
    ("wot", &["migrate", "end_block", "validator_set_updates"]),
    ("pos", &["migrate", "end_block", "validator_set_updates"]),
    ("gov", &["migrate", "end_block"]),
];

fn host_imports() -> BTreeMap<&'static str, Sig> {
    BTreeMap::from([
        ("read_return", (vec![I32], vec![])),
        ("storage_get", (vec![I32, I32], vec![I64])),
        ("storage_set", (vec![I32, I32, I32, I32], vec![])),
        ("storage_remove", (vec![I32, I32], vec![])),
        ("storage_next", (vec![I32, I32, I32, I32], vec![I64])),
        ("emit_event", (vec![I32, I32], vec![])),
        ("env", (vec![], vec![I64])),
        ("ed25519_verify", (vec![I32, I32, I32, I32], vec![I32])),
        ("blake3", (vec![I32, I32, I32], vec![])),
        ("call", (vec![I32, I32, I32, I64], vec![I64])),
        ("set_output", (vec![I32, I32], vec![])),
        ("abort", (vec![I32, I32], vec![])),
    ])
}

fn signature(ty: &FuncType) -> Sig {
    (ty.params().to_vec(), ty.results().to_vec())
}

fn is_float(ty: &ValType) -> bool {
    matches!(ty, ValType::F32 | ValType::F64)
}

struct Summary {
    imports: Vec<(String, String, Sig)>,
    exports: BTreeMap<String, Option<Sig>>,
    has_memory_export: bool,
    /// Float instructions, float locals and globals, and signatures with floats.
    floats: usize,
}

fn inspect(bytes: &[u8]) -> Summary {
    wasmparser::Validator::new().validate_all(bytes).expect("module validates");
    let mut types: Vec<FuncType> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new(); // type index of every function, imports first
    let mut imports = Vec::new();
    let mut raw_exports = Vec::new();
    let mut floats = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("parses") {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty.expect("func type"));
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.expect("import");
                    let TypeRef::Func(t) = import.ty else {
                        panic!("non-function import {}::{}", import.module, import.name);
                    };
                    func_types.push(t);
                    imports.push((
                        import.module.to_string(),
                        import.name.to_string(),
                        signature(&types[t as usize]),
                    ));
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    func_types.push(t.expect("function"));
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    if is_float(&g.expect("global").ty.content_type) {
                        floats += 1;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e.expect("export");
                    raw_exports.push((e.name.to_string(), e.kind, e.index));
                }
            }
            Payload::CodeSectionEntry(body) => {
                for local in body.get_locals_reader().expect("locals") {
                    if is_float(&local.expect("local").1) {
                        floats += 1;
                    }
                }
                let mut ops = body.get_operators_reader().expect("operators");
                while !ops.eof() {
                    let op = format!("{:?}", ops.read().expect("operator"));
                    if op.contains("F32") || op.contains("F64") {
                        floats += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let mut exports = BTreeMap::new();
    let mut has_memory_export = false;
    for (name, kind, index) in raw_exports {
        match kind {
            ExternalKind::Func => {
                let sig = signature(&types[func_types[index as usize] as usize]);
                exports.insert(name, Some(sig));
            }
            ExternalKind::Memory => {
                has_memory_export |= name == "memory";
                exports.insert(name, None);
            }
            _ => {
                exports.insert(name, None);
            }
        }
    }
    floats += types.iter().filter(|t| t.params().iter().chain(t.results()).any(is_float)).count();
    Summary { imports, exports, has_memory_export, floats }
}

#[test]
fn committed_modules_match_the_host_api() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wasm");
    let allowed = host_imports();
    let entry = (vec![I32, I32], vec![I32]);
    for (name, optional) in MODULES {
        let path = dir.join(format!("{name}.wasm"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let summary = inspect(&bytes);

        for (module, import, sig) in &summary.imports {
            assert_eq!(module, "cairn_v1", "{name}.wasm imports {module}::{import}");
            let want = allowed
                .get(import.as_str())
                .unwrap_or_else(|| panic!("{name}.wasm imports unknown {import}"));
            assert_eq!(sig, want, "{name}.wasm: signature of {import}");
        }
        assert!(summary.has_memory_export, "{name}.wasm exports no memory");
        assert_eq!(
            summary.exports.get("cairn_alloc"),
            Some(&Some((vec![I32], vec![I32]))),
            "{name}.wasm: cairn_alloc"
        );
        for export in ["instantiate", "execute", "query"].iter().chain(optional.iter()) {
            assert_eq!(
                summary.exports.get(*export),
                Some(&Some(entry.clone())),
                "{name}.wasm: export {export}"
            );
        }
        assert_eq!(summary.floats, 0, "{name}.wasm uses floats");
    }
}

#[test]
fn the_inspection_catches_a_foreign_import_and_floats() {
    // The checks above must be able to fail: a module importing from elsewhere and using floats.
    let wat = r#"(module
        (import "env" "clock" (func (result i64)))
        (func (export "f") (param f64) (result f64) local.get 0 f64.sqrt)
        (memory (export "memory") 1))"#;
    let bytes = wat_to_wasm(wat);
    let summary = inspect(&bytes);
    assert_eq!(summary.imports[0].0, "env");
    // one f64.sqrt, one signature with f64
    assert_eq!(summary.floats, 2);
}

fn wat_to_wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("wat")
}
