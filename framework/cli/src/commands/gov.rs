//! `cairn tx gov …` and `cairn query gov`: governance proposals (chain parameters, upload permission, switching
//! the Sybil module or the consensus engine at a height), votes, and where proposals and passed actions stand.
//! The host applies a passed action at the end of the block that passes it (execution/host/src/app/gov.rs).

use anyhow::{Context, Result, bail};
use cairn_module_gov::msg::{Action, ExecuteMsg, Proposal, QueryMsg, UploadPermission, VoteOption};
use cairn_primitives::Address;
use serde_json::{Value, json};

use super::bank;
use super::client::Client;

/// Label of the governance module in template genesis.
pub const GOV_LABEL: &str = "gov";

#[derive(clap::Subcommand)]
pub enum GovCmd {
    /// Propose an action; the deposit is locked from your balance in gov, and your vote counts as yes.
    Propose {
        #[command(subcommand)]
        action: ProposeCmd,
        /// Deposit (at least the module's `min_deposit`: see `cairn query gov --params`).
        #[arg(long, global = true, default_value_t = 100)]
        deposit: u128,
    },
    /// Vote on open proposal ID: yes, no, abstain or veto (a second vote replaces the first).
    Vote {
        id: u64,
        #[arg(value_parser = parse_vote)]
        option: VoteOption,
    },
}

#[derive(clap::Subcommand)]
pub enum ProposeCmd {
    /// From HEIGHT, MODULE's validator set governs (old validators not in it leave; effective HEIGHT + 2).
    SwitchSybil {
        /// The Sybil module: its label (e.g. `wot`, `pos`) or hex address.
        module: String,
        #[arg(long)]
        height: u64,
    },
    /// From HEIGHT, the consensus engine ENGINE (bft or snow) finalizes blocks.
    SwitchEngine {
        engine: String,
        #[arg(long)]
        height: u64,
    },
    /// Set a chain parameter (max_tx_fuel or max_block_fuel) to VALUE.
    Param { key: String, value: u64 },
    /// Who may upload code: anyone, governance, or allow-list (with --allow).
    UploadPermission {
        #[arg(value_parser = ["anyone", "governance", "allow-list"])]
        permission: String,
        /// Hex addresses allowed to upload (allow-list), comma-separated.
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
    },
}

fn parse_vote(s: &str) -> Result<VoteOption, String> {
    match s {
        "yes" => Ok(VoteOption::Yes),
        "no" => Ok(VoteOption::No),
        "abstain" => Ok(VoteOption::Abstain),
        "veto" => Ok(VoteOption::Veto),
        other => Err(format!("{other:?}: vote yes, no, abstain or veto")),
    }
}

/// A module named by label or hex address.
pub async fn module(c: &mut Client, url: &str, name: &str) -> Result<Address> {
    match Address::from_hex(name) {
        Ok(a) => Ok(a),
        Err(_) => bank::module_address(c, url, name).await,
    }
}

/// The borsh `execute` message of a `cairn tx gov` command.
pub async fn message(c: &mut Client, url: &str, cmd: &GovCmd) -> Result<Vec<u8>> {
    let msg = match cmd {
        GovCmd::Vote { id, option } => ExecuteMsg::Vote { id: *id, option: *option },
        GovCmd::Propose { action, deposit } => {
            let action = match action {
                ProposeCmd::SwitchSybil { module: m, height } => {
                    Action::SwitchSybil { module: module(c, url, m).await?.0, height: *height }
                }
                ProposeCmd::SwitchEngine { engine, height } => {
                    if !matches!(engine.as_str(), "bft" | "snow") {
                        bail!("ENGINE must be bft or snow, not {engine:?}");
                    }
                    Action::SwitchEngine { engine: engine.clone(), height: *height, params: Vec::new() }
                }
                ProposeCmd::Param { key, value } => {
                    Action::SetParam { key: key.clone(), value: value.to_le_bytes().to_vec() }
                }
                ProposeCmd::UploadPermission { permission, allow } => {
                    let p = match permission.as_str() {
                        "anyone" => UploadPermission::Anyone,
                        "governance" => UploadPermission::Governance,
                        _ => {
                            if allow.is_empty() {
                                bail!("allow-list needs --allow ADDRESS[,ADDRESS…]");
                            }
                            let list = allow
                                .iter()
                                .map(|a| Address::from_hex(a).map(|a| a.0))
                                .collect::<Result<Vec<_>, _>>()
                                .context("--allow takes hex addresses")?;
                            UploadPermission::AllowList(list)
                        }
                    };
                    Action::SetUploadPermission(p)
                }
            };
            ExecuteMsg::Propose { action, deposit: *deposit }
        }
    };
    Ok(borsh::to_vec(&msg)?)
}

fn action_json(a: &Action) -> Value {
    match a {
        Action::SetParam { key, value } => {
            let v = <[u8; 8]>::try_from(value.as_slice()).map(u64::from_le_bytes).ok();
            json!({"set_param": key, "value": v})
        }
        Action::SetUploadPermission(p) => json!({"upload_permission": match p {
            UploadPermission::Anyone => json!("anyone"),
            UploadPermission::Governance => json!("governance"),
            UploadPermission::AllowList(l) => json!({"allow_list": l.iter().map(hex::encode).collect::<Vec<_>>()}),
        }}),
        Action::SwitchSybil { module, height } => {
            json!({"switch_sybil": hex::encode(module), "height": height})
        }
        Action::SwitchEngine { engine, height, .. } => json!({"switch_engine": engine, "height": height}),
    }
}

fn proposal_json(p: &Proposal) -> Value {
    json!({
        "id": p.id, "proposer": hex::encode(p.proposer), "action": action_json(&p.action),
        "deposit": p.deposit.to_string(), "submitted_at": p.submitted_at, "voting_ends_at": p.voting_ends_at,
        "status": format!("{:?}", p.status).to_lowercase(), "outcome": p.outcome,
    })
}

/// `cairn query gov [ID]`: one proposal, or the open ones with the actions waiting for the host and the
/// validator weights gov votes with.
pub async fn query(c: &mut Client, url: &str, label: &str, id: Option<u64>) -> Result<Value> {
    let gov = bank::module_address(c, url, label).await?;
    if let Some(id) = id {
        let p: Option<Proposal> = bank::module_query(c, url, &gov, &QueryMsg::Proposal { id }).await?;
        let Some(p) = p else { bail!("there is no proposal {id}") };
        return Ok(proposal_json(&p));
    }
    let open: Vec<Proposal> = bank::module_query(c, url, &gov, &QueryMsg::Open).await?;
    let pending: Vec<(u64, Action)> = bank::module_query(c, url, &gov, &QueryMsg::PendingActions).await?;
    let validators: Vec<([u8; 32], u64)> = bank::module_query(c, url, &gov, &QueryMsg::Validators).await?;
    let params: cairn_module_gov::msg::Params = bank::module_query(c, url, &gov, &QueryMsg::Params).await?;
    Ok(json!({
        "open": open.iter().map(proposal_json).collect::<Vec<_>>(),
        "pending_actions": pending.iter().map(|(id, a)| json!({"id": id, "action": action_json(a)})).collect::<Vec<_>>(),
        "validators": validators.iter().map(|(k, p)| json!({"public_key": hex::encode(k), "power": p})).collect::<Vec<_>>(),
        "params": {
            "min_deposit": params.min_deposit.to_string(), "voting_period": params.voting_period,
            "quorum_pct": params.quorum_pct, "threshold_pct": params.threshold_pct, "veto_pct": params.veto_pct,
            "min_enactment_delay": params.min_enactment_delay,
            "sybil_modules": params.sybil_modules.iter().map(hex::encode).collect::<Vec<_>>(),
            "engines": params.engines,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_parse_and_bad_ones_name_the_choices() {
        assert_eq!(parse_vote("veto"), Ok(VoteOption::Veto));
        assert!(parse_vote("maybe").unwrap_err().contains("yes, no, abstain or veto"));
    }

    #[test]
    fn a_param_action_round_trips_to_json() {
        let a = Action::SetParam { key: "max_tx_fuel".into(), value: 5u64.to_le_bytes().to_vec() };
        assert_eq!(action_json(&a), json!({"set_param": "max_tx_fuel", "value": 5}));
    }
}
