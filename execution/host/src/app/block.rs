//! FinalizeBlock: the Sybil module's `begin_block` (app/begin_block.rs), the block's txs, then the `end_block`
//! hooks, then the Sybil module's validator updates — all within the block's budgets of fuel and writes (chain
//! parameters), so the block's batch always fits what the store stages, and nothing in a tx's bytes makes
//! FinalizeBlock return `Err` (only this machine can).

use borsh::BorshDeserialize;
use cairn_abci::{AppError, AppResult, Event, FinalizeBlockRequest, FinalizeBlockResponse, TxResult};
use cairn_primitives::{Address, Hash, Message, PublicKey, Tx, Validator};

use super::{Inner, MAX_MESSAGES, codes, deposits, exec_code, fail, local};
use crate::backend::{Overlay, WriteSize};
use crate::fees::{self, Payment};
use crate::instance::BlockEnv;
use crate::registry::{self, Params};
use crate::session::{Failure, Outcome, Session};
use crate::{ExecError, HostError, keys};

/// What a block may still spend. The Sybil and governance modules' shares are set aside first: a block full of
/// txs cannot starve the validator-set update or the application of passed actions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub fuel: u64,
    pub writes: WriteSize,
    pub sybil: Share,
    pub gov: Share,
}

/// A share of fuel and writes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Share {
    pub fuel: u64,
    pub writes: WriteSize,
}

impl Budget {
    pub fn of(params: &Params) -> Budget {
        let writes =
            WriteSize { entries: params.max_block_write_entries, bytes: params.max_block_write_bytes };
        let (sybil, gov) = (Share::sybil(params), Share::gov(params));
        let mut b = Budget { fuel: params.max_block_fuel, writes, sybil, gov };
        for (reserved, share) in [(params.sybil_module.is_some(), sybil), (params.gov_module.is_some(), gov)]
        {
            if reserved {
                b.fuel = b.fuel.saturating_sub(share.fuel);
                b.writes = b.writes.saturating_sub(&share.writes);
            }
        }
        b
    }
}

impl Share {
    /// One tx's worth of fuel, and the writes that fuel can pay for, within the block's budgets.
    pub fn sybil(params: &Params) -> Share {
        let fuel = params.max_tx_fuel.min(params.max_block_fuel / 4);
        let writes = WriteSize {
            entries: params.max_block_write_entries / 4,
            bytes: params.max_block_write_bytes / 4,
        };
        Share { fuel, writes }
    }
}

/// How [`Inner::run_tx`] runs a tx: PrepareProposal's dry run, or for real (fees to this block's proposer).
#[derive(Clone, Copy, Debug)]
enum Mode {
    Simulate,
    Finalize { proposer: Address },
}

/// Budgets [`bounded`] can charge.
pub(crate) trait Spend {
    fn spend(&mut self, fuel: u64, writes: &WriteSize);
    fn writes_left(&self) -> WriteSize;
}

impl Spend for Budget {
    fn spend(&mut self, fuel: u64, writes: &WriteSize) {
        self.fuel = self.fuel.saturating_sub(fuel);
        self.writes = self.writes.saturating_sub(writes);
    }
    fn writes_left(&self) -> WriteSize {
        self.writes
    }
}

impl Spend for Share {
    fn spend(&mut self, fuel: u64, writes: &WriteSize) {
        self.fuel = self.fuel.saturating_sub(fuel);
        self.writes = self.writes.saturating_sub(writes);
    }
    fn writes_left(&self) -> WriteSize {
        self.writes
    }
}

/// Runs a hook in its own layer and charges its fuel and writes to `budget`; writes over the budget are dropped
/// and the hook fails.
pub(super) fn bounded<T>(
    mut s: Session,
    budget: &mut impl Spend,
    f: impl FnOnce(&mut Session) -> Outcome<T>,
) -> (Outcome<T>, Session) {
    let mark = s.begin();
    let mut r = f(&mut s);
    let written = s.pending_writes();
    let left = budget.writes_left();
    if r.is_ok() && !written.fits(&left) {
        r = Err(ExecError::BlockWrites { written, left }.into());
    }
    let ok = r.is_ok();
    s.end(mark, ok);
    let kept = if ok { written } else { WriteSize::default() };
    budget.spend(s.fuel_used(), &kept);
    (r, s)
}

impl Inner {
    /// PrepareProposal's dry run: executes `txs` as FinalizeBlock will (same state, height and time) and leaves
    /// out each tx the block's budgets would cut short, with the sender's later txs. A left-out tx stays in the
    /// mempool for a later block; every tx proposed gets the budgets it needs wherever it stands in the block.
    /// So is a tx that would not spend its nonce (its sender can no longer pay, e.g. after an earlier tx of the
    /// same block): it would take block space for nothing, and mempools that learn nonces from blocks would
    /// think it spent.
    pub(super) fn fit_to_budgets(&mut self, txs: Vec<Vec<u8>>, height: u64, time_ms: u64) -> Vec<Vec<u8>> {
        let mut overlay = self.view();
        let Ok(params) = self.params(&overlay) else { return txs };
        self.host.limits = params.limits.to_limits();
        let block = BlockEnv { chain_id: params.chain_id.clone(), height, time_ms };
        let mut budget = Budget::of(&params);
        let mut cut: std::collections::BTreeSet<PublicKey> = std::collections::BTreeSet::new();
        let mut kept = Vec::with_capacity(txs.len());
        for bytes in txs {
            let sender = Tx::from_bytes(&bytes).map(|t| t.body.sender).ok();
            if sender.is_some_and(|s| cut.contains(&s)) {
                continue;
            }
            let before = budget;
            let nonce_before = match &sender {
                Some(s) => registry::next_nonce(&overlay, &*self.host.base, &s.0).ok(),
                None => None,
            };
            overlay.push();
            let Ok((result, o)) = self.run_tx(overlay, &params, &block, &bytes, &mut budget, Mode::Simulate)
            else {
                // A local failure: propose what fitted so far; FinalizeBlock will report the failure itself.
                return kept;
            };
            overlay = o;
            let nonce_after = match &sender {
                Some(s) => registry::next_nonce(&overlay, &*self.host.base, &s.0).ok(),
                None => None,
            };
            let unspent = nonce_before.is_some() && nonce_after == nonce_before;
            if result.code == codes::BLOCK_WRITES || result.code == codes::BLOCK_FUEL || unspent {
                overlay.drop_top();
                budget = before;
                if let Some(s) = sender {
                    cut.insert(s);
                }
            } else {
                overlay.merge_top();
                kept.push(bytes);
            }
        }
        kept
    }

    /// Checks in one batch the signatures of the block's txs that CheckTx did not see here (a block from sync, or
    /// txs that reached only the proposer), so that `run_tx` finds them verified. The verdicts are those of
    /// [`Tx::verify`], so a node that checks a tx alone decides it the same way.
    fn verify_unseen(&mut self, txs: &[Vec<u8>]) {
        let unseen: Vec<(Hash, Tx)> = txs
            .iter()
            .filter_map(|bytes| {
                let hash = Hash::digest(bytes);
                if self.verified.contains(&hash) {
                    return None;
                }
                Tx::from_bytes(bytes).ok().map(|tx| (hash, tx))
            })
            .collect();
        if unseen.len() < 2 {
            return;
        }
        let refs: Vec<&Tx> = unseen.iter().map(|(_, tx)| tx).collect();
        for ((hash, _), verdict) in unseen.iter().zip(Tx::verify_all(&refs)) {
            if verdict.is_ok() {
                self.verified.put(*hash, ());
            }
        }
    }

    pub(super) fn finalize_block(&mut self, req: FinalizeBlockRequest) -> AppResult<FinalizeBlockResponse> {
        let expected = self.host.base.version().next();
        if req.height != expected {
            return Err(AppError::OutOfOrder(format!(
                "FinalizeBlock for height {}, the app expects {expected}",
                req.height
            )));
        }
        self.host.base.discard_staged();
        self.staged = None;
        let mut overlay = self.view();
        let params = self.params(&overlay).map_err(local)?;
        self.host.limits = params.limits.to_limits();
        let block =
            BlockEnv { chain_id: params.chain_id.clone(), height: req.height.0, time_ms: req.time_ms };
        let mut budget = Budget::of(&params);
        let mode = Mode::Finalize { proposer: Address::from(req.proposer) };
        self.verify_unseen(&req.txs);
        // The previous block's signers and this block's evidence, before any tx (a double-signer cannot unbond
        // first).
        let (o, mut events) = self.begin_block(&params, overlay, &block, &req, &mut budget).map_err(local)?;
        overlay = o;
        let mut tx_results = Vec::with_capacity(req.txs.len());
        for bytes in &req.txs {
            let (result, o) =
                self.run_tx(overlay, &params, &block, bytes, &mut budget, mode).map_err(local)?;
            overlay = o;
            tx_results.push(result);
        }

        // end_block hooks, in address order.
        let prefix = [keys::END_BLOCK_PREFIX];
        let end = keys::prefix_end(&prefix);
        let mut cursor = prefix.to_vec();
        let height_msg = borsh::to_vec(&req.height.0).unwrap_or_default();
        while let Some((k, _)) =
            overlay.next_entry(&*self.host.base, &cursor, end.as_deref()).map_err(|e| local(e.into()))?
        {
            cursor = k.clone();
            cursor.push(0);
            let Some(addr) = k.get(1..33).and_then(|a| <[u8; 32]>::try_from(a).ok()).map(Address) else {
                continue;
            };
            // Hooks run on what the block's txs left of its fuel and write budgets.
            let fuel = params.max_tx_fuel.min(budget.fuel);
            if fuel == 0 {
                events.push(Event::new("end_block_skipped").attr("module", addr.to_hex()));
                continue;
            }
            let s = Session::new(&self.host, overlay, block.clone(), Address::default(), fuel);
            let (r, s) = bounded(s, &mut budget, |s| s.execute_entry(&addr, "end_block", &height_msg));
            let mut s = s;
            events.extend(s.take_events());
            overlay = s.finish();
            match r {
                Ok(_) => {}
                Err(Failure::Host(h)) => return Err(local(h)),
                Err(Failure::Exec(e)) => events.push(
                    Event::new("end_block_failed").attr("module", addr.to_hex()).attr("error", e.to_string()),
                ),
            }
        }

        // Governance actions, a scheduled Sybil switch, the Sybil module's updates (app/gov.rs).
        let end = self.end_of_block(&params, overlay, &block, &mut budget).map_err(local)?;
        events.extend(end.events);
        let app_hash =
            self.host.base.stage(req.height, end.overlay.into_batch()).map_err(|e| local(e.into()))?;
        self.staged = Some(req.height);
        Ok(FinalizeBlockResponse {
            events,
            tx_results,
            validator_updates: end.validator_updates,
            consensus_param_updates: end.consensus_params,
            app_hash,
        })
    }

    /// Executes one tx; `Err` only for failures of this machine, never for anything in the tx's bytes.
    fn run_tx(
        &mut self,
        overlay: Overlay,
        params: &Params,
        block: &BlockEnv,
        bytes: &[u8],
        budget: &mut Budget,
        mode: Mode,
    ) -> Result<(TxResult, Overlay), HostError> {
        let (simulate, proposer) = match mode {
            // Fees to the proposer change one balance key whoever proposes: the dry run's writes are the same size.
            Mode::Simulate => (true, Address::default()),
            Mode::Finalize { proposer } => (false, proposer),
        };
        let proposer = &proposer;
        let tx = match Tx::from_bytes(bytes) {
            Ok(tx) => tx,
            Err(e) => return Ok((fail(codes::DECODE, format!("tx does not decode: {e}")), overlay)),
        };
        let body = &tx.body;
        if body.chain_id.as_str() != params.chain_id {
            return Ok((
                fail(codes::WRONG_CHAIN, format!("tx is for chain {:?}", body.chain_id.as_str())),
                overlay,
            ));
        }
        let hash = Hash::digest(bytes);
        // A simulation leaves the cache for FinalizeBlock; FinalizeBlock takes the entry (the tx is done).
        let seen = if simulate { self.verified.contains(&hash) } else { self.verified.pop(&hash).is_some() };
        if !seen && let Err(e) = tx.verify() {
            return Ok((fail(codes::BAD_SIGNATURE, e.to_string()), overlay));
        }
        let next = registry::next_nonce(&overlay, &*self.host.base, &body.sender.0)?;
        if body.nonce != next {
            return Ok((fail(codes::BAD_NONCE, format!("nonce {}, expected {next}", body.nonce)), overlay));
        }
        if body.messages.len() > MAX_MESSAGES {
            return Ok((fail(codes::INVALID, format!("more than {MAX_MESSAGES} messages")), overlay));
        }
        let fuel = body.fuel_limit.min(params.max_tx_fuel).min(budget.fuel);
        if fuel == 0 && body.fuel_limit > 0 {
            return Ok((fail(codes::BLOCK_FUEL, "the block's fuel limit is used up"), overlay));
        }
        let nonce_write = WriteSize { entries: 1, bytes: keys::nonce(&body.sender.0).len() as u64 + 8 };
        let host_writes = WriteSize {
            entries: nonce_write.entries + fees::SETTLE_WRITES.entries,
            bytes: nonce_write.bytes + fees::SETTLE_WRITES.bytes,
        };
        if !host_writes.fits(&budget.writes) {
            return Ok((fail(codes::BLOCK_WRITES, "the block's write budget is used up"), overlay));
        }
        let sender = Address::from(body.sender);
        let base = self.host.base.clone();
        let (granted, mut overlay) = if params.fees.uses_quota(body.price) {
            self.granted_quota(params, overlay, block, &sender)?
        } else {
            (fees::Quota::default(), overlay)
        };
        let payment = match params.fees.payment(
            &overlay,
            &*base,
            &sender,
            body.fuel_limit,
            body.price,
            0,
            granted,
            block.height,
        )? {
            Ok(p) => p,
            Err(e) => return Ok((fail(codes::fee_code(&e), e.to_string()), overlay)),
        };
        // The nonce is spent and the fee held from here on, whatever the messages do: a failing tx still pays,
        // and a replay (same nonce) never gets this far, so it can never be charged twice.
        registry::put(&mut overlay, keys::nonce(&body.sender.0), &next.saturating_add(1));
        if let Payment::Fee { max_fee } = payment
            && fees::hold(&params.fees, &mut overlay, &*base, &sender, max_fee)?.is_err()
        {
            return Err(HostError::Corrupt(format!("{} could pay {max_fee} a moment ago", sender.to_hex())));
        }
        budget.writes = budget.writes.saturating_sub(&host_writes);

        let mut s = Session::new(&self.host, overlay, block.clone(), sender, fuel);
        let mark = s.begin();
        let mut outputs: Vec<Vec<u8>> = Vec::with_capacity(body.messages.len());
        let mut failure = None;
        for (i, msg) in body.messages.iter().enumerate() {
            let r = match msg {
                Message::Upload { code } => {
                    s.upload(&sender, code, &params.upload_permission).map(|id| id.0.to_vec())
                }
                Message::Instantiate { code_id, label, admin, msg } => {
                    s.instantiate(&sender, code_id, label, *admin, msg).map(|a| a.0.to_vec())
                }
                Message::Execute { contract, msg } => s.execute(&sender, contract, msg),
                Message::Migrate { contract, code_id, msg } => s.migrate(&sender, contract, code_id, msg),
            };
            match r {
                Ok(out) => outputs.push(out),
                Err(Failure::Host(h)) => return Err(h),
                Err(Failure::Exec(e)) => {
                    failure = Some((Some(i), e));
                    break;
                }
            }
        }
        // The bytes the tx adds to state: deposits locked (paying txs) or taken from the quota (price 0).
        let mut grown = 0u64;
        if failure.is_none() {
            match self.storage_cost(&mut s, params, &sender, &payment)? {
                Ok(bytes) => grown = bytes,
                Err(e) => failure = Some((None, e)),
            }
        }
        // The tx's writes must fit what the block has left, so the block's batch always fits the store.
        let written = s.pending_writes();
        if failure.is_none() && !written.fits(&budget.writes) {
            failure = Some((None, ExecError::BlockWrites { written, left: budget.writes }));
        }
        s.end(mark, failure.is_none());
        if failure.is_none() {
            budget.writes = budget.writes.saturating_sub(&written);
        }
        let used = s.fuel_used();
        budget.fuel = budget.fuel.saturating_sub(used);
        let mut events = s.take_events();
        let mut overlay = s.finish();
        let kept_bytes = if failure.is_none() { grown } else { 0 };
        if let Some(fee) = fees::settle(
            &params.fees,
            &mut overlay,
            &*base,
            &sender,
            &payment,
            body.price,
            used,
            kept_bytes,
            block.height,
            proposer,
        )? {
            events.push(fees::fee_event(&sender, fee, used, body.price));
        }
        let result = match failure {
            None => TxResult {
                code: 0,
                log: String::new(),
                data: borsh::to_vec(&outputs).unwrap_or_default(),
                gas_wanted: body.fuel_limit,
                gas_used: used,
                events,
            },
            Some((i, e)) => TxResult {
                code: exec_code(&e),
                log: match i {
                    Some(i) => format!("message {i} failed: {e}"),
                    None => format!("tx failed: {e}"),
                },
                data: Vec::new(),
                gas_wanted: body.fuel_limit,
                gas_used: used,
                // A failed tx keeps only the record of the fee it paid.
                events: events.into_iter().filter(|e| e.kind == fees::FEE_EVENT).collect(),
            },
        };
        Ok((result, overlay))
    }

    /// What the bytes the session's open unit adds to state cost its sender: a deposit (paying txs on a chain
    /// with deposits) or a share of the quota (price 0); returns the bytes added, or why the tx must fail.
    fn storage_cost(
        &self,
        s: &mut Session,
        params: &Params,
        sender: &Address,
        payment: &Payment,
    ) -> Result<Result<u64, ExecError>, HostError> {
        let base = self.host.base.clone();
        match payment {
            Payment::Fee { .. } => match &params.fees.bank {
                Some(bank) if params.fees.deposit_per_byte > 0 => {
                    deposits::settle(s.overlay(), &*base, bank, sender, params.fees.deposit_per_byte)
                }
                _ => Ok(Ok(0)),
            },
            Payment::Quota(left) => {
                let bytes = deposits::bytes_added(s.overlay(), &*base)?;
                Ok(if bytes > left.bytes {
                    Err(ExecError::QuotaBytes { bytes, left: left.bytes })
                } else {
                    Ok(bytes)
                })
            }
            Payment::Free => Ok(Ok(0)),
        }
    }

    /// Validator updates from the active Sybil module, run on `budget` (its own share of the block's fuel and
    /// writes, reserved so txs cannot starve it). A failing module yields no updates and an event.
    pub(super) fn sybil_updates(
        &self,
        params: &Params,
        overlay: Overlay,
        block: &BlockEnv,
        budget: &mut Share,
    ) -> Result<(Vec<Validator>, Overlay, Vec<Event>), HostError> {
        let Some(sybil) = params.sybil_module else { return Ok((Vec::new(), overlay, Vec::new())) };
        let s = Session::new(&self.host, overlay, block.clone(), Address::default(), budget.fuel);
        let (r, mut s) = bounded(s, budget, |s| s.execute_entry(&sybil, "validator_set_updates", &[]));
        let mut events = s.take_events();
        let overlay = s.finish();
        let out = match r {
            Ok(out) => out,
            Err(Failure::Host(h)) => return Err(h),
            Err(Failure::Exec(e)) => {
                events.push(
                    Event::new("sybil_failed").attr("module", sybil.to_hex()).attr("error", e.to_string()),
                );
                return Ok((Vec::new(), overlay, events));
            }
        };
        match <Vec<([u8; 32], u64)>>::try_from_slice(&out) {
            Ok(list) => {
                // A key that is not a valid ed25519 point could never sign a vote: drop it rather than hand the
                // engine a validator set it must reject.
                let mut v = Vec::with_capacity(list.len());
                for (pk, power) in list {
                    let public_key = PublicKey(pk);
                    if public_key.validate().is_ok() {
                        v.push(Validator { public_key, power });
                    } else {
                        events.push(
                            Event::new("sybil_invalid_key")
                                .attr("module", sybil.to_hex())
                                .attr("key", public_key.to_hex()),
                        );
                    }
                }
                Ok((v, overlay, events))
            }
            Err(e) => {
                events.push(
                    Event::new("sybil_failed")
                        .attr("module", sybil.to_hex())
                        .attr("error", format!("malformed validator_set_updates output: {e}")),
                );
                Ok((Vec::new(), overlay, events))
            }
        }
    }
}
