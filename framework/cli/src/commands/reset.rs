//! `cairn unsafe-reset-all --home DIR`: delete a node's chain data (blocks, consensus WAL, application state) and
//! keep its keys, config and genesis, so it can resync from peers or restart a devnet from genesis.
//!
//! "Unsafe" as in CometBFT: the consensus WAL is the validator's record of what it signed. A validator whose WAL
//! is gone may sign a vote that conflicts with one it signed before the reset and be slashed for double signing,
//! so this is for devnets, or for a validator that will not sign at the heights it already signed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cairn_node::NodeConfig;
use cairn_node::config::CONFIG_FILE;

#[derive(clap::Args)]
pub struct Args {
    /// The node's home directory (config/, data/).
    #[arg(long)]
    home: PathBuf,
    /// Print what was removed as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let config_path = args.home.join(CONFIG_FILE);
    if !config_path.exists() {
        bail!("{} does not exist: {} is not a node home", config_path.display(), args.home.display());
    }
    let config = NodeConfig::load(&config_path)?;
    let data = NodeConfig::resolve(&args.home, &config.data_dir);
    let key = NodeConfig::resolve(&args.home, &config.key_file);
    let p2p_key = NodeConfig::resolve(&args.home, &config.node_key_file);
    // Never delete the keys or the config, whatever data_dir says.
    for keep in [&key, &p2p_key, &config_path] {
        if keep.starts_with(&data) {
            bail!(
                "data_dir {} contains {}: refusing to delete it; move the key/config out of the data directory",
                data.display(),
                keep.display()
            );
        }
    }
    let mut removed = Vec::new();
    if data.exists() {
        let mut entries: Vec<_> = std::fs::read_dir(&data)
            .with_context(|| format!("reading {}", data.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", data.display()))?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            let result = if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            result.with_context(|| format!("removing {}", path.display()))?;
            removed.push(path.display().to_string());
        }
    }
    if args.json {
        let out = serde_json::json!({ "removed": removed, "kept": [key.display().to_string(),
            config_path.display().to_string()] });
        println!("{out}");
    } else {
        if removed.is_empty() {
            println!("nothing to remove: {} is empty or missing", data.display());
        }
        for path in &removed {
            println!("removed {path}");
        }
        println!("kept    {} (validator key) and {} (config, genesis)", key.display(), config_path.display());
        println!(
            "warning: the consensus WAL is gone; a validator must not sign again at heights it already signed"
        );
    }
    Ok(())
}
