//! `cairn query …`: read chain state through a node (balances, nonces, modules, raw app queries, blocks, txs).

use anyhow::{Context, Result, bail};
use cairn_primitives::{Address, Hash, PublicKey};
use cairn_proto::node::v1 as pb;

use super::{bank, client, gov, staking};

#[derive(clap::Args)]
pub struct Args {
    /// gRPC API of the node.
    #[arg(long, global = true, default_value = client::DEFAULT_NODE, env = "CAIRN_NODE")]
    node: String,
    /// Print as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Bank balance of an account (hex address = public key).
    Balance {
        address: String,
        /// Label of the bank module instance.
        #[arg(long, default_value = bank::BANK_LABEL)]
        bank: String,
    },
    /// The next nonce the chain expects from a sender (hex public key).
    Nonce { public_key: String },
    /// Address of the module instance with this label.
    Module { label: String },
    /// Proof of authority: the authorities and their weights, and the open proposals.
    Poa {
        /// Label of the PoA module instance.
        #[arg(long, default_value = "poa")]
        poa: String,
    },
    /// Governance: proposal ID, or the open proposals, the actions waiting for the host, the validators gov
    /// votes with and its parameters.
    Gov {
        id: Option<u64>,
        /// Label of the governance module instance.
        #[arg(long, default_value = gov::GOV_LABEL)]
        gov: String,
    },
    /// Proof of stake: the active set, and an account's balance and validator record.
    Pos {
        /// Hex public key of an account or validator.
        who: Option<String>,
        #[arg(long, default_value = "pos")]
        pos: String,
    },
    /// Web of trust: member count and smiths, and one identity's membership.
    Wot {
        /// Hex public key.
        who: Option<String>,
        #[arg(long, default_value = "wot")]
        wot: String,
    },
    /// The validator set as the application last returned it (changes returned at height H decide from H+2),
    /// with the node's view of the set deciding the next block.
    Validators,
    /// Any application query: a path and hex data.
    Raw {
        /// e.g. `label/bank`, `module/<address>`, `store/<key hex>`, `nonce/<public key>`.
        #[arg(long)]
        path: String,
        /// Query data as hex.
        #[arg(long, default_value = "")]
        data: String,
        /// Height (0: latest).
        #[arg(long, default_value_t = 0)]
        height: u64,
        /// Ask for a Merkle proof.
        #[arg(long)]
        prove: bool,
    },
    /// Fee, storage-deposit and quota parameters of the chain (and its fuel limits).
    Params,
    /// What is left of an account's free quota this window (hex address).
    Quota { address: String },
    /// A finalized block (0: the latest).
    Block { height: u64 },
    /// A finalized tx and its result, by hash.
    Tx { hash: String },
}

pub fn run(args: Args) -> Result<()> {
    client::runtime()?.block_on(async {
        let url = args.node.clone();
        let mut c = client::connect(&url).await?;
        match args.cmd {
            Cmd::Balance { address, bank: label } => {
                let account = Address::from_hex(&address).context("ADDRESS")?;
                let bank = bank::module_address(&mut c, &url, &label).await?;
                let amount = bank::balance(&mut c, &url, &bank, &account).await?;
                if args.json {
                    println!("{}", serde_json::json!({"address": account.to_hex(), "balance": amount.to_string()}));
                } else {
                    println!("{amount}");
                }
            }
            Cmd::Nonce { public_key } => {
                let pk = PublicKey::from_hex(&public_key).context("PUBLIC_KEY")?;
                let n = bank::next_nonce(&mut c, &url, &pk).await?;
                if args.json {
                    println!("{}", serde_json::json!({"public_key": pk.to_hex(), "next_nonce": n}));
                } else {
                    println!("{n}");
                }
            }
            Cmd::Module { label } => {
                let addr = bank::module_address(&mut c, &url, &label).await?;
                if args.json {
                    println!("{}", serde_json::json!({"label": label, "address": addr.to_hex()}));
                } else {
                    println!("{addr}");
                }
            }
            Cmd::Poa { poa } => {
                use cairn_module_poa::msg::{Proposal, QueryMsg};
                let addr = bank::module_address(&mut c, &url, &poa).await?;
                let auth: Vec<([u8; 32], u64)> = bank::module_query(&mut c, &url, &addr, &QueryMsg::Authorities).await?;
                let props: Vec<Proposal> = bank::module_query(&mut c, &url, &addr, &QueryMsg::Proposals).await?;
                let v = serde_json::json!({
                    "authorities": auth.iter().map(|(k, p)| serde_json::json!({"public_key": hex::encode(k), "power": p})).collect::<Vec<_>>(),
                    "proposals": props.iter().map(|p| serde_json::json!({
                        "id": p.id, "proposer": hex::encode(p.proposer), "action": action_json(&p.action),
                        "created_at": p.created_at, "expires_at": p.expires_at,
                        "yes": p.yes.iter().map(hex::encode).collect::<Vec<_>>(),
                        "no": p.no.iter().map(hex::encode).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                });
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
            Cmd::Gov { id, gov: label } => {
                let v = gov::query(&mut c, &url, &label, id).await?;
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
            Cmd::Params => {
                let v = bank::params(&mut c, &url).await?;
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
            Cmd::Pos { who, pos } => {
                let v = staking::pos_query(&mut c, &url, &pos, who.as_deref()).await?;
                println!("{}", if args.json { v.to_string() } else { serde_json::to_string_pretty(&v)? });
            }
            Cmd::Wot { who, wot } => {
                let v = staking::wot_query(&mut c, &url, &wot, who.as_deref()).await?;
                println!("{}", if args.json { v.to_string() } else { serde_json::to_string_pretty(&v)? });
            }
            Cmd::Validators => {
                let r = client::query(&mut c, &url, "validators", Vec::new()).await?;
                let set: Vec<([u8; 32], u64)> = borsh::from_slice(&r.value)
                    .context("the app's validators answer does not decode (is it an ExecApp chain?)")?;
                let s = client::status(&mut c, &url).await?;
                let v = serde_json::json!({
                    "height": r.height,
                    "validators": set.iter().map(|(k, p)| serde_json::json!({"public_key": hex::encode(k), "power": p})).collect::<Vec<_>>(),
                    "total_power": set.iter().map(|(_, p)| *p).sum::<u64>(),
                    "node": {"validator_count": s.validator_count, "total_power": s.total_power},
                });
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
            Cmd::Quota { address } => {
                let account = Address::from_hex(&address).context("ADDRESS")?;
                let (fuel, bytes) = bank::quota(&mut c, &url, &account).await?;
                if args.json {
                    println!("{}", serde_json::json!({"address": account.to_hex(), "fuel": fuel, "bytes": bytes}));
                } else {
                    println!("fuel left:  {fuel}\nbytes left: {bytes}");
                }
            }
            Cmd::Raw { path, data, height, prove } => {
                let data = hex::decode(data.trim()).context("--data must be hex")?;
                let r = c
                    .query(pb::QueryRequest { path: path.clone(), data, height, prove })
                    .await
                    .map_err(|s| client::rpc_error("Query", &url, s))?
                    .into_inner();
                let v = serde_json::json!({
                    "code": r.code, "log": r.log, "height": r.height,
                    "key": hex::encode(&r.key), "value": hex::encode(&r.value), "proof": hex::encode(&r.proof),
                });
                if args.json {
                    println!("{v}");
                } else {
                    println!("code:   {}\nlog:    {}\nheight: {}\nvalue:  {}", r.code, r.log, r.height, hex::encode(&r.value));
                    if prove {
                        println!("proof:  {}", hex::encode(&r.proof));
                    }
                }
                if r.code != 0 {
                    bail!("query {path:?} failed with code {}: {}", r.code, r.log);
                }
            }
            Cmd::Block { height } => {
                let b = c
                    .get_block(pb::GetBlockRequest { height })
                    .await
                    .map_err(|s| client::rpc_error("GetBlock", &url, s))?
                    .into_inner();
                let h = b.header.unwrap_or_default();
                let v = serde_json::json!({
                    "id": hex::encode(&b.block_id), "height": h.height, "time_ms": h.time_ms,
                    "proposer": hex::encode(&h.proposer), "parent": hex::encode(&h.parent),
                    "app_hash": hex::encode(&h.app_hash), "num_txs": b.num_txs,
                });
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
            Cmd::Tx { hash } => {
                let hash = Hash::from_hex(&hash).context("HASH")?;
                let t = c
                    .get_tx(pb::GetTxRequest { hash: hash.0.to_vec() })
                    .await
                    .map_err(|s| client::rpc_error("GetTx", &url, s))?
                    .into_inner();
                let r = t.result.unwrap_or_default();
                let v = serde_json::json!({
                    "hash": hash.to_hex(), "height": t.height, "index": t.index,
                    "code": r.code, "log": r.log, "gas_used": r.gas_used,
                    "events": r.events.iter().map(|e| serde_json::json!({
                        "kind": e.kind,
                        "attributes": e.attributes.iter().map(|a| (a.key.clone(), serde_json::Value::String(a.value.clone()))).collect::<serde_json::Map<_, _>>(),
                    })).collect::<Vec<_>>(),
                });
                if args.json {
                    println!("{v}");
                } else {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
            }
        }
        Ok(())
    })
}

fn action_json(a: &cairn_module_poa::msg::Action) -> serde_json::Value {
    use cairn_module_poa::msg::Action;
    match a {
        Action::Admit { key, power } => serde_json::json!({"admit": hex::encode(key), "power": power}),
        Action::Remove { key } => serde_json::json!({"remove": hex::encode(key)}),
        Action::SetPower { key, power } => serde_json::json!({"set_power": hex::encode(key), "power": power}),
    }
}
