//! Chain templates (`templates/<name>/template.toml`), embedded in the binary so `cairn` works from any
//! directory. `cairn init`, `cairn new`, `cairn localnet`, `cairn demo` and `cairn bench localnet` read them.

use anyhow::{Context, Result, bail};
use cairn_abci::{EngineKind, EngineSwitch};
use cairn_primitives::{Address, ChainId, Height, Keypair};
use serde::Deserialize;

/// `(name, template.toml)` of every template the binary knows.
const TEMPLATES: &[(&str, &str)] = &[
    ("small", include_str!("../../../../templates/small/template.toml")),
    ("community", include_str!("../../../../templates/community/template.toml")),
    ("open", include_str!("../../../../templates/open/template.toml")),
    ("growth", include_str!("../../../../templates/growth/template.toml")),
];

/// A parsed `template.toml` (see templates/README.md for the fields).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub description: String,
    pub chain_id: String,
    pub validators: usize,
    pub validator_power: u64,
    /// The engine from genesis: `bft` or `snow`.
    pub engine: EngineKind,
    /// A switch to another engine at a height, scheduled from genesis (governance schedules it on a live chain).
    #[serde(default)]
    pub engine_switch: Option<EngineSwitch>,
    pub sybil: String,
    pub block: BlockParams,
    #[serde(default)]
    pub modules: Vec<ModuleSpec>,
    pub poa: Option<PoaParams>,
    #[serde(default)]
    pub wot: Option<WotParams>,
    #[serde(default)]
    pub pos: Option<PosParams>,
    #[serde(default)]
    pub gov: Option<GovParams>,
    pub accounts: Accounts,
    /// Fees, storage deposits and quotas; absent: fee-less without quotas.
    #[serde(default)]
    pub fees: Option<FeesSpec>,
}

/// The `[fees]` section: the genesis `fees` of `execution/host/src/genesis.rs`, with quotas for the devnet users.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeesSpec {
    /// Label of the module whose denom pays fees (a `[[modules]]` name).
    pub bank_module: String,
    #[serde(default)]
    pub min_price: u128,
    /// `burn`, `proposer` or `community_pool`.
    #[serde(default = "default_destination")]
    pub destination: String,
    #[serde(default)]
    pub deposit_per_byte: u128,
    /// Blocks per quota window (0: no quotas).
    #[serde(default)]
    pub quota_window: u64,
    /// Free fuel per window granted to every devnet user.
    #[serde(default)]
    pub user_quota_fuel: u64,
    /// Free bytes of new state per window granted to every devnet user.
    #[serde(default)]
    pub user_quota_bytes: u64,
}

fn default_destination() -> String {
    "burn".into()
}

/// The founding web of trust: the first `smiths` genesis validators are its smiths (its validators); every
/// validator and `member_users` devnet users are members, all certifying each other.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WotParams {
    pub smiths: usize,
    pub member_users: u64,
    pub smith_power: u64,
}

/// Proof of stake at genesis: every validator bonds `self_bond` (power = tokens); with `hybrid_max_power` only
/// web-of-trust members' stake counts, capped at that power per member.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosParams {
    pub self_bond: u128,
    pub max_validators: u32,
    #[serde(default)]
    pub hybrid_max_power: Option<u64>,
}

/// Governance: validators propose with a deposit and vote by weight.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovParams {
    pub min_deposit: u128,
    pub voting_period: u64,
    pub min_enactment_delay: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockParams {
    pub max_block_txs: u64,
    pub max_block_bytes: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleSpec {
    pub name: String,
    pub wasm: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoaParams {
    pub max_authorities: u32,
    /// Blocks a proposal to admit/remove an authority stays open.
    pub proposal_ttl: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    pub denom: String,
    pub users: u64,
    pub balance: u128,
}

/// Names of the embedded templates.
pub fn names() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(n, _)| *n).collect()
}

/// Loads and validates the embedded template `name`.
pub fn load(name: &str) -> Result<Template> {
    let Some((_, text)) = TEMPLATES.iter().find(|(n, _)| *n == name) else {
        bail!("unknown template {name:?}: choose one of {}", names().join(", "));
    };
    parse(text).with_context(|| format!("embedded template {name:?} is invalid"))
}

/// Parses and validates a `template.toml`; errors name the offending field.
pub fn parse(text: &str) -> Result<Template> {
    let t: Template = toml::from_str(text).context("template.toml does not parse")?;
    validate(&t)?;
    Ok(t)
}

/// The checks a template must pass, whether parsed or changed by command-line overrides.
fn validate(t: &Template) -> Result<()> {
    ChainId::new(t.chain_id.clone()).context("field `chain_id`")?;
    if t.validators == 0 || t.validators > 100 {
        bail!("field `validators` must be between 1 and 100, got {}", t.validators);
    }
    if t.validator_power == 0 {
        bail!("field `validator_power` must be positive");
    }
    if let Some(sw) = &t.engine_switch {
        if sw.height.0 < 2 {
            bail!("field `engine_switch.height` must be 2 or more (height 1 is decided by `engine`)");
        }
        if sw.engine == t.engine {
            bail!("field `engine_switch.engine` is {:?}, the engine the chain already runs", sw.engine);
        }
    }
    for (name, present) in [
        ("poa", t.poa.is_some()),
        ("wot", t.wot.is_some()),
        ("pos", t.pos.is_some()),
        ("gov", t.gov.is_some()),
    ] {
        if t.modules.iter().any(|m| m.name == name) && !present {
            bail!("the template deploys {name} but has no [{name}] section");
        }
    }
    if let Some(w) = &t.wot
        && (w.smiths == 0 || w.smiths > t.validators)
    {
        bail!("field `wot.smiths` must be between 1 and `validators` ({}), got {}", t.validators, w.smiths);
    }
    if let Some(f) = &t.fees
        && !t.modules.iter().any(|m| m.name == f.bank_module)
    {
        bail!("[fees] bank_module names {:?}, which is not among the template's [[modules]]", f.bank_module);
    }
    if !t.modules.iter().any(|m| m.name == t.sybil) {
        bail!("field `sybil` names {:?}, which is not among the template's [[modules]]", t.sybil);
    }
    Ok(())
}

/// Command-line overrides of a template's engine choice (`cairn new`, `cairn localnet`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct EngineArgs {
    /// Consensus engine from genesis: `bft` (tens of validators) or `snow` (sampling, hundreds to thousands).
    #[arg(long, value_parser = parse_engine)]
    pub engine: Option<EngineKind>,
    /// Switch engine at a height, scheduled in genesis: `snow@30` (the node hands over with no restart).
    #[arg(long, value_parser = parse_switch)]
    pub engine_switch: Option<EngineSwitch>,
}

impl EngineArgs {
    /// The template with these overrides, validated again.
    pub fn apply(&self, mut t: Template) -> Result<Template> {
        if let Some(e) = self.engine {
            t.engine = e;
        }
        if let Some(sw) = self.engine_switch {
            t.engine_switch = Some(sw);
        }
        validate(&t)?;
        Ok(t)
    }
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    match s {
        "bft" => Ok(EngineKind::Bft),
        "snow" => Ok(EngineKind::Snow),
        other => Err(format!("unknown engine {other:?}: use bft or snow")),
    }
}

fn parse_switch(s: &str) -> Result<EngineSwitch, String> {
    let (engine, height) =
        s.split_once('@').ok_or_else(|| format!("{s:?}: expected ENGINE@HEIGHT, e.g. snow@30"))?;
    let height: u64 = height.parse().map_err(|_| format!("{s:?}: the height after @ is not a number"))?;
    Ok(EngineSwitch { engine: parse_engine(engine)?, height: Height(height) })
}

/// Devnet user key `i` of `chain_id`: deterministic, so every tool of a localnet agrees on the funded accounts.
/// Never use these keys on a real chain.
pub fn user_key(chain_id: &str, i: u64) -> Keypair {
    Keypair::derived(&format!("{chain_id}/user"), i)
}

/// Devnet validator key `i` of `chain_id` (localnet and demo only; `cairn init` makes a random key).
pub fn validator_key(chain_id: &str, i: u64) -> Keypair {
    Keypair::derived(&format!("{chain_id}/validator"), i)
}

/// Address of devnet user `i`.
pub fn user_address(chain_id: &str, i: u64) -> Address {
    Address::from(user_key(chain_id, i).public())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_template_loads() {
        for name in names() {
            let t = load(name).unwrap();
            assert_eq!(t.name, name);
        }
        let community = load("community").unwrap();
        assert_eq!((community.validators, community.sybil.as_str()), (7, "wot"));
        let w = community.wot.as_ref().unwrap();
        assert_eq!(community.validators as u64 + w.member_users, 20, "7 validators, 20 members");
        let open = load("open").unwrap();
        assert_eq!((open.sybil.as_str(), open.engine), ("pos", EngineKind::Snow));
        assert!(open.pos.as_ref().unwrap().hybrid_max_power.is_some());
        let small = load("small").unwrap();
        assert_eq!(small.validators, 4);
        assert_eq!(small.sybil, "poa");
        assert!(small.modules.iter().any(|m| m.name == "bank"));
    }

    #[test]
    fn unknown_template_is_named() {
        let err = load("huge").unwrap_err().to_string();
        assert!(err.contains("huge") && err.contains("small"), "{err}");
    }

    #[test]
    fn bad_field_is_named() {
        let text = include_str!("../../../../templates/small/template.toml")
            .replace("validators = 4", "validators = 0");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("validators"), "{err}");
        let text = include_str!("../../../../templates/small/template.toml")
            .replace("engine = \"bft\"", "engine = \"pow\"");
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(err.contains("engine"), "{err}");
    }
}
