//! `cairn keys new|show`: create and inspect ed25519 keys (accounts and validators).

use std::path::PathBuf;

use anyhow::{Result, bail};
use cairn_primitives::{Address, Keypair};

use super::{keyfile, template};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Create a new random key and write it to a key file (mode 0600).
    New {
        /// Where to write the key file.
        #[arg(long, conflicts_with = "home")]
        file: Option<PathBuf>,
        /// A node home: writes HOME/keys/NAME.json.
        #[arg(long)]
        home: Option<PathBuf>,
        /// Name of the key inside --home.
        #[arg(long, default_value = "account")]
        name: String,
        /// Overwrite an existing file (its old key is lost).
        #[arg(long)]
        force: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a key's public key and address (never its secret unless --secret).
    Show {
        /// A key file.
        #[arg(long, conflicts_with_all = ["home", "user"])]
        file: Option<PathBuf>,
        /// A node home: shows its validator key (config/priv_validator_key.json; `config/node_key.json` in a
        /// home not yet migrated by `cairn start`), or HOME/keys/NAME.json with --name.
        #[arg(long, conflicts_with = "user")]
        home: Option<PathBuf>,
        /// With --home: the node's p2p key (its network identity, `node_key_file`) instead.
        #[arg(long, requires = "home", conflicts_with = "name")]
        p2p: bool,
        /// With --home: a key created by `keys new --home HOME --name NAME`.
        #[arg(long)]
        name: Option<String>,
        /// A funded devnet user key of a template chain (deterministic; for localnets only).
        #[arg(long)]
        user: Option<u64>,
        /// Chain id the devnet user key belongs to (with --user).
        #[arg(long, default_value = "cairn-small")]
        chain_id: String,
        /// Also print the secret key.
        #[arg(long)]
        secret: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Path of a node's validator key: `key_file` of its config.toml (default `config/priv_validator_key.json`).
pub fn node_key_path(home: &std::path::Path) -> PathBuf {
    let config =
        cairn_node::NodeConfig::load(&home.join(cairn_node::config::CONFIG_FILE)).unwrap_or_default();
    cairn_node::NodeConfig::resolve(home, &config.key_file)
}

/// Path of a node's p2p key: `node_key_file` of its config.toml (default `config/node_key.json`).
fn p2p_key_path(home: &std::path::Path) -> PathBuf {
    let config =
        cairn_node::NodeConfig::load(&home.join(cairn_node::config::CONFIG_FILE)).unwrap_or_default();
    cairn_node::NodeConfig::resolve(home, &config.node_key_file)
}

pub fn run(args: Args) -> Result<()> {
    match args.cmd {
        Cmd::New { file, home, name, force, json } => {
            let path = match (file, home) {
                (Some(f), _) => f,
                (None, Some(h)) => h.join("keys").join(format!("{name}.json")),
                (None, None) => bail!("say where to write the key: --file FILE or --home DIR"),
            };
            let key = Keypair::generate();
            keyfile::write(&path, &key, force)?;
            print_key(&key, json, false, Some(&path));
            Ok(())
        }
        Cmd::Show { file, home, p2p, name, user, chain_id, secret, json } => {
            let (key, path) = match (file, home, user) {
                (Some(f), _, _) => (keyfile::read(&f)?, Some(f)),
                (None, Some(h), _) => {
                    let p = match name {
                        Some(n) => h.join("keys").join(format!("{n}.json")),
                        None if p2p => p2p_key_path(&h),
                        None => node_key_path(&h),
                    };
                    (keyfile::read(&p)?, Some(p))
                }
                (None, None, Some(i)) => (template::user_key(&chain_id, i), None),
                (None, None, None) => bail!("say which key: --file FILE, --home DIR or --user I"),
            };
            print_key(&key, json, secret, path.as_deref());
            Ok(())
        }
    }
}

fn print_key(key: &Keypair, json: bool, secret: bool, path: Option<&std::path::Path>) {
    let public = key.public();
    let address = Address::from(public);
    if json {
        let mut v = serde_json::json!({ "public_key": public.to_hex(), "address": address.to_hex() });
        if let Some(p) = path {
            v["file"] = serde_json::json!(p.display().to_string());
        }
        if secret {
            v["secret_key"] = serde_json::json!(key.secret_hex());
        }
        println!("{v}");
    } else {
        if let Some(p) = path {
            println!("file:       {}", p.display());
        }
        println!("public key: {public}");
        println!("address:    {address}");
        if secret {
            println!("secret key: {}", key.secret_hex());
        }
    }
}
