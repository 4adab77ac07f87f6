//! A [`Session`] runs the messages of one tx (or one hook, or one query) in one wasmtime store with one fuel
//! budget: upload, instantiate, execute, migrate, query, `end_block`, `validator_set_updates`.

use std::sync::Arc;

use cairn_abci::Event;
use cairn_primitives::{Address, Hash};
use wasmtime::Store;

use crate::backend::{Backend, Overlay, WriteSize};
use crate::cache::{Admission, Compiled, ModuleCache};
use crate::instance::{self, BlockEnv, HostState, Limiter, Metering};
use crate::registry::{self, InstanceInfo, UploadPermission};
use crate::validate::Limits;
use crate::{ExecError, HostError, HostResult, keys};

/// Why a message failed: the module/tx's fault (the tx fails) or the host's (the block call fails).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Host(#[from] HostError),
}

pub type Outcome<T> = Result<T, Failure>;

/// What every session shares: the engine's module cache, the committed state, the static limits.
#[derive(Clone)]
pub struct Host {
    pub cache: Arc<ModuleCache>,
    pub base: Arc<dyn Backend>,
    pub limits: Limits,
}

pub struct Session {
    store: Store<HostState>,
    fuel_limit: u64,
    limits: Limits,
    /// Whether `store` has run an entry point (and so holds instances until it is dropped).
    used: bool,
    /// Whether instantiating registers a module's `end_block` hook. Hooks run every block on the block's budget,
    /// so registering one is a chain permission: genesis (and later governance), not any tx.
    hooks_allowed: bool,
}

impl Session {
    pub fn new(host: &Host, overlay: Overlay, block: BlockEnv, origin: Address, fuel_limit: u64) -> Session {
        let limiter = Limiter {
            max_memory_bytes: (host.limits.max_memory_pages as usize).saturating_mul(64 * 1024),
            max_table_elements: host.limits.max_table_elements as usize,
        };
        let state = HostState::new(
            host.cache.clone(),
            host.base.clone(),
            overlay,
            block,
            origin,
            limiter,
            Metering { prices: host.limits.prices, stack_budget: host.limits.stack_budget },
        );
        let mut store = Store::new(host.cache.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // Fuel is always on in our engine config; set_fuel cannot fail then.
        let _ = store.set_fuel(fuel_limit);
        Session { store, fuel_limit, limits: host.limits.clone(), used: false, hooks_allowed: false }
    }

    /// Moves the state into a fresh store, so the instances of earlier entry points are freed: a tx of many
    /// messages then holds at most one call stack of instances at a time (the pool and the limiter are bounded).
    fn renew_store(&mut self) {
        let fuel = self.store.get_fuel().unwrap_or(0);
        let engine = self.store.engine().clone();
        let d = self.store.data_mut();
        let limiter = Limiter {
            max_memory_bytes: d.limiter.max_memory_bytes,
            max_table_elements: d.limiter.max_table_elements,
        };
        let mut state = HostState::new(
            d.cache.clone(),
            d.base.clone(),
            std::mem::take(&mut d.overlay),
            d.block.clone(),
            d.origin,
            limiter,
            d.metering,
        );
        state.read_only = d.read_only;
        state.adopt_events(d);
        state.fatal = d.fatal.take();
        let mut store = Store::new(&engine, state);
        store.limiter(|s| &mut s.limiter);
        let _ = store.set_fuel(fuel);
        self.store = store;
        self.used = false;
    }

    /// Lets this session's instantiations register `end_block` hooks (genesis).
    pub fn allow_hooks(&mut self) {
        self.hooks_allowed = true;
    }

    pub fn fuel_used(&self) -> u64 {
        self.fuel_limit.saturating_sub(self.store.get_fuel().unwrap_or(0))
    }

    pub fn fuel_limit(&self) -> u64 {
        self.fuel_limit
    }

    /// Charges fuel for host work outside Wasm (compiling an upload, instantiating).
    pub fn charge(&mut self, price: u64) -> Outcome<()> {
        let fuel = self.store.get_fuel().unwrap_or(0);
        if fuel < price {
            let _ = self.store.set_fuel(0);
            return Err(ExecError::OutOfFuel { limit: self.fuel_limit }.into());
        }
        let _ = self.store.set_fuel(fuel - price);
        Ok(())
    }

    pub fn overlay(&mut self) -> &mut Overlay {
        &mut self.store.data_mut().overlay
    }

    fn parts(&self) -> (&Overlay, &dyn Backend) {
        let d = self.store.data();
        (&d.overlay, &*d.base)
    }

    pub fn set_read_only(&mut self, ro: bool) {
        self.store.data_mut().read_only = ro;
    }

    /// Starts an atomic unit (a tx's messages): writes and events after this can be rolled back together.
    pub fn begin(&mut self) -> usize {
        self.store.data_mut().overlay.push();
        self.store.data().events.len()
    }

    pub fn end(&mut self, mark: usize, ok: bool) {
        let d = self.store.data_mut();
        if ok {
            d.overlay.merge_top();
        } else {
            d.overlay.drop_top();
            d.truncate_events(mark);
        }
    }

    /// What the innermost open unit (see [`Session::begin`]) has written so far.
    pub fn pending_writes(&self) -> WriteSize {
        self.store.data().overlay.top_size()
    }

    /// Takes the events emitted so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.store.data_mut().take_events()
    }

    /// Ends the session, handing back the overlay with its writes.
    pub fn finish(self) -> Overlay {
        self.store.into_data().overlay
    }

    /// The compiled code for `code_id`, which must be stored in state (the cache may also hold code of uploads
    /// whose tx failed, so the cache alone does not prove it exists on chain).
    fn compiled(&mut self, code_id: &Hash) -> Outcome<Arc<Compiled>> {
        let (overlay, base) = self.parts();
        if !registry::code_exists(overlay, base, code_id)? {
            return Err(ExecError::UnknownCode(*code_id).into());
        }
        self.compiled_stored(code_id)
    }

    /// The compiled code of an instance: its code is on chain (code is never deleted), so no existence check.
    fn compiled_stored(&mut self, code_id: &Hash) -> Outcome<Arc<Compiled>> {
        let (overlay, base) = self.parts();
        let cache = self.store.data().cache.clone();
        let (c, _) = cache.get(code_id, || registry::read_code(overlay, base, code_id))?;
        Ok(c)
    }

    fn instance(&self, addr: &Address) -> Outcome<InstanceInfo> {
        let (overlay, base) = self.parts();
        registry::load_instance(overlay, base, addr)?
            .ok_or_else(|| ExecError::UnknownInstance(addr.to_hex()).into())
    }

    /// Runs one entry point in its own overlay layer: on failure its writes and events are dropped.
    fn run(
        &mut self,
        code: &Compiled,
        contract: Address,
        caller: Address,
        entry: &'static str,
        input: &[u8],
    ) -> Outcome<Vec<u8>> {
        self.charge(self.limits.prices.entry)?;
        if self.used {
            self.renew_store();
        }
        self.used = true;
        let mark = self.begin();
        let result =
            instance::run_entry(&mut self.store, code, contract, caller, entry, input, self.fuel_limit);
        if let Some(fatal) = self.store.data_mut().fatal.take() {
            self.end(mark, false);
            return Err(fatal.into());
        }
        self.end(mark, result.is_ok());
        Ok(result?)
    }

    /// `Message::Upload`: validates, stores and compiles code; returns its id.
    pub fn upload(&mut self, sender: &Address, code: &[u8], permission: &UploadPermission) -> Outcome<Hash> {
        match permission {
            UploadPermission::Anyone => {}
            UploadPermission::AllowList(list) if list.contains(sender) => {}
            UploadPermission::AllowList(_) => {
                return Err(ExecError::Unauthorized(format!(
                    "{} is not on the upload allow-list",
                    sender.to_hex()
                ))
                .into());
            }
            UploadPermission::Governance => {
                return Err(ExecError::Unauthorized(
                    "uploads are governed: code enters only through genesis or governance".into(),
                )
                .into());
            }
        }
        self.store_code(code)
    }

    /// Validates, stores and compiles code without a permission check (genesis).
    pub fn store_code(&mut self, code: &[u8]) -> Outcome<Hash> {
        if code.len() > self.limits.max_module_bytes {
            return Err(ExecError::from(crate::ValidationError::TooLarge {
                len: code.len(),
                max: self.limits.max_module_bytes,
            })
            .into());
        }
        self.charge((code.len() as u64).saturating_mul(self.limits.prices.upload_per_byte))?;
        let cache = self.store.data().cache.clone();
        match cache.admit(code, &self.limits) {
            Ok(_) => {}
            Err(Admission::Refused(e)) => return Err(ExecError::from(e).into()),
            Err(Admission::Local(h)) => return Err(h.into()),
        }
        let id = Hash::digest(code);
        let (overlay, base) = self.parts();
        if !registry::code_exists(overlay, base, &id)? {
            registry::write_code(self.overlay(), &id, code);
        }
        Ok(id)
    }

    /// `Message::Instantiate`: a new instance of `code_id` created by `creator`; returns its address.
    pub fn instantiate(
        &mut self,
        creator: &Address,
        code_id: &Hash,
        label: &str,
        admin: Option<Address>,
        msg: &[u8],
    ) -> Outcome<Address> {
        registry::check_label(label).map_err(ExecError::InvalidMessage)?;
        let code = self.compiled(code_id)?;
        let (overlay, base) = self.parts();
        if registry::get(overlay, base, &keys::label(label))?.is_some() {
            return Err(ExecError::InvalidMessage(format!("label {label:?} is taken")).into());
        }
        let counter: u64 =
            registry::get_typed(overlay, base, &keys::counter(creator), "counter")?.unwrap_or(0);
        let addr = Address::for_instance(code_id, creator, counter);
        if registry::load_instance(overlay, base, &addr)?.is_some() {
            return Err(ExecError::InvalidMessage(format!("instance {} exists", addr.to_hex())).into());
        }
        let info = InstanceInfo { code_id: *code_id, admin, label: label.to_string(), creator: *creator };
        let o = self.overlay();
        registry::put(o, keys::counter(creator), &counter.saturating_add(1));
        registry::put(o, keys::instance(&addr), &info);
        o.set(keys::label(label), Some(addr.0.to_vec()));
        if code.has_end_block && self.hooks_allowed {
            self.overlay().set(keys::end_block(&addr), Some(Vec::new()));
        }
        self.run(&code, addr, *creator, "instantiate", msg)?;
        Ok(addr)
    }

    /// `Message::Execute`.
    pub fn execute(&mut self, caller: &Address, contract: &Address, msg: &[u8]) -> Outcome<Vec<u8>> {
        let info = self.instance(contract)?;
        let code = self.compiled_stored(&info.code_id)?;
        self.run(&code, *contract, *caller, "execute", msg)
    }

    /// `Message::Migrate`: admin only; switches the instance to `code_id` and runs the new code's `migrate`.
    pub fn migrate(
        &mut self,
        sender: &Address,
        contract: &Address,
        code_id: &Hash,
        msg: &[u8],
    ) -> Outcome<Vec<u8>> {
        let mut info = self.instance(contract)?;
        match info.admin {
            Some(admin) if admin == *sender => {}
            Some(admin) => {
                return Err(ExecError::Unauthorized(format!(
                    "only the admin {} may migrate {}, not {}",
                    admin.to_hex(),
                    contract.to_hex(),
                    sender.to_hex()
                ))
                .into());
            }
            None => {
                return Err(ExecError::Unauthorized(format!(
                    "{} has no admin: it cannot migrate",
                    contract.to_hex()
                ))
                .into());
            }
        }
        let code = self.compiled(code_id)?;
        if !code.has_migrate {
            return Err(ExecError::MissingEntry("migrate").into());
        }
        // A migration keeps a hook the chain granted (if the new code still has `end_block`); it never adds one.
        let (overlay, base) = self.parts();
        let granted = registry::get(overlay, base, &keys::end_block(contract))?.is_some();
        info.code_id = *code_id;
        let o = self.overlay();
        registry::put(o, keys::instance(contract), &info);
        o.set(keys::end_block(contract), (granted && code.has_end_block).then(Vec::new));
        self.run(&code, *contract, *sender, "migrate", msg)
    }

    /// A read-only `query` (writes, events and calls are refused by the host).
    pub fn query(&mut self, contract: &Address, msg: &[u8]) -> Outcome<Vec<u8>> {
        self.set_read_only(true);
        let r = self.execute_entry(contract, "query", msg);
        self.set_read_only(false);
        r
    }

    /// Runs an arbitrary entry point (hooks) with the zero address as caller.
    pub fn execute_entry(&mut self, contract: &Address, entry: &'static str, msg: &[u8]) -> Outcome<Vec<u8>> {
        let code = self.code_exporting(contract, entry)?;
        self.run(&code, *contract, Address::default(), entry, msg)
    }

    /// Checks that `contract` is an instance whose code exports `entry` (a governance switch names a Sybil
    /// module: it must export `validator_set_updates`), without running it.
    pub fn check_exports(&mut self, contract: &Address, entry: &'static str) -> Outcome<()> {
        self.code_exporting(contract, entry).map(|_| ())
    }

    fn code_exporting(&mut self, contract: &Address, entry: &'static str) -> Outcome<Arc<Compiled>> {
        let info = self.instance(contract)?;
        let code = self.compiled_stored(&info.code_id)?;
        let has = match entry {
            "end_block" => code.has_end_block,
            "begin_block" => code.has_begin_block,
            "validator_set_updates" => code.has_validator_set_updates,
            "quota" => code.has_quota,
            "migrate" => code.has_migrate,
            _ => true,
        };
        if !has {
            return Err(ExecError::MissingEntry(entry).into());
        }
        Ok(code)
    }
}

/// Reads the module cache for a code id straight from a backend (CLI, benchmarks).
pub fn compiled_from_state(host: &Host, code_id: &Hash) -> HostResult<Arc<Compiled>> {
    let overlay = Overlay::default();
    host.cache.get(code_id, || registry::read_code(&overlay, &*host.base, code_id)).map(|(c, _)| c)
}
