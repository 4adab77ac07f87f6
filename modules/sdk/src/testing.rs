//! A native mock of the `cairn_v1` host, so module logic is unit-tested with plain `cargo test`, no Wasm build.
//!
//! [`MockHost`] installs a per-thread host that the SDK's storage, events, env, crypto and calls talk to. It
//! mirrors the real host's rules: a failed call (an `Err`, an `abort`, or a panic) discards its writes and events;
//! a query may not write or emit; storage keys and values have the host's size limits; cross-module calls see the
//! calling module as `caller`, are limited in depth and may not re-enter a module already on the stack.
//!
//! ```
//! use cairn_sdk::testing::{MockHost, addr};
//! use cairn_sdk::{Env, Error, Item};
//!
//! const COUNT: Item<u64> = Item::new(b"count");
//! fn execute(_env: &Env, by: u64) -> Result<u64, Error> {
//!     let n = COUNT.may_load()?.unwrap_or(0) + by;
//!     COUNT.save(&n)?;
//!     Ok(n)
//! }
//!
//! let host = MockHost::new();
//! host.set_caller(addr(1));
//! let n: u64 = host.execute_as(execute, &5u64).unwrap();
//! assert_eq!(n, 5);
//! ```

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::format;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::string::{String, ToString};
use std::sync::Once;
use std::vec::Vec;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::entry::{dispatch, dispatch_no_input};
use crate::env::{Address, Env, hex};
use crate::event::Event;

/// The host's limits (docs/HOST_API.md), enforced here too so a module fails in tests where it would on chain.
pub const MAX_KEY_LEN: usize = 256;
/// See [`MAX_KEY_LEN`].
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Maximum cross-module call depth.
pub const MAX_CALL_DEPTH: usize = 8;

/// A 32-byte address filled with `n`: a readable way to name accounts in tests.
pub fn addr(n: u8) -> Address {
    [n; 32]
}

/// A registered module's `execute`, as the mock host calls it: raw message in, raw output or error out.
type Handler = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, String>>;

struct State {
    env: Env,
    storage: BTreeMap<Address, BTreeMap<Vec<u8>, Vec<u8>>>,
    events: Vec<(Address, Event)>,
    output: Option<Vec<u8>>,
    read_only: bool,
    /// `None` while the module is running (taken out so it can use the host), which is also how re-entry is seen.
    modules: BTreeMap<Address, Option<Handler>>,
    stack: Vec<Address>,
    stats: HostStats,
}

/// How many storage host calls the module code made and how many bytes they moved, so a test can estimate what
/// a message costs on chain (multiply by the host's price list, `execution/host/src/imports.rs`). Wasm
/// instructions are not counted natively.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// `storage_get` calls.
    pub reads: u64,
    /// `storage_set` and `storage_remove` calls.
    pub writes: u64,
    /// `storage_next` calls.
    pub nexts: u64,
    /// Bytes of keys and values passed to or returned by storage calls.
    pub bytes_moved: u64,
    /// Bytes of keys and values written by `storage_set`.
    pub bytes_written: u64,
    /// `emit_event` calls.
    pub events: u64,
}

std::thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|cell| {
        let mut guard = cell.borrow_mut();
        match guard.as_mut() {
            Some(state) => f(state),
            None => panic!(
                "no MockHost is active on this thread: create one with cairn_sdk::testing::MockHost::new() before \
                 calling module code natively"
            ),
        }
    })
}

/// The panic payload of [`crate::abort`] on the mock host.
struct Abort(String);

fn quiet_aborts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // An abort is a module's normal way to fail; only real panics deserve a backtrace on stderr.
            if info.payload().downcast_ref::<Abort>().is_none() {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(Abort(message)) = payload.downcast_ref::<Abort>() {
        message.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        format!("module panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("module panicked: {s}")
    } else {
        "module panicked".to_string()
    }
}

/// Run `body` as one host call: on failure, restore storage and events as they were before it.
fn transaction(body: impl FnOnce() -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
    let (storage, events) = with(|s| (s.storage.clone(), s.events.len()));
    let result = match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(panic_message(payload)),
    };
    if result.is_err() {
        with(|s| {
            s.storage = storage;
            s.events.truncate(events);
        });
    }
    result
}

/// The mock host: create one per test (it is per thread; dropping it uninstalls it).
pub struct MockHost {
    // Tied to the thread whose thread-local it installed.
    _not_send: PhantomData<*const ()>,
}

impl Default for MockHost {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for MockHost {
    fn drop(&mut self) {
        STATE.with(|cell| cell.borrow_mut().take());
    }
}

impl MockHost {
    /// A fresh host: empty storage, chain `"test-chain"`, height 1, time 0, module address `addr(0xc0)`, caller
    /// and origin `addr(0)`.
    ///
    /// # Panics
    /// If another `MockHost` is alive on this thread (two would share one thread-local state).
    pub fn new() -> Self {
        quiet_aborts();
        STATE.with(|cell| {
            let mut guard = cell.borrow_mut();
            assert!(guard.is_none(), "a MockHost is already active on this thread");
            *guard = Some(State {
                env: Env {
                    chain_id: "test-chain".to_string(),
                    height: 1,
                    time_ms: 0,
                    contract: addr(0xc0),
                    caller: addr(0),
                    origin: addr(0),
                },
                storage: BTreeMap::new(),
                events: Vec::new(),
                output: None,
                read_only: false,
                modules: BTreeMap::new(),
                stack: Vec::new(),
                stats: HostStats::default(),
            });
        });
        Self { _not_send: PhantomData }
    }

    /// The env the next call will see.
    pub fn env(&self) -> Env {
        with(|s| s.env.clone())
    }

    /// Replace the whole env.
    pub fn set_env(&self, env: Env) {
        with(|s| s.env = env);
    }

    /// Make `caller` the tx sender (both `caller` and `origin`).
    pub fn set_caller(&self, caller: Address) {
        with(|s| {
            s.env.caller = caller;
            s.env.origin = caller;
        });
    }

    /// Set the block height.
    pub fn set_height(&self, height: u64) {
        with(|s| s.env.height = height);
    }

    /// Advance the block height by `blocks` (and the time by one second per block).
    pub fn advance_blocks(&self, blocks: u64) {
        with(|s| {
            s.env.height += blocks;
            s.env.time_ms += blocks * 1000;
        });
    }

    /// Set the block time.
    pub fn set_time_ms(&self, time_ms: u64) {
        with(|s| s.env.time_ms = time_ms);
    }

    /// Set the address of the module under test (whose storage calls read and write).
    pub fn set_contract(&self, contract: Address) {
        with(|s| s.env.contract = contract);
    }

    fn run(&self, read_only: bool, body: impl FnOnce() -> i32) -> Result<Vec<u8>, String> {
        with(|s| {
            s.output = None;
            s.read_only = read_only;
            s.stack = std::vec![s.env.contract];
        });
        let result = transaction(|| {
            let status = body();
            if status == 0 {
                Ok(with(|s| s.output.take().unwrap_or_default()))
            } else {
                Err(format!("status {status}"))
            }
        });
        with(|s| {
            s.read_only = false;
            s.stack.clear();
        });
        result
    }

    /// Run an `instantiate` function with `msg` (borsh-encoded and decoded exactly as on chain). Returns the raw
    /// output, or the abort message (with all writes and events of the call discarded).
    pub fn instantiate<M, T, E, F>(&self, f: F, msg: &M) -> Result<Vec<u8>, String>
    where
        M: BorshSerialize + BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        let input = encode(msg);
        self.run(false, || dispatch(&input, "instantiate", f))
    }

    /// Run an `execute` function; see [`MockHost::instantiate`].
    pub fn execute<M, T, E, F>(&self, f: F, msg: &M) -> Result<Vec<u8>, String>
    where
        M: BorshSerialize + BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        let input = encode(msg);
        self.run(false, || dispatch(&input, "execute", f))
    }

    /// Run an `execute` with raw input bytes (to test how a module treats malformed messages).
    pub fn execute_raw<M, T, E, F>(&self, f: F, input: &[u8]) -> Result<Vec<u8>, String>
    where
        M: BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        self.run(false, || dispatch(input, "execute", f))
    }

    /// Run an `execute` and decode its output as `R`.
    pub fn execute_as<R, M, T, E, F>(&self, f: F, msg: &M) -> Result<R, String>
    where
        R: BorshDeserialize,
        M: BorshSerialize + BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        self.execute(f, msg).map(|out| decode(&out))
    }

    /// Run a `query` function: read-only, so a write or an event aborts it, as on chain.
    pub fn query<M, T, E, F>(&self, f: F, msg: &M) -> Result<Vec<u8>, String>
    where
        M: BorshSerialize + BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        let input = encode(msg);
        self.run(true, || dispatch(&input, "query", f))
    }

    /// Run a `query` and decode its output as `R`.
    pub fn query_as<R, M, T, E, F>(&self, f: F, msg: &M) -> Result<R, String>
    where
        R: BorshDeserialize,
        M: BorshSerialize + BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        self.query(f, msg).map(|out| decode(&out))
    }

    /// Run a `migrate` function; see [`MockHost::instantiate`].
    pub fn migrate<M, T, E, F>(&self, f: F, msg: &M) -> Result<Vec<u8>, String>
    where
        M: BorshSerialize + BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, M) -> Result<T, E>,
    {
        let input = encode(msg);
        self.run(false, || dispatch(&input, "migrate", f))
    }

    /// Run an `end_block` hook for the current height.
    pub fn end_block<T, E, F>(&self, f: F) -> Result<Vec<u8>, String>
    where
        T: BorshSerialize,
        E: core::fmt::Display,
        F: FnOnce(&Env, u64) -> Result<T, E>,
    {
        let input = encode(&self.env().height);
        self.run(false, || dispatch(&input, "end_block", f))
    }

    /// Run a `validator_set_updates` hook and decode its `Vec<(public key, power)>`.
    pub fn validator_set_updates<E, F>(&self, f: F) -> Result<Vec<(Address, u64)>, String>
    where
        E: core::fmt::Display,
        F: FnOnce(&Env) -> Result<Vec<(Address, u64)>, E>,
    {
        self.run(false, || dispatch_no_input(f)).map(|out| decode(&out))
    }

    /// Register a module at `address` whose `execute` is `f`, for the module under test to [`crate::call`]. It
    /// runs with its own storage and sees the calling module as `caller`.
    pub fn register_module<M, T, E, F>(&self, address: Address, f: F)
    where
        M: BorshDeserialize,
        T: BorshSerialize,
        E: core::fmt::Display,
        F: Fn(&Env, M) -> Result<T, E> + 'static,
    {
        let handler: Handler = Box::new(move |input| {
            dispatch(input, "execute", &f);
            Ok(with(|s| s.output.take().unwrap_or_default()))
        });
        with(|s| s.modules.insert(address, Some(handler)));
    }

    /// Register a closure as the module at `address`: it gets the raw message and returns the raw output or an
    /// error message, like a module's `execute` would.
    pub fn register_handler(
        &self,
        address: Address,
        f: impl FnMut(&[u8]) -> Result<Vec<u8>, String> + 'static,
    ) {
        with(|s| s.modules.insert(address, Some(Box::new(f))));
    }

    /// Storage host calls made since this host was created or [`MockHost::reset_stats`] was last called
    /// (failed calls included: on chain they are paid for too).
    pub fn stats(&self) -> HostStats {
        with(|s| s.stats)
    }

    /// Reset [`MockHost::stats`] to zero.
    pub fn reset_stats(&self) {
        with(|s| s.stats = HostStats::default());
    }

    /// Events emitted so far by successful calls, with the emitting module's address.
    pub fn events(&self) -> Vec<(Address, Event)> {
        with(|s| s.events.clone())
    }

    /// Take and clear the events emitted so far (by any module).
    pub fn take_events(&self) -> Vec<Event> {
        with(|s| s.events.drain(..).map(|(_, e)| e).collect())
    }

    /// The raw storage of the module at `address`.
    pub fn storage(&self, address: &Address) -> BTreeMap<Vec<u8>, Vec<u8>> {
        with(|s| s.storage.get(address).cloned().unwrap_or_default())
    }

    /// A raw value of the module under test.
    pub fn raw_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        with(|s| s.storage.get(&s.env.contract).and_then(|m| m.get(key).cloned()))
    }

    /// Write a raw value of the module under test (to seed state or simulate corruption).
    pub fn raw_set(&self, key: &[u8], value: &[u8]) {
        with(|s| {
            let contract = s.env.contract;
            s.storage.entry(contract).or_default().insert(key.to_vec(), value.to_vec());
        });
    }
}

fn encode<M: BorshSerialize>(msg: &M) -> Vec<u8> {
    match borsh::to_vec(msg) {
        Ok(bytes) => bytes,
        Err(e) => panic!("test message does not borsh-encode: {e}"),
    }
}

fn decode<R: BorshDeserialize>(bytes: &[u8]) -> R {
    match R::try_from_slice(bytes) {
        Ok(r) => r,
        Err(e) => panic!("module output ({} bytes) does not decode as the expected type: {e}", bytes.len()),
    }
}

/// The mock implementations of the host calls (what `crate::host` resolves to off wasm32).
pub(crate) mod backend {
    use super::*;

    pub(crate) fn abort(message: &str) -> ! {
        panic::panic_any(Abort(message.to_string()))
    }

    fn check_writable(what: &str) {
        if with(|s| s.read_only) {
            abort(&format!("{what} is not allowed in a query (queries are read-only)"));
        }
    }

    fn check_key(key: &[u8]) {
        if key.len() > MAX_KEY_LEN {
            abort(&format!("storage key of {} bytes exceeds the {MAX_KEY_LEN}-byte limit", key.len()));
        }
    }

    pub(crate) fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        check_key(key);
        with(|s| {
            let value = s.storage.get(&s.env.contract).and_then(|m| m.get(key).cloned());
            s.stats.reads += 1;
            s.stats.bytes_moved += (key.len() + value.as_ref().map_or(0, Vec::len)) as u64;
            value
        })
    }

    pub(crate) fn storage_set(key: &[u8], value: &[u8]) {
        check_writable("storage_set");
        check_key(key);
        if value.len() > MAX_VALUE_LEN {
            abort(&format!("storage value of {} bytes exceeds the {MAX_VALUE_LEN}-byte limit", value.len()));
        }
        with(|s| {
            s.stats.writes += 1;
            s.stats.bytes_moved += (key.len() + value.len()) as u64;
            s.stats.bytes_written += (key.len() + value.len()) as u64;
            let contract = s.env.contract;
            s.storage.entry(contract).or_default().insert(key.to_vec(), value.to_vec());
        });
    }

    pub(crate) fn storage_remove(key: &[u8]) {
        check_writable("storage_remove");
        check_key(key);
        with(|s| {
            s.stats.writes += 1;
            s.stats.bytes_moved += key.len() as u64;
            if let Some(m) = s.storage.get_mut(&s.env.contract) {
                m.remove(key);
            }
        });
    }

    pub(crate) fn storage_next(start: &[u8], end: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        use std::ops::Bound;
        check_key(start);
        check_key(end);
        with(|s| {
            s.stats.nexts += 1;
            s.stats.bytes_moved += (start.len() + end.len()) as u64;
            let map = s.storage.get(&s.env.contract)?;
            let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end.to_vec()) };
            if !end.is_empty() && start >= end {
                return None;
            }
            let found = map
                .range((Bound::Included(start.to_vec()), upper))
                .next()
                .map(|(k, v)| (k.clone(), v.clone()));
            if let Some((k, v)) = &found {
                s.stats.bytes_moved += (k.len() + v.len()) as u64;
            }
            found
        })
    }

    pub(crate) fn emit_event(event: &Event) {
        check_writable("emit_event");
        with(|s| {
            s.stats.events += 1;
            let contract = s.env.contract;
            s.events.push((contract, event.clone()));
        });
    }

    pub(crate) fn env() -> Env {
        with(|s| s.env.clone())
    }

    pub(crate) fn ed25519_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        use ed25519_dalek::Verifier;
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
            return false;
        };
        key.verify(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
    }

    pub(crate) fn blake3(data: &[u8]) -> [u8; 32] {
        *::blake3::hash(data).as_bytes()
    }

    pub(crate) fn set_output(bytes: &[u8]) {
        with(|s| s.output = Some(bytes.to_vec()));
    }

    pub(crate) fn call(address: &Address, message: &[u8], _fuel: u64) -> Result<Vec<u8>, String> {
        // Fuel is not metered natively; depth, re-entry and rollback are.
        let prepared = with(|s| {
            if s.stack.len() >= MAX_CALL_DEPTH {
                return Err(format!("call depth limit of {MAX_CALL_DEPTH} reached"));
            }
            if s.stack.contains(address) {
                return Err(format!("reentrant call to {}", hex(address)));
            }
            let handler = match s.modules.get_mut(address) {
                Some(slot) => slot.take(),
                None => return Err(format!("no module at {}", hex(address))),
            };
            let Some(handler) = handler else {
                return Err(format!("reentrant call to {}", hex(address)));
            };
            let saved = (s.env.clone(), s.output.take());
            s.env.caller = s.env.contract;
            s.env.contract = *address;
            s.stack.push(*address);
            Ok((handler, saved))
        });
        let (mut handler, (env, output)) = prepared?;
        let result = transaction(|| handler(message));
        with(|s| {
            s.env = env;
            s.output = output;
            s.stack.pop();
            s.modules.insert(*address, Some(handler));
        });
        result
    }
}
