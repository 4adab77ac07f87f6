//! The `app_state` section of genesis for `ExecApp` chains made from a template (the schema is
//! `execution/host/src/genesis.rs`): the template's modules (embedded Wasm, so the binary works anywhere), their
//! init messages, the Sybil and governance modules, and the funded devnet users.

use anyhow::{Result, bail};
use cairn_primitives::{Address, ChainId, Hash};

use super::chain::ValidatorSpec;
use super::template::{self, Template};

/// The Wasm modules this binary embeds (`modules/wasm/`), by file name.
const EMBEDDED_WASM: &[(&str, &[u8])] = &[
    ("bank.wasm", include_bytes!("../../../../modules/wasm/bank.wasm")),
    ("poa.wasm", include_bytes!("../../../../modules/wasm/poa.wasm")),
    ("wot.wasm", include_bytes!("../../../../modules/wasm/wot.wasm")),
    ("pos.wasm", include_bytes!("../../../../modules/wasm/pos.wasm")),
    ("gov.wasm", include_bytes!("../../../../modules/wasm/gov.wasm")),
];

/// Modules that export `validator_set_updates`: the ones governance may switch to.
const SYBIL_MODULES: &[&str] = &["poa", "wot", "pos"];

/// What genesis module builders need besides the template: the chain, its validators, the module addresses.
struct Ctx<'a> {
    t: &'a Template,
    chain_id: &'a ChainId,
    validators: &'a [ValidatorSpec],
    addresses: Vec<(String, Address)>,
}

impl Ctx<'_> {
    fn address(&self, name: &str) -> Option<[u8; 32]> {
        self.addresses.iter().find(|(n, _)| n == name).map(|(_, a)| a.0)
    }

    /// A hybrid pos learns membership from the web of trust: wot's `membership_sink` is pos, pos's
    /// `membership_source` is wot (`None` unless the template has both, pos in hybrid mode).
    fn hybrid_pair(&self) -> Option<([u8; 32], [u8; 32])> {
        let hybrid = self.t.pos.as_ref().is_some_and(|p| p.hybrid_max_power.is_some());
        Some((self.address("wot")?, self.address("pos")?)).filter(|_| hybrid)
    }

    fn users(&self, n: u64) -> impl Iterator<Item = [u8; 32]> + '_ {
        (0..n).map(|i| template::user_address(self.chain_id.as_str(), i).0)
    }

    fn validator_keys(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        self.validators.iter().map(|v| v.public_key.0)
    }

    /// The web of trust's members: the validators, then `member_users` devnet users.
    fn members(&self) -> Vec<[u8; 32]> {
        let users = self.t.wot.as_ref().map_or(0, |w| w.member_users);
        self.validator_keys().chain(self.users(users)).collect()
    }

    /// Every validator and devnet user with the template's balance.
    fn balances(&self) -> Vec<([u8; 32], u128)> {
        let b = self.t.accounts.balance;
        self.validator_keys().chain(self.users(self.t.accounts.users)).map(|a| (a, b)).collect()
    }

    /// Founding smiths: the template's count, but never more than the chain has validators (a localnet with
    /// fewer nodes than the template's `validators` must not make devnet users, who run no node, validators).
    fn smiths(&self) -> usize {
        self.t.wot.as_ref().map_or(0, |w| w.smiths.min(self.validators.len()))
    }

    /// The validator set InitChain will report (the active Sybil module's genesis set).
    fn genesis_set(&self) -> Result<Vec<([u8; 32], u64)>> {
        let keys: Vec<[u8; 32]> = self.validator_keys().collect();
        Ok(match (self.t.sybil.as_str(), &self.t.wot, &self.t.pos) {
            ("wot", Some(w), _) => keys.iter().take(self.smiths()).map(|k| (*k, w.smith_power)).collect(),
            ("pos", _, Some(p)) => {
                let power = u64::try_from(p.self_bond).unwrap_or(u64::MAX);
                let power = p.hybrid_max_power.map_or(power, |cap| power.min(cap));
                keys.iter().map(|k| (*k, power)).collect()
            }
            _ => keys.iter().map(|k| (*k, self.t.validator_power)).collect(),
        })
    }
}

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
fn init_msg(cx: &Ctx<'_>, module: &str) -> Result<Vec<u8>> {
    let (t, chain_id, validators) = (cx.t, cx.chain_id, cx.validators);
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
        "wot" => {
            let Some(w) = &t.wot else { bail!("the template deploys wot but has no [wot] section") };
            let members = cx.members();
            let params = cairn_module_wot::msg::Params {
                min_certs: 3.min(members.len().saturating_sub(1) as u32),
                cert_period: 1,
                smith_min_certs: 2.min(cx.smiths().saturating_sub(1) as u32),
                smith_cert_period: 1,
                smith_power: w.smith_power,
                membership_sink: cx.hybrid_pair().map(|(_, pos)| pos),
                ..cairn_module_wot::msg::Params::default()
            };
            let smiths = (0..cx.smiths() as u32).collect();
            Ok(borsh::to_vec(&cairn_module_wot::msg::InitMsg::full_mesh(params, members, smiths))?)
        }
        "pos" => {
            let Some(p) = &t.pos else { bail!("the template deploys pos but has no [pos] section") };
            let hybrid = p.hybrid_max_power.map(|cap| cairn_module_pos::msg::Hybrid {
                // Without a web of trust in the template, the system caller (governance's host) keeps the list.
                membership_source: cx.hybrid_pair().map_or([0; 32], |(wot, _)| wot),
                max_power_per_member: cap,
            });
            let msg = cairn_module_pos::msg::InitMsg {
                params: cairn_module_pos::msg::Params {
                    unbonding_period: 100,
                    max_validators: p.max_validators,
                    power_reduction: 1,
                    min_self_bond: 1,
                    hybrid: hybrid.clone(),
                    ..cairn_module_pos::msg::Params::default()
                },
                balances: cx.balances(),
                validators: cx.validator_keys().map(|k| (k, p.self_bond)).collect(),
                members: if hybrid.is_some() { cx.members() } else { Vec::new() },
            };
            Ok(borsh::to_vec(&msg)?)
        }
        "gov" => {
            let Some(g) = &t.gov else { bail!("the template deploys gov but has no [gov] section") };
            let sybil_modules = cx
                .addresses
                .iter()
                .filter(|(name, _)| SYBIL_MODULES.contains(&name.as_str()))
                .map(|(_, a)| a.0)
                .collect();
            let msg = cairn_module_gov::msg::InitMsg {
                params: cairn_module_gov::msg::Params {
                    min_deposit: g.min_deposit,
                    voting_period: g.voting_period,
                    min_enactment_delay: g.min_enactment_delay,
                    sybil_modules,
                    engines: vec!["bft".into(), "snow".into()],
                    ..cairn_module_gov::msg::Params::default()
                },
                validators: cx.genesis_set()?,
                balances: cx.balances(),
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
    // Genesis instances are created by the zero address, numbered in order (execution/host InitChain).
    let mut addresses = Vec::new();
    for (i, m) in t.modules.iter().enumerate() {
        let code = Hash::digest(wasm(&m.wasm)?);
        addresses.push((m.name.clone(), Address::for_instance(&code, &Address::default(), i as u64)));
    }
    let cx = Ctx { t, chain_id, validators, addresses };
    let mut modules = Vec::new();
    for m in &t.modules {
        modules.push(serde_json::json!({
            "label": m.name,
            "wasm_hex": hex::encode(wasm(&m.wasm)?),
            "admin": null,
            "init_msg_hex": hex::encode(init_msg(&cx, &m.name)?),
        }));
    }
    let sybil = t.modules.iter().any(|m| m.name == t.sybil).then(|| t.sybil.clone());
    let gov = t.modules.iter().any(|m| m.name == "gov").then_some("gov");
    let mut state = serde_json::json!({
        "upload_permission": "anyone",
        "modules": modules,
        "sybil_module": sybil,
        "gov_module": gov,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn init<T: borsh::BorshDeserialize>(state: &serde_json::Value, label: &str) -> T {
        let modules = state["modules"].as_array().unwrap();
        let m = modules.iter().find(|m| m["label"] == label).unwrap();
        borsh::from_slice(&hex::decode(m["init_msg_hex"].as_str().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn a_localnet_smaller_than_the_template_makes_only_its_nodes_smiths() {
        let t = template::load("community").unwrap();
        let chain_id = ChainId::new("cairn-community").unwrap();
        let validators: Vec<ValidatorSpec> = (0..4)
            .map(|i| ValidatorSpec {
                public_key: template::validator_key("cairn-community", i).public(),
                name: format!("v{i}"),
            })
            .collect();
        let state = app_state(&t, &chain_id, &validators).unwrap();
        let w: cairn_module_wot::msg::InitMsg = init(&state, "wot");
        assert_eq!(w.smiths, vec![0, 1, 2, 3], "users run no node: they must not be validators");
        assert_eq!(w.members.len(), 4 + 13);
        let g: cairn_module_gov::msg::InitMsg = init(&state, "gov");
        assert_eq!(g.validators.len(), 4);
    }

    #[test]
    fn open_wires_wot_membership_into_hybrid_pos_and_gov_knows_the_sybil_modules() {
        let t = template::load("open").unwrap();
        let chain_id = ChainId::new("cairn-open").unwrap();
        let validators: Vec<ValidatorSpec> = (0..4)
            .map(|i| ValidatorSpec {
                public_key: template::validator_key("cairn-open", i).public(),
                name: format!("v{i}"),
            })
            .collect();
        let state = app_state(&t, &chain_id, &validators).unwrap();
        assert_eq!(
            (state["sybil_module"].as_str(), state["gov_module"].as_str()),
            (Some("pos"), Some("gov"))
        );
        let at = |i: u64| {
            let code = Hash::digest(wasm(&t.modules[i as usize].wasm).unwrap());
            Address::for_instance(&code, &Address::default(), i).0
        };
        let (wot, pos) = (at(1), at(2));
        let w: cairn_module_wot::msg::InitMsg = init(&state, "wot");
        assert_eq!(w.params.membership_sink, Some(pos));
        let p: cairn_module_pos::msg::InitMsg = init(&state, "pos");
        assert_eq!(p.params.hybrid.unwrap().membership_source, wot);
        let g: cairn_module_gov::msg::InitMsg = init(&state, "gov");
        assert_eq!(g.params.sybil_modules, vec![wot, pos]);
        assert_eq!(g.validators.len(), 4, "gov votes with the genesis set");
    }
}
