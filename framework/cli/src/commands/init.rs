//! `cairn init --home DIR`: a node home with a fresh validator key, config.toml and a genesis from a template.

use std::path::PathBuf;

use anyhow::{Context, Result};
use cairn_node::NodeConfig;
use cairn_node::config::CONFIG_FILE;
use cairn_primitives::{ChainId, Keypair};

use super::chain::{self, ValidatorSpec};
use super::template;

#[derive(clap::Args)]
pub struct Args {
    /// The node's home directory (created if missing).
    #[arg(long)]
    home: PathBuf,
    /// The chain template (see templates/README.md).
    #[arg(long, default_value = "small")]
    template: String,
    /// Chain id (default: the template's).
    #[arg(long)]
    chain_id: Option<String>,
    /// A human name for this node.
    #[arg(long)]
    moniker: Option<String>,
    /// Overwrite an existing home's config, key and genesis (its data directory is kept).
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let t = template::load(&args.template)?;
    let chain_id =
        ChainId::new(args.chain_id.clone().unwrap_or_else(|| t.chain_id.clone())).context("--chain-id")?;
    chain::check_fresh(&args.home, args.force)?;
    let key = Keypair::generate();
    let moniker = args.moniker.clone().unwrap_or_else(|| "node0".to_string());
    let genesis =
        chain::genesis(&t, &chain_id, &[ValidatorSpec { public_key: key.public(), name: moniker.clone() }])?;
    let config = NodeConfig { moniker: moniker.clone(), ..NodeConfig::default() };
    chain::write_home(&args.home, &key, &config, &genesis)?;
    let config_path = args.home.join(CONFIG_FILE);
    let genesis_path = NodeConfig::resolve(&args.home, &config.genesis_file);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "home": args.home.display().to_string(),
                "chain_id": chain_id.to_string(),
                "template": t.name,
                "node_key": key.public().to_hex(),
                "config": config_path.display().to_string(),
                "genesis": genesis_path.display().to_string(),
                "grpc": format!("http://{}", config.api.grpc),
            })
        );
    } else {
        println!("initialised {} (template {}, chain {chain_id})", args.home.display(), t.name);
        println!("  node key: {}", key.public());
        println!("  config:   {}", config_path.display());
        println!("  genesis:  {} (1 validator: this node)", genesis_path.display());
        println!("start it:   cairn start --home {}", args.home.display());
        println!("a local multi-validator chain instead: cairn new NAME --template {}", t.name);
    }
    Ok(())
}
