//! The `app_state` section of genesis for `ExecApp` chains made from a template (the schema is
//! `execution/host/src/genesis.rs`): the template's modules (embedded Wasm, so the binary works anywhere), their
//! init messages, the Sybil module, and the funded devnet users.

use anyhow::{Result, bail};
use cairn_primitives::ChainId;

use super::chain::ValidatorSpec;
use super::template::{self, Template};

/// The Wasm modules this binary embeds (`modules/wasm/`), by file name.
const EMBEDDED_WASM: &[(&str, &[u8])] = &[
    ("bank.wasm", include_bytes!("../../../../modules/wasm/bank.wasm")),
    ("poa.wasm", include_bytes!("../../../../modules/wasm/poa.wasm")),
];

/// The embedded bytes of `modules/wasm/<file>`.
pub fn wasm(file: &str) -> Result<&'static [u8]> {
    match EMBEDDED_WASM.iter().find(|(f, _)| *f == file) {
        Some((_, bytes)) => Ok(bytes),
        None => bail!(
            "module {file:?} is not built into this cairn binary (it embeds {})",
            EMBEDDED_WASM.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The init message (borsh) of a template module.
fn init_msg(t: &Template, module: &str, chain_id: &ChainId, validators: &[ValidatorSpec]) -> Result<Vec<u8>> {
    match module {
        "bank" => {
            let balances = (0..t.accounts.users)
                .map(|i| (template::user_address(chain_id.as_str(), i).0, t.accounts.balance))
                .collect();
            let msg =
                cairn_module_bank::msg::InitMsg { denom: t.accounts.denom.clone(), admin: None, balances };
            Ok(borsh::to_vec(&msg)?)
        }
        "poa" => {
            let Some(poa) = &t.poa else { bail!("the template deploys poa but has no [poa] section") };
            let msg = cairn_module_poa::msg::InitMsg {
                authorities: validators.iter().map(|v| (v.public_key.0, t.validator_power)).collect(),
                max_authorities: poa.max_authorities,
                proposal_ttl: poa.proposal_ttl,
            };
            Ok(borsh::to_vec(&msg)?)
        }
        other => {
            bail!("the template names module {other:?}, for which this binary knows no genesis init message")
        }
    }
}

/// The genesis `app_state` of a template chain.
pub fn app_state(
    t: &Template,
    chain_id: &ChainId,
    validators: &[ValidatorSpec],
) -> Result<serde_json::Value> {
    let mut modules = Vec::new();
    for m in &t.modules {
        modules.push(serde_json::json!({
            "label": m.name,
            "wasm_hex": hex::encode(wasm(&m.wasm)?),
            "admin": null,
            "init_msg_hex": hex::encode(init_msg(t, &m.name, chain_id, validators)?),
        }));
    }
    let sybil = t.modules.iter().any(|m| m.name == t.sybil).then(|| t.sybil.clone());
    let mut state = serde_json::json!({
        "upload_permission": "anyone",
        "modules": modules,
        "sybil_module": sybil,
    });
    if let Some(f) = &t.fees {
        let quotas: Vec<serde_json::Value> = if f.quota_window > 0 {
            (0..t.accounts.users)
                .map(|i| {
                    serde_json::json!({
                        "account": template::user_address(chain_id.as_str(), i).to_hex(),
                        "fuel": f.user_quota_fuel,
                        "bytes": f.user_quota_bytes,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        state["fees"] = serde_json::json!({
            "bank_module": f.bank_module,
            "min_price": f.min_price,
            "destination": f.destination,
            "deposit_per_byte": f.deposit_per_byte,
            "quota_window": f.quota_window,
            "quotas": quotas,
        });
    }
    Ok(state)
}
