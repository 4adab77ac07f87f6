//! The end of a block, after the `end_block` hooks: the governance module's passed actions, a scheduled switch of
//! the Sybil module, the active Sybil module's validator updates, and the validator sets the host records.
//!
//! The host records the chain's validator set (`keys::validator`) and each Sybil module's set as that module
//! reported it (`keys::sybil_set`), because modules report *changes*: at a switch the host needs the new
//! module's whole set and the old validators to remove. Everything here is deterministic (BTreeMaps, no clock) and
//! nothing in it stops the node: a bad action is refused with a reason (an event and a warning) and acknowledged.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use cairn_abci::{ConsensusParams, EngineKind, EngineSwitch, Event};
use cairn_primitives::{Address, Height, Validator};

use super::Inner;
use super::block::{Budget, Share, bounded};
use crate::backend::{Backend, Overlay, WriteSize};
use crate::instance::BlockEnv;
use crate::registry::{self, Params, UploadPermission};
use crate::session::{Failure, Session};
use crate::{ExecError, HostError, HostResult, keys};

/// Passed actions applied per block at most; the rest wait for the next block (the queue is bounded by gov's
/// `max_open_proposals` anyway).
pub const MAX_ACTIONS_PER_BLOCK: usize = 16;

/// `cairn_module_gov::msg::Action`, mirrored field for field: the host links no guest crate. A drift fails
/// `tests/it/gov.rs` (which encodes the module's own types).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum GovAction {
    SetParam { key: String, value: Vec<u8> },
    SetUploadPermission(GovUploadPermission),
    SwitchSybil { module: [u8; 32], height: u64 },
    SwitchEngine { engine: String, height: u64, params: Vec<u8> },
}

/// `cairn_module_gov::msg::UploadPermission`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum GovUploadPermission {
    Anyone,
    AllowList(Vec<[u8; 32]>),
    Governance,
}

impl GovAction {
    pub fn kind(&self) -> &'static str {
        match self {
            GovAction::SetParam { .. } => "set_param",
            GovAction::SetUploadPermission(_) => "set_upload_permission",
            GovAction::SwitchSybil { .. } => "switch_sybil",
            GovAction::SwitchEngine { .. } => "switch_engine",
        }
    }
}

/// gov's `QueryMsg::PendingActions` (→ `Vec<(u64, Action)>`).
pub fn pending_actions_query() -> Vec<u8> {
    vec![3]
}

/// gov's `ExecuteMsg::AckAction { id }`.
pub fn ack_action_msg(id: u64) -> Vec<u8> {
    let mut m = vec![3];
    m.extend_from_slice(&id.to_le_bytes());
    m
}

/// gov's `ExecuteMsg::SetValidators { updates }`.
pub fn set_validators_msg(updates: &[Validator]) -> Vec<u8> {
    let list: Vec<([u8; 32], u64)> = updates.iter().map(|v| (v.public_key.0, v.power)).collect();
    let mut m = vec![2];
    m.extend(borsh::to_vec(&list).unwrap_or_default());
    m
}

impl Share {
    /// Governance's share: a tx's fuel, but few writes (acks and validator mirrors are small), so a chain with gov
    /// keeps most of its write budget for txs.
    pub fn gov(params: &Params) -> Share {
        let fuel = params.max_tx_fuel.min(params.max_block_fuel / 4);
        let writes = WriteSize {
            entries: params.max_block_write_entries / 16,
            bytes: params.max_block_write_bytes / 16,
        };
        Share { fuel, writes }
    }
}

/// A Sybil module switch governance scheduled: from `height` the module's set governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SybilSwitch {
    pub module: Address,
    pub height: u64,
}

/// What the end of a block returns to FinalizeBlock.
pub(super) struct EndOfBlock {
    pub validator_updates: Vec<Validator>,
    pub consensus_params: Option<ConsensusParams>,
    pub overlay: Overlay,
    pub events: Vec<Event>,
}

type Set = BTreeMap<[u8; 32], u64>;

/// The set stored under `prefix` (each key `prefix ‖ public key`).
fn read_set(overlay: &Overlay, base: &dyn Backend, prefix: &[u8]) -> HostResult<Set> {
    let end = keys::prefix_end(prefix);
    let mut cursor = prefix.to_vec();
    let mut set = Set::new();
    while let Some((k, v)) = overlay.next_entry(base, &cursor, end.as_deref())? {
        cursor = k.clone();
        cursor.push(0);
        let pk = k.get(prefix.len()..).and_then(|b| <[u8; 32]>::try_from(b).ok());
        let Some(pk) = pk else {
            return Err(HostError::Corrupt(format!("validator key {}", hex::encode(&k))));
        };
        set.insert(pk, registry::decode(&v, "validator power")?);
    }
    Ok(set)
}

/// The chain's validator set as the host returned it (updates returned at H decide from H+2): the
/// `validators` query.
pub(super) fn chain_set(overlay: &Overlay, base: &dyn Backend) -> HostResult<Set> {
    read_set(overlay, base, &[keys::VALIDATOR_PREFIX])
}

fn write_power(overlay: &mut Overlay, prefix: &[u8], pk: &[u8; 32], power: u64) {
    let mut k = prefix.to_vec();
    k.extend_from_slice(pk);
    overlay.set(k, (power > 0).then(|| power.to_le_bytes().to_vec()));
}

/// Applies `updates` (power 0 removes) to the set under `prefix`, in state and in `set`.
fn fold(overlay: &mut Overlay, prefix: &[u8], set: &mut Set, updates: &[Validator]) {
    for u in updates {
        write_power(overlay, prefix, &u.public_key.0, u.power);
        if u.power == 0 {
            set.remove(&u.public_key.0);
        } else {
            set.insert(u.public_key.0, u.power);
        }
    }
}

/// The updates that turn `from` into `to`: changed and new entries, and power 0 for those not in `to`.
fn diff(from: &Set, to: &Set) -> Vec<Validator> {
    let mut out = Vec::new();
    for (pk, power) in to {
        if from.get(pk) != Some(power) {
            out.push(Validator { public_key: cairn_primitives::PublicKey(*pk), power: *power });
        }
    }
    for pk in from.keys().filter(|pk| !to.contains_key(*pk)) {
        out.push(Validator { public_key: cairn_primitives::PublicKey(*pk), power: 0 });
    }
    out.sort_by_key(|v| v.public_key);
    out
}

/// Why a set cannot be the chain's: the engine must never be handed an empty set or one whose total overflows.
fn unusable(set: &Set) -> Option<String> {
    if set.is_empty() {
        return Some("it has no validators: the chain would halt".into());
    }
    let total: u128 = set.values().map(|p| u128::from(*p)).sum();
    (total > u128::from(u64::MAX)).then(|| "its total power overflows u64".into())
}

/// Records the genesis sets: the chain's (what InitChain returns, or the node's genesis validators when the
/// Sybil module reports none) and the Sybil module's; and the consensus parameters governance will update.
pub(super) fn record_genesis(
    overlay: &mut Overlay,
    params: &Params,
    reported: &[Validator],
    requested: &[Validator],
    consensus: &ConsensusParams,
) {
    if let Some(sybil) = params.sybil_module {
        fold(overlay, &keys::sybil_set(&sybil), &mut Set::new(), reported);
    }
    let chain = if reported.iter().any(|v| v.power > 0) { reported } else { requested };
    fold(overlay, &[keys::VALIDATOR_PREFIX], &mut Set::new(), chain);
    registry::put(overlay, keys::CONSENSUS_PARAMS.to_vec(), consensus);
}

fn event(kind: &str, id: u64, action: &GovAction) -> Event {
    Event::new(kind).attr("id", id.to_string()).attr("kind", action.kind())
}

/// An action's verdict: applied (with the consensus-param update it makes, if any) or refused with a reason.
type Verdict = Result<Option<ConsensusParams>, String>;

fn exec_reason(module: &Address, e: ExecError) -> String {
    match e {
        ExecError::MissingEntry(_) => {
            format!("{} is not a Sybil module: it does not export validator_set_updates", module.to_hex())
        }
        ExecError::UnknownInstance(_) => format!("no module instance at {}", module.to_hex()),
        other => format!("{} cannot be checked: {other}", module.to_hex()),
    }
}

impl Inner {
    /// Everything after the `end_block` hooks. `params` are the ones the block ran with; actions change them
    /// from the next block on (a switch due now applies now).
    pub(super) fn end_of_block(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
        budget: &mut Budget,
    ) -> HostResult<EndOfBlock> {
        let mut events = Vec::new();
        let (mut overlay, consensus_params) =
            self.gov_actions(params, overlay, block, &mut budget.gov, &mut events)?;
        let mut params = self.params(&overlay)?;

        let mut switched = None;
        if let Some(sw) = registry::get_typed::<SybilSwitch>(
            &overlay,
            &*self.host.base,
            keys::SYBIL_SWITCH,
            "scheduled Sybil switch",
        )? && sw.height <= block.height
        {
            overlay.set(keys::SYBIL_SWITCH.to_vec(), None);
            let (updates, o) =
                self.switch_sybil(&mut params, overlay, block, &mut budget.sybil, sw, &mut events)?;
            overlay = o;
            switched = updates;
        }
        let (validator_updates, mut overlay) = match switched {
            Some(updates) => (updates, overlay),
            None => self.active_updates(&params, overlay, block, &mut budget.sybil, &mut events)?,
        };

        if let (Some(gov), false) = (params.gov_module, validator_updates.is_empty()) {
            let s = Session::new(&self.host, overlay, block.clone(), Address::default(), budget.gov.fuel);
            let msg = set_validators_msg(&validator_updates);
            let (r, mut s) = bounded(s, &mut budget.gov, |s| s.execute(&Address::default(), &gov, &msg));
            events.extend(s.take_events());
            overlay = s.finish();
            match r {
                Ok(_) => {}
                Err(Failure::Host(h)) => return Err(h),
                Err(Failure::Exec(e)) => {
                    tracing::warn!(error = %e, "gov SetValidators failed");
                    events.push(Event::new("gov_set_validators_failed").attr("error", e.to_string()));
                }
            }
        }
        Ok(EndOfBlock { validator_updates, consensus_params, overlay, events })
    }

    /// The active module's updates, recorded as its set; returned as the changes they make to the chain's set
    /// (refused, with an event, if they would leave it unusable).
    fn active_updates(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
        share: &mut Share,
        events: &mut Vec<Event>,
    ) -> HostResult<(Vec<Validator>, Overlay)> {
        let (reported, mut overlay, ev) = self.sybil_updates(params, overlay, block, share)?;
        events.extend(ev);
        let (Some(sybil), false) = (params.sybil_module, reported.is_empty()) else {
            return Ok((Vec::new(), overlay));
        };
        let base = &*self.host.base;
        let prefix = keys::sybil_set(&sybil);
        let mut module_set = read_set(&overlay, base, &prefix)?;
        fold(&mut overlay, &prefix, &mut module_set, &reported);
        let chain = read_set(&overlay, base, &[keys::VALIDATOR_PREFIX])?;
        let mut next = chain.clone();
        for u in &reported {
            match module_set.get(&u.public_key.0) {
                Some(p) => next.insert(u.public_key.0, *p),
                None => next.remove(&u.public_key.0),
            };
        }
        if let Some(why) = unusable(&next) {
            tracing::warn!(module = %sybil.to_hex(), %why, "validator updates refused");
            events.push(Event::new("sybil_refused").attr("module", sybil.to_hex()).attr("reason", why));
            return Ok((Vec::new(), overlay));
        }
        let updates = diff(&chain, &next);
        fold(&mut overlay, &[keys::VALIDATOR_PREFIX], &mut Set::new(), &updates);
        Ok((updates, overlay))
    }

    /// Makes `sw.module` the active Sybil module: its whole set (what it reported before, plus what it reports
    /// now) replaces the chain's; old validators not in it get power 0. `None` (with an event) if it cannot be:
    /// the old module stays active.
    fn switch_sybil(
        &self,
        params: &mut Params,
        overlay: Overlay,
        block: &BlockEnv,
        share: &mut Share,
        sw: SybilSwitch,
        events: &mut Vec<Event>,
    ) -> HostResult<(Option<Vec<Validator>>, Overlay)> {
        let refuse = |events: &mut Vec<Event>, why: String| {
            tracing::warn!(module = %sw.module.to_hex(), %why, "Sybil module switch refused");
            events.push(
                Event::new("sybil_switch_refused").attr("module", sw.module.to_hex()).attr("reason", why),
            );
        };
        // Re-checked now: the module may have been migrated to code without the export since the vote.
        let mut s = Session::new(&self.host, overlay, block.clone(), Address::default(), 0);
        let check = s.check_exports(&sw.module, "validator_set_updates");
        let overlay = s.finish();
        match check {
            Ok(()) => {}
            Err(Failure::Host(h)) => return Err(h),
            Err(Failure::Exec(e)) => {
                refuse(events, exec_reason(&sw.module, e));
                return Ok((None, overlay));
            }
        }
        let target = Params { sybil_module: Some(sw.module), ..params.clone() };
        let (reported, mut overlay, ev) = self.sybil_updates(&target, overlay, block, share)?;
        events.extend(ev);
        let base = &*self.host.base;
        let prefix = keys::sybil_set(&sw.module);
        let mut module_set = read_set(&overlay, base, &prefix)?;
        // Recorded even if the switch is refused: the module reported these and will not again.
        fold(&mut overlay, &prefix, &mut module_set, &reported);
        if let Some(why) = unusable(&module_set) {
            refuse(events, format!("{}'s validator set cannot govern: {why}", sw.module.to_hex()));
            return Ok((None, overlay));
        }
        let chain = read_set(&overlay, base, &[keys::VALIDATOR_PREFIX])?;
        let updates = diff(&chain, &module_set);
        fold(&mut overlay, &[keys::VALIDATOR_PREFIX], &mut Set::new(), &updates);
        params.sybil_module = Some(sw.module);
        registry::put(&mut overlay, keys::PARAMS.to_vec(), &*params);
        events.push(
            Event::new("sybil_switched")
                .attr("module", sw.module.to_hex())
                .attr("height", block.height.to_string())
                .attr("validators", module_set.len().to_string())
                .attr("effective", block.height.saturating_add(2).to_string()),
        );
        Ok((Some(updates), overlay))
    }

    /// Reads gov's passed actions, applies each (or refuses it, with a reason) and acknowledges it as the system
    /// caller, each in its own layer: an action whose ack fails is rolled back and stays queued.
    fn gov_actions(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
        share: &mut Share,
        events: &mut Vec<Event>,
    ) -> HostResult<(Overlay, Option<ConsensusParams>)> {
        let Some(gov) = params.gov_module else { return Ok((overlay, None)) };
        let s = Session::new(&self.host, overlay, block.clone(), Address::default(), share.fuel);
        let mut update = None;
        let mut out = Vec::new();
        let (r, mut s) = bounded(s, share, |s| {
            let bytes = s.query(&gov, &pending_actions_query())?;
            let pending = <Vec<(u64, GovAction)>>::try_from_slice(&bytes)
                .map_err(|e| ExecError::Guest(format!("malformed PendingActions answer: {e}")))?;
            for (id, action) in pending.into_iter().take(MAX_ACTIONS_PER_BLOCK) {
                let mark = s.begin();
                let verdict = self.apply_action(s, block.height, &action)?;
                match s.execute(&Address::default(), &gov, &ack_action_msg(id)) {
                    Ok(_) => {}
                    Err(Failure::Host(h)) => return Err(h.into()),
                    Err(Failure::Exec(e)) => {
                        s.end(mark, false);
                        tracing::warn!(id, error = %e, "gov AckAction failed: the action stays queued");
                        out.push(event("gov_ack_failed", id, &action).attr("error", e.to_string()));
                        continue;
                    }
                }
                s.end(mark, true);
                match verdict {
                    Ok(cp) => {
                        update = cp.or(update.take());
                        out.push(event("gov_applied", id, &action));
                    }
                    Err(why) => {
                        tracing::warn!(id, kind = action.kind(), %why, "gov action refused");
                        out.push(event("gov_refused", id, &action).attr("reason", why));
                    }
                }
            }
            Ok(())
        });
        events.extend(s.take_events());
        let overlay = s.finish();
        match r {
            Ok(()) => events.extend(out),
            Err(Failure::Host(h)) => return Err(h),
            Err(Failure::Exec(e)) => {
                tracing::warn!(error = %e, "gov actions not applied this block");
                events
                    .push(Event::new("gov_failed").attr("module", gov.to_hex()).attr("error", e.to_string()));
                update = None;
            }
        }
        Ok((overlay, update))
    }

    /// Applies one action to the host's state in `s`'s overlay. `Err` only for failures of this machine.
    fn apply_action(&self, s: &mut Session, height: u64, action: &GovAction) -> HostResult<Verdict> {
        let base = &*self.host.base;
        let mut params = registry::load_params(s.overlay(), base)?
            .ok_or_else(|| HostError::Corrupt("the chain's parameters are missing".into()))?;
        match action {
            GovAction::SetParam { key, value } => {
                let Ok(v) = u64::try_from_slice(value) else {
                    return Ok(Err(format!("parameter {key}: the value is not a borsh u64")));
                };
                match key.as_str() {
                    "max_tx_fuel" => params.max_tx_fuel = v,
                    "max_block_fuel" => params.max_block_fuel = v,
                    // A host-call price (`prices.storage_read`, …): every node charges it from the next block.
                    other => match other.strip_prefix("prices.") {
                        Some(name) if params.limits.prices.set(name, v) => {}
                        _ => return Ok(Err(format!("unknown parameter {other:?}"))),
                    },
                }
                if v == 0 || params.max_tx_fuel > params.max_block_fuel {
                    return Ok(Err(format!(
                        "{key} = {v} would leave max_tx_fuel {} above max_block_fuel {} or zero",
                        params.max_tx_fuel, params.max_block_fuel
                    )));
                }
            }
            GovAction::SetUploadPermission(p) => {
                params.upload_permission = match p {
                    GovUploadPermission::Anyone => UploadPermission::Anyone,
                    GovUploadPermission::AllowList(l) => {
                        UploadPermission::AllowList(l.iter().map(|a| Address(*a)).collect())
                    }
                    GovUploadPermission::Governance => UploadPermission::Governance,
                };
            }
            GovAction::SwitchSybil { module, height: at } => {
                let module = Address(*module);
                if *at < height {
                    return Ok(Err(format!("switch height {at} is in the past (this block is {height})")));
                }
                if params.sybil_module == Some(module) {
                    return Ok(Err(format!("{} is already the active Sybil module", module.to_hex())));
                }
                match s.check_exports(&module, "validator_set_updates") {
                    Ok(()) => {}
                    Err(Failure::Host(h)) => return Err(h),
                    Err(Failure::Exec(e)) => return Ok(Err(exec_reason(&module, e))),
                }
                if let Some(sw) = registry::get_typed::<SybilSwitch>(
                    s.overlay(),
                    base,
                    keys::SYBIL_SWITCH,
                    "scheduled Sybil switch",
                )? {
                    return Ok(Err(format!(
                        "a switch to {} at height {} is already scheduled",
                        sw.module.to_hex(),
                        sw.height
                    )));
                }
                registry::put(s.overlay(), keys::SYBIL_SWITCH.to_vec(), &SybilSwitch { module, height: *at });
                return Ok(Ok(None));
            }
            GovAction::SwitchEngine { engine, height: at, params: engine_params } => {
                return self.schedule_engine(s, height, engine, *at, engine_params);
            }
        }
        registry::put(s.overlay(), keys::PARAMS.to_vec(), &params);
        Ok(Ok(None))
    }

    /// An engine switch: the consensus parameters in force with `engine` from `at`, returned from FinalizeBlock
    /// (the node starts the new engine at `at` with the state finalized before it).
    fn schedule_engine(
        &self,
        s: &mut Session,
        height: u64,
        engine: &str,
        at: u64,
        engine_params: &[u8],
    ) -> HostResult<Verdict> {
        let kind = match engine {
            "bft" => EngineKind::Bft,
            "snow" => EngineKind::Snow,
            other => return Ok(Err(format!("unknown consensus engine {other:?}: expected bft or snow"))),
        };
        if at <= height {
            return Ok(Err(format!("engine switch height {at} is not after this block ({height})")));
        }
        if !engine_params.is_empty() {
            return Ok(Err("engine parameters are not supported yet: params must be empty".into()));
        }
        let stored = registry::get_typed::<ConsensusParams>(
            s.overlay(),
            &*self.host.base,
            keys::CONSENSUS_PARAMS,
            "consensus parameters",
        )?;
        let Some(mut cp) = stored else {
            return Ok(Err("the chain's consensus parameters are unknown (no InitChain record)".into()));
        };
        let next = Height(height.saturating_add(1));
        if let Some(sw) = cp.engine_switch
            && sw.height > next
        {
            return Ok(Err(format!(
                "an engine switch to {:?} at height {} is already scheduled",
                sw.engine, sw.height
            )));
        }
        cp.engine = cp.engine_at(next);
        cp.engine_switch = Some(EngineSwitch { engine: kind, height: Height(at) });
        registry::put(s.overlay(), keys::CONSENSUS_PARAMS.to_vec(), &cp);
        Ok(Ok(Some(cp)))
    }
}
