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
    /// Join an existing chain: use this genesis file (e.g. another node's config/genesis.json) instead of making
    /// a new one-validator chain. The new node is not a validator until the chain admits its key (PoA:
    /// `cairn tx poa admit`).
    #[arg(long)]
    genesis: Option<PathBuf>,
    /// Peers to dial at start, `PUBKEY@host:port` or `host:port` (repeatable).
    #[arg(long)]
    bootstrap: Vec<String>,
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
    let (genesis, joined) = match &args.genesis {
        Some(path) => {
            (cairn_node::Genesis::load(path).with_context(|| format!("--genesis {}", path.display()))?, true)
        }
        None => (
            chain::genesis(
                &t,
                &chain_id,
                &[ValidatorSpec { public_key: key.public(), name: moniker.clone() }],
            )?,
            false,
        ),
    };
    let chain_id = genesis.chain_id.clone();
    let mut config = NodeConfig { moniker: moniker.clone(), ..NodeConfig::default() };
    config.p2p.bootstrap = args.bootstrap.clone();
    config.validate(&args.home.join(CONFIG_FILE)).context("--bootstrap")?;
    let p2p_key = Keypair::generate();
    chain::write_home(&args.home, &key, &p2p_key, &config, &genesis)?;
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
                "p2p_key": p2p_key.public().to_hex(),
                "config": config_path.display().to_string(),
                "genesis": genesis_path.display().to_string(),
                "grpc": format!("http://{}", config.api.grpc),
            })
        );
    } else {
        println!("initialised {} (template {}, chain {chain_id})", args.home.display(), t.name);
        println!("  validator key: {} (config/priv_validator_key.json)", key.public());
        println!(
            "  p2p key:       {} (config/node_key.json; peers bootstrap to KEY@IP:PORT with it)",
            p2p_key.public()
        );
        println!("  config:        {}", config_path.display());
        if joined {
            println!(
                "  genesis:       {} (copied: joins chain {chain_id} as a non-validator)",
                genesis_path.display()
            );
            println!(
                "make it a validator (PoA): cairn tx poa admit --key {} --from-key AUTHORITY_KEY --node URL",
                key.public()
            );
        } else {
            println!("  genesis:       {} (1 validator: this node)", genesis_path.display());
        }
        println!("start it:   cairn start --home {}", args.home.display());
        if !joined {
            println!("a local multi-validator chain instead: cairn new NAME --template {}", t.name);
        }
    }
    Ok(())
}
