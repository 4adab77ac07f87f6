//! `cairn tx pos …`, `cairn tx wot …`, `cairn query pos|wot`: proof of stake (bond, delegate, unbond, redelegate,
//! unjail) and the web of trust (certify, join, smith certify, join smiths), and where each stands.

use anyhow::{Context, Result};
use cairn_primitives::Address;
use serde_json::{Value, json};

use super::bank;
use super::client::Client;

#[derive(clap::Subcommand)]
pub enum PosCmd {
    /// Bond AMOUNT of your free balance in pos to yourself as a validator (creating it if needed).
    Bond { amount: u128 },
    /// Bond AMOUNT to VALIDATOR (hex public key).
    Delegate { validator: String, amount: u128 },
    /// Start unbonding AMOUNT from VALIDATOR: free after the unbonding period, slashable until then.
    Unbond { validator: String, amount: u128 },
    /// Move AMOUNT from validator SRC to DST now.
    Redelegate { src: String, dst: String, amount: u128 },
    /// Leave jail once the jail time is over.
    Unjail,
}

#[derive(clap::Subcommand)]
pub enum WotCmd {
    /// Certify TO (a member or a newcomer), or renew your certification.
    Certify { to: String },
    /// Become a member (with enough certifications; the distance rule is checked now).
    Join,
    /// Certify member TO into the smith sub-web (the validators).
    SmithCertify { to: String },
    /// Become a smith, and so a validator (with enough smith certifications).
    JoinSmiths,
}

fn key(name: &str, s: &str) -> Result<[u8; 32]> {
    Ok(Address::from_hex(s).with_context(|| format!("{name} must be a hex public key"))?.0)
}

/// The borsh `execute` message of a `cairn tx pos` command.
pub fn pos_message(cmd: &PosCmd) -> Result<Vec<u8>> {
    use cairn_module_pos::msg::ExecuteMsg;
    let msg = match cmd {
        PosCmd::Bond { amount } => ExecuteMsg::Bond { amount: *amount },
        PosCmd::Delegate { validator, amount } => {
            ExecuteMsg::Delegate { validator: key("VALIDATOR", validator)?, amount: *amount }
        }
        PosCmd::Unbond { validator, amount } => {
            ExecuteMsg::Unbond { validator: key("VALIDATOR", validator)?, amount: *amount }
        }
        PosCmd::Redelegate { src, dst, amount } => {
            ExecuteMsg::Redelegate { src: key("SRC", src)?, dst: key("DST", dst)?, amount: *amount }
        }
        PosCmd::Unjail => ExecuteMsg::Unjail,
    };
    Ok(borsh::to_vec(&msg)?)
}

/// The borsh `execute` message of a `cairn tx wot` command.
pub fn wot_message(cmd: &WotCmd) -> Result<Vec<u8>> {
    use cairn_module_wot::msg::ExecuteMsg;
    let msg = match cmd {
        WotCmd::Certify { to } => ExecuteMsg::Certify { to: key("TO", to)? },
        WotCmd::Join => ExecuteMsg::Join,
        WotCmd::SmithCertify { to } => ExecuteMsg::SmithCertify { to: key("TO", to)? },
        WotCmd::JoinSmiths => ExecuteMsg::JoinSmiths,
    };
    Ok(borsh::to_vec(&msg)?)
}

fn set_json(set: &[([u8; 32], u64)]) -> Value {
    json!(set.iter().map(|(k, p)| json!({"public_key": hex::encode(k), "power": p})).collect::<Vec<_>>())
}

/// `cairn query pos [WHO]`: the active set, and WHO's free balance and validator record.
pub async fn pos_query(c: &mut Client, url: &str, label: &str, who: Option<&str>) -> Result<Value> {
    use cairn_module_pos::msg::{QueryMsg, ValidatorInfo};
    let pos = bank::module_address(c, url, label).await?;
    let set: Vec<([u8; 32], u64)> = bank::module_query(c, url, &pos, &QueryMsg::ActiveSet).await?;
    let mut v = json!({"active_set": set_json(&set)});
    if let Some(who) = who {
        let who = key("WHO", who)?;
        let balance: u128 = bank::module_query(c, url, &pos, &QueryMsg::Balance { who }).await?;
        let info: Option<ValidatorInfo> =
            bank::module_query(c, url, &pos, &QueryMsg::Validator { who }).await?;
        v["account"] = json!({
            "public_key": hex::encode(who), "free": balance.to_string(),
            "validator": info.map(|i| json!({
                "tokens": i.tokens.to_string(), "power": i.power, "jailed_until": i.jailed_until,
                "tombstoned": i.tombstoned, "missed_in_window": i.missed_in_window,
            })),
        });
    }
    Ok(v)
}

/// `cairn query wot [WHO]`: member count and smiths, and WHO's membership.
pub async fn wot_query(c: &mut Client, url: &str, label: &str, who: Option<&str>) -> Result<Value> {
    use cairn_module_wot::msg::{MemberInfo, QueryMsg};
    let wot = bank::module_address(c, url, label).await?;
    let members: u32 = bank::module_query(c, url, &wot, &QueryMsg::MemberCount).await?;
    let smiths: Vec<([u8; 32], u64)> = bank::module_query(c, url, &wot, &QueryMsg::Smiths).await?;
    let mut v = json!({"members": members, "smiths": set_json(&smiths)});
    if let Some(who) = who {
        let who = key("WHO", who)?;
        let m: Option<MemberInfo> = bank::module_query(c, url, &wot, &QueryMsg::Member { who }).await?;
        v["member"] = json!(m.map(|m| json!({
            "public_key": hex::encode(who), "since": m.since, "received": m.received, "issued": m.issued,
            "smith": m.smith, "smith_received": m.smith_received,
        })));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_encode_as_the_modules_own_and_bad_keys_are_named() {
        let v = "11".repeat(32);
        let m = pos_message(&PosCmd::Delegate { validator: v.clone(), amount: 5 }).unwrap();
        let want = cairn_module_pos::msg::ExecuteMsg::Delegate { validator: [0x11; 32], amount: 5 };
        assert_eq!(m, borsh::to_vec(&want).unwrap());
        let e = wot_message(&WotCmd::Certify { to: "zz".into() }).unwrap_err().to_string();
        assert!(e.contains("TO must be a hex public key"), "{e}");
    }
}
