//! `cairn module check FILE.wasm` — validates a module exactly as the chain does at upload, compiles it, and prints
//! its imports and exports; a rejection says what is wrong and where, with a non-zero exit code.

use std::path::PathBuf;

use anyhow::{Context, bail};
use cairn_execution::{Admission, ExecConfig, Limits, ModuleCache};
use cairn_primitives::Hash;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Check that a .wasm file would be accepted at upload.
    Check {
        /// The module file.
        file: PathBuf,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Files larger than this are not even read (the upload limit is far lower).
const MAX_READ: u64 = 64 * 1024 * 1024;

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Check { file, json } => check(&file, json),
    }
}

fn check(file: &PathBuf, json: bool) -> anyhow::Result<()> {
    let meta = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if meta.len() > MAX_READ {
        bail!(
            "{} is {} bytes: modules are limited to {} bytes",
            file.display(),
            meta.len(),
            Limits::default().max_module_bytes
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let config = ExecConfig::default();
    let limits = config.limits.clone();
    let cache = ModuleCache::new(None, 1, config.max_wasm_stack).context("starting the wasm engine")?;
    // The chain's own upload verdict: static checks, then a compile against the chain's engine and pool.
    let info = match cache.admit(&bytes, &limits) {
        Ok(admitted) => admitted.info,
        Err(Admission::Refused(e)) => bail!("{} is rejected: {e}", file.display()),
        Err(Admission::Local(e)) => bail!("cannot check {}: {e}", file.display()),
    };
    let code_id = Hash::digest(&bytes);
    if json {
        let exports: Vec<_> =
            info.exports.iter().map(|(n, d)| serde_json::json!({ "name": n, "type": d })).collect();
        println!(
            "{}",
            serde_json::json!({
                "ok": true,
                "code_id": code_id.to_hex(),
                "bytes": bytes.len(),
                "imports": info.imports,
                "exports": exports,
                "memory_pages": { "initial": info.memory_pages.0, "maximum": info.memory_pages.1 },
                "sybil": info.has_validator_set_updates,
                "grants_quota": info.has_quota,
            })
        );
    } else {
        println!("module   {}", file.display());
        println!("code id  {}", code_id.to_hex());
        println!("size     {} bytes", bytes.len());
        println!("imports  (cairn_v1)");
        for i in &info.imports {
            println!("  {i}");
        }
        println!("exports");
        for (n, d) in &info.exports {
            println!("  {n}: {d}");
        }
        let (initial, max) = info.memory_pages;
        let max = max.map(|m| m.to_string()).unwrap_or_else(|| "none".into());
        println!(
            "memory   {initial} pages initial, maximum {max} (capped at {} pages)",
            limits.max_memory_pages
        );
        println!("OK");
    }
    Ok(())
}
