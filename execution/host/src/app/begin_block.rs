//! The start of a block: the active Sybil module's optional `begin_block` entry point hears who signed the
//! previous block's certificate and the misbehaviour the block's evidence proves (ABCI's `decided_last_commit`
//! and `misbehavior`), before the block's txs, so a double-signer is slashed before it can unbond in this block.
//!
//! Charged to the block's fuel and write budgets like a hook; a failure is an event, never an `Err` of
//! FinalizeBlock — nothing in a block may stop a node.

use borsh::BorshSerialize;
use cairn_abci::{Event, FinalizeBlockRequest, MisbehaviorKind};
use cairn_primitives::Address;

use super::Inner;
use super::block::{Budget, bounded};
use crate::HostError;
use crate::backend::Overlay;
use crate::instance::BlockEnv;
use crate::registry::{self, Params};
use crate::session::{Failure, Session};

/// The borsh input of `begin_block` (docs/HOST_API.md; `cairn_module_pos::msg::BeginBlockInfo` decodes it).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize)]
pub struct BeginBlockInfo {
    /// Public keys whose signature is in the previous block's certificate; `None` when there is nothing to report
    /// (the first block, or a parent decided by sampling, which has no quorum certificate): not "nobody signed".
    pub signers: Option<Vec<[u8; 32]>>,
    pub misbehaviour: Vec<Misbehaviour>,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize)]
pub struct Misbehaviour {
    pub offender: [u8; 32],
    /// Height of the offence.
    pub height: u64,
    pub kind: Offence,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize)]
pub enum Offence {
    /// Two conflicting signed votes (either kind of consensus evidence).
    DuplicateVote,
}

impl BeginBlockInfo {
    /// What the request reports; downtime is not passed on (the module counts misses from the signers itself).
    pub fn of(req: &FinalizeBlockRequest) -> BeginBlockInfo {
        BeginBlockInfo {
            signers: req.decided_last_commit.as_ref().map(|c| c.signers.iter().map(|k| k.0).collect()),
            misbehaviour: req
                .misbehavior
                .iter()
                .filter(|m| m.kind == MisbehaviorKind::Equivocation)
                .map(|m| Misbehaviour {
                    offender: m.validator.0,
                    height: m.height.0,
                    kind: Offence::DuplicateVote,
                })
                .collect(),
        }
    }
}

impl Inner {
    /// Runs the Sybil module's `begin_block` if it exports one and there is something to report.
    pub(super) fn begin_block(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
        req: &FinalizeBlockRequest,
        budget: &mut Budget,
    ) -> Result<(Overlay, Vec<Event>), HostError> {
        let Some(sybil) = params.sybil_module else { return Ok((overlay, Vec::new())) };
        let info = BeginBlockInfo::of(req);
        if info.signers.is_none() && info.misbehaviour.is_empty() {
            return Ok((overlay, Vec::new()));
        }
        let base = &*self.host.base;
        let Some(instance) = registry::load_instance(&overlay, base, &sybil)? else {
            return Ok((overlay, Vec::new()));
        };
        let (code, _) = self
            .host
            .cache
            .get(&instance.code_id, || registry::read_code(&overlay, base, &instance.code_id))?;
        if !code.has_begin_block {
            return Ok((overlay, Vec::new()));
        }
        let mut events = Vec::new();
        let fuel = params.max_tx_fuel.min(budget.fuel);
        if fuel == 0 {
            events.push(Event::new("begin_block_skipped").attr("module", sybil.to_hex()));
            return Ok((overlay, events));
        }
        let msg = borsh::to_vec(&info).unwrap_or_default();
        let s = Session::new(&self.host, overlay, block.clone(), Address::default(), fuel);
        let (r, mut s) = bounded(s, budget, |s| s.execute_entry(&sybil, "begin_block", &msg));
        events.extend(s.take_events());
        let overlay = s.finish();
        match r {
            Ok(_) => {}
            Err(Failure::Host(h)) => return Err(h),
            Err(Failure::Exec(e)) => events.push(
                Event::new("begin_block_failed").attr("module", sybil.to_hex()).attr("error", e.to_string()),
            ),
        }
        Ok((overlay, events))
    }
}
