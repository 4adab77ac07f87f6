//! `cairn tx …`: sign and submit transactions (bank transfers; module upload, instantiate, execute, migrate;
//! proof-of-authority and governance proposals and votes).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cairn_primitives::{Address, Hash, Keypair, Message, Tx};
use cairn_proto::node::v1 as pb;

use super::{bank, client, gov, keyfile, staking, template};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Common {
    /// Key file of the signer (from `cairn keys new --file FILE`).
    #[arg(long, global = true, conflicts_with = "user")]
    from_key: Option<PathBuf>,
    /// Sign as funded devnet user I of a template chain (localnets only).
    #[arg(long, global = true)]
    user: Option<u64>,
    /// gRPC API of the node.
    #[arg(long, global = true, default_value = client::DEFAULT_NODE, env = "CAIRN_NODE")]
    node: String,
    /// Nonce (default: the next one the chain expects from the signer).
    #[arg(long, global = true)]
    nonce: Option<u64>,
    /// Most fuel the tx may burn (default: 20,000,000, capped by the chain's max_tx_fuel).
    #[arg(long, global = true)]
    fuel: Option<u64>,
    /// Price per unit of fuel, in the bank's smallest unit (default: 0 if the signer's quota covers the fuel,
    /// else the chain's min_price). The sender must hold fuel × price.
    #[arg(long, global = true)]
    price: Option<u128>,
    /// Return once the mempool accepted the tx instead of waiting until it is finalized.
    #[arg(long, global = true)]
    no_wait: bool,
    /// Print as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Send bank tokens.
    Transfer {
        /// Recipient address (hex).
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: u128,
        /// Label of the bank module instance.
        #[arg(long, default_value = bank::BANK_LABEL)]
        bank: String,
    },
    /// Store Wasm code (its code id is blake3 of the bytes).
    Upload {
        /// The .wasm file.
        #[arg(long)]
        wasm: PathBuf,
    },
    /// Create a module instance from uploaded code.
    Instantiate {
        #[arg(long)]
        code_id: String,
        #[arg(long)]
        label: String,
        /// Who may migrate it (hex address); none: immutable.
        #[arg(long)]
        admin: Option<String>,
        /// The init message: borsh bytes as hex.
        #[arg(long, default_value = "")]
        msg: String,
    },
    /// Call a module's `execute` entry point.
    Execute {
        /// Module address (hex), or `label:NAME`.
        #[arg(long)]
        contract: String,
        /// The message: borsh bytes as hex.
        #[arg(long)]
        msg: String,
    },
    /// Proof of authority: propose admitting, removing or re-weighting an authority, or vote on a proposal.
    /// Sign with an authority's validator key (`--from-key HOME/config/priv_validator_key.json`); a change passes with
    /// more than 2/3 of authority weight and the validator set follows at H+2.
    Poa {
        #[command(subcommand)]
        action: PoaAction,
        /// Label of the PoA module instance.
        #[arg(long, default_value = "poa")]
        poa: String,
    },
    /// Governance: propose switching the Sybil module or the consensus engine at a height, a chain parameter or
    /// the upload permission; vote. Only validators propose and vote, with their validator key.
    Gov {
        #[command(subcommand)]
        cmd: gov::GovCmd,
        /// Label of the governance module instance.
        #[arg(long, default_value = gov::GOV_LABEL)]
        gov: String,
    },
    /// Proof of stake: bond, delegate, unbond, redelegate, unjail (amounts from your balance held by pos).
    Pos {
        #[command(subcommand)]
        cmd: staking::PosCmd,
        /// Label of the pos module instance.
        #[arg(long, default_value = "pos")]
        pos: String,
    },
    /// Web of trust: certify, join, smith-certify, join-smiths.
    Wot {
        #[command(subcommand)]
        cmd: staking::WotCmd,
        /// Label of the wot module instance.
        #[arg(long, default_value = "wot")]
        wot: String,
    },
    /// Switch a module instance to new code (admin only).
    Migrate {
        /// Module address (hex), or `label:NAME`.
        #[arg(long)]
        contract: String,
        #[arg(long)]
        code_id: String,
        /// The migrate message: borsh bytes as hex.
        #[arg(long, default_value = "")]
        msg: String,
    },
}

#[derive(clap::Subcommand)]
enum PoaAction {
    /// Propose making KEY an authority (and so a validator) with weight POWER.
    Admit {
        /// The new authority's validator public key (hex; `cairn keys show --home DIR` prints it).
        #[arg(long)]
        key: String,
        #[arg(long, default_value_t = 1)]
        power: u64,
    },
    /// Propose removing the authority KEY (its validator power becomes 0).
    Remove {
        #[arg(long)]
        key: String,
    },
    /// Propose changing the weight of the authority KEY.
    SetPower {
        #[arg(long)]
        key: String,
        #[arg(long)]
        power: u64,
    },
    /// Vote on open proposal ID (yes unless --reject).
    Vote {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        reject: bool,
    },
}

fn poa_msg(action: &PoaAction) -> Result<Vec<u8>> {
    use cairn_module_poa::msg::{Action, ExecuteMsg};
    let key = |k: &str| -> Result<[u8; 32]> {
        Ok(cairn_primitives::PublicKey::from_hex(k).context("--key must be a hex public key")?.0)
    };
    let msg = match action {
        PoaAction::Admit { key: k, power } => {
            ExecuteMsg::Propose { action: Action::Admit { key: key(k)?, power: *power } }
        }
        PoaAction::Remove { key: k } => ExecuteMsg::Propose { action: Action::Remove { key: key(k)? } },
        PoaAction::SetPower { key: k, power } => {
            ExecuteMsg::Propose { action: Action::SetPower { key: key(k)?, power: *power } }
        }
        PoaAction::Vote { id, reject } => ExecuteMsg::Vote { id: *id, approve: !reject },
    };
    Ok(borsh::to_vec(&msg)?)
}

fn signer(common: &Common, chain_id: &str) -> Result<Keypair> {
    match (&common.from_key, common.user) {
        (Some(path), _) => keyfile::read(path),
        (None, Some(i)) => Ok(template::user_key(chain_id, i)),
        (None, None) => {
            bail!("say who signs: --from-key FILE (see `cairn keys new`) or --user I on a devnet")
        }
    }
}

fn hex_arg(name: &str, s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim()).with_context(|| format!("--{name} must be hex"))
}

async fn contract(c: &mut client::Client, url: &str, s: &str) -> Result<Address> {
    match s.strip_prefix("label:") {
        Some(label) => bank::module_address(c, url, label).await,
        None => Address::from_hex(s).context("--contract must be a hex address or label:NAME"),
    }
}

pub fn run(args: Args) -> Result<()> {
    client::runtime()?.block_on(async {
        let common = &args.common;
        let url = common.node.clone();
        let mut c = client::connect(&url).await?;
        let chain_id = bank::chain_id(&mut c, &url).await?;
        let key = signer(common, chain_id.as_str())?;
        let message = match &args.cmd {
            Cmd::Transfer { to, amount, bank: label } => {
                let to = Address::from_hex(to).context("--to")?;
                if *amount == 0 {
                    bail!("--amount must be positive");
                }
                let bank = bank::module_address(&mut c, &url, label).await?;
                let msg = borsh::to_vec(&cairn_module_bank::msg::ExecuteMsg::Transfer {
                    to: to.0,
                    amount: *amount,
                })?;
                Message::Execute { contract: bank, msg }
            }
            Cmd::Upload { wasm } => {
                let code = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
                eprintln!("code id: {}", Hash::digest(&code));
                Message::Upload { code }
            }
            Cmd::Instantiate { code_id, label, admin, msg } => Message::Instantiate {
                code_id: Hash::from_hex(code_id).context("--code-id")?,
                label: label.clone(),
                admin: admin.as_deref().map(Address::from_hex).transpose().context("--admin")?,
                msg: hex_arg("msg", msg)?,
            },
            Cmd::Execute { contract: addr, msg } => {
                Message::Execute { contract: contract(&mut c, &url, addr).await?, msg: hex_arg("msg", msg)? }
            }
            Cmd::Poa { action, poa } => Message::Execute {
                contract: bank::module_address(&mut c, &url, poa).await?,
                msg: poa_msg(action)?,
            },
            Cmd::Gov { cmd, gov: label } => Message::Execute {
                contract: bank::module_address(&mut c, &url, label).await?,
                msg: gov::message(&mut c, &url, cmd).await?,
            },
            Cmd::Pos { cmd, pos } => Message::Execute {
                contract: bank::module_address(&mut c, &url, pos).await?,
                msg: staking::pos_message(cmd)?,
            },
            Cmd::Wot { cmd, wot } => Message::Execute {
                contract: bank::module_address(&mut c, &url, wot).await?,
                msg: staking::wot_message(cmd)?,
            },
            Cmd::Migrate { contract: addr, code_id, msg } => Message::Migrate {
                contract: contract(&mut c, &url, addr).await?,
                code_id: Hash::from_hex(code_id).context("--code-id")?,
                msg: hex_arg("msg", msg)?,
            },
        };
        let nonce = match common.nonce {
            Some(n) => n,
            None => bank::next_nonce(&mut c, &url, &key.public()).await?,
        };
        let (fuel, price) =
            bank::fuel_and_price(&mut c, &url, &Address::from(key.public()), common.fuel, common.price)
                .await?;
        let tx: Tx = bank::sign(&key, &chain_id, nonce, fuel, price, vec![message]);
        let bytes = tx.to_bytes();
        let mode = if common.no_wait { pb::BroadcastMode::Sync } else { pb::BroadcastMode::Commit };
        let r = c
            .broadcast_tx(pb::BroadcastTxRequest { tx: bytes.clone(), mode: mode as i32 })
            .await
            .map_err(|s| client::rpc_error("BroadcastTx", &url, s))?
            .into_inner();
        report(&r, common.json, &key, nonce)
    })
}

fn report(r: &pb::BroadcastTxResponse, json: bool, key: &Keypair, nonce: u64) -> Result<()> {
    let hash = hex::encode(&r.hash);
    let result = r.result.clone();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "hash": hash, "sender": key.public().to_hex(), "nonce": nonce,
                "check_code": r.check_code, "check_log": r.log,
                "height": r.height,
                "code": result.as_ref().map(|x| x.code), "log": result.as_ref().map(|x| x.log.clone()),
                "gas_used": result.as_ref().map(|x| x.gas_used),
                "data": result.as_ref().map(|x| hex::encode(&x.data)),
            })
        );
    } else {
        println!("tx {hash} (sender {}, nonce {nonce})", key.public());
    }
    if r.check_code != 0 {
        bail!("the node rejected the tx (code {}): {}", r.check_code, r.log);
    }
    match result {
        Some(res) if res.code != 0 => {
            bail!("the tx was finalized at height {} but failed (code {}): {}", r.height, res.code, res.log)
        }
        Some(res) => {
            if !json {
                println!("finalized at height {} (fuel used {})", r.height, res.gas_used);
                // A PoA proposal or vote answers with where the proposal stands.
                if let Ok(p) = borsh::from_slice::<cairn_module_poa::msg::ProposalStatus>(&res.data) {
                    println!("proposal {}: {:?}", p.id, p.status);
                }
            }
        }
        None => {
            if !json {
                println!("accepted into the mempool; follow it with `cairn query tx {hash}`");
            }
        }
    }
    Ok(())
}
