//! Instances and their store: the per-tx [`HostState`] (the overlay of uncommitted writes, the call stack, the
//! events), the memory/table [`ResourceLimiter`], and running one entry point of one module.

use std::sync::Arc;

use cairn_abci::{Event, EventAttribute};
use cairn_primitives::Address;
use wasmtime::{AsContextMut, Caller, Global, Memory, ResourceLimiter, Trap, Val};

use crate::backend::{Backend, Next, Overlay};
use crate::cache::{Compiled, ModuleCache};
use crate::imports::{self, Env, MAX_CALL_DEPTH, MAX_EVENT_BYTES_PER_TX, MAX_EVENTS_PER_TX, MAX_OUTPUT};
use crate::prices::Prices;
use crate::registry::{self, InstanceInfo};
use crate::{ExecError, HostError, instrument};

/// Block-level facts every entry point sees through `env`.
#[derive(Clone, Debug)]
pub struct BlockEnv {
    pub chain_id: String,
    pub height: u64,
    pub time_ms: u64,
}

/// One module on the call stack.
pub(crate) struct Frame {
    contract: Address,
    caller: Address,
    memory: Option<Memory>,
    /// The instance's logical stack counter (see [`crate::instrument`]).
    depth: Option<Global>,
    output: Vec<u8>,
    abort: Option<String>,
}

/// Caps memory and table growth of every instance in a store.
pub struct Limiter {
    pub max_memory_bytes: usize,
    pub max_table_elements: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_memory_bytes)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }

    fn instances(&self) -> usize {
        MAX_CALL_DEPTH * 2
    }

    fn memories(&self) -> usize {
        MAX_CALL_DEPTH * 2
    }

    fn tables(&self) -> usize {
        MAX_CALL_DEPTH * 8
    }
}

/// The data of a wasmtime `Store`: everything a tx's host calls read and write.
pub struct HostState {
    pub(crate) cache: Arc<ModuleCache>,
    pub(crate) base: Arc<dyn Backend>,
    pub(crate) overlay: Overlay,
    pub(crate) block: BlockEnv,
    pub(crate) origin: Address,
    pub(crate) read_only: bool,
    pub(crate) frames: Vec<Frame>,
    pub(crate) events: Vec<Event>,
    /// Size of `events` (strings), kept in step with it.
    event_bytes: usize,
    /// The return buffer of the last host call that produced variable-length data.
    ret: Vec<u8>,
    /// A failure of the host itself (state backend): the block cannot go on.
    pub(crate) fatal: Option<HostError>,
    pub(crate) limiter: Limiter,
    pub(crate) metering: Metering,
}

/// The chain's metering rules a running store applies (genesis parameters, copied from the session's limits).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Metering {
    /// Host-call prices.
    pub(crate) prices: Prices,
    /// Logical stack units per chain of calls.
    pub(crate) stack_budget: u32,
}

impl HostState {
    pub(crate) fn new(
        cache: Arc<ModuleCache>,
        base: Arc<dyn Backend>,
        overlay: Overlay,
        block: BlockEnv,
        origin: Address,
        limiter: Limiter,
        metering: Metering,
    ) -> HostState {
        HostState {
            cache,
            base,
            overlay,
            block,
            origin,
            read_only: false,
            frames: Vec::new(),
            events: Vec::new(),
            event_bytes: 0,
            ret: Vec::new(),
            fatal: None,
            limiter,
            metering,
        }
    }

    pub(crate) fn set_return(&mut self, bytes: Vec<u8>) {
        self.ret = bytes;
    }

    pub(crate) fn take_return(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.ret)
    }

    pub(crate) fn current_contract(&self) -> wasmtime::Result<Address> {
        self.frames
            .last()
            .map(|f| f.contract)
            .ok_or_else(|| wasmtime::Error::msg("host call outside a module"))
    }

    fn fatal(&mut self, e: crate::BackendError) -> wasmtime::Error {
        let msg = format!("host failure: {e}");
        self.fatal = Some(HostError::Backend(e));
        wasmtime::Error::msg(msg)
    }

    pub(crate) fn state_get(&mut self, key: &[u8]) -> wasmtime::Result<Option<Vec<u8>>> {
        match self.overlay.get(&*self.base, key) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.fatal(e)),
        }
    }

    pub(crate) fn state_next(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        max_skips: u64,
    ) -> wasmtime::Result<Next> {
        match self.overlay.next_entry_bounded(&*self.base, start, end, max_skips) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.fatal(e)),
        }
    }

    pub(crate) fn push_event(
        &mut self,
        contract: Address,
        kind: String,
        attrs: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        if self.events.len() >= MAX_EVENTS_PER_TX {
            return Err(wasmtime::Error::msg(format!("more than {MAX_EVENTS_PER_TX} events in one tx")));
        }
        let size = event_size(&kind, attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if self.event_bytes + size > MAX_EVENT_BYTES_PER_TX {
            return Err(wasmtime::Error::msg(format!(
                "events of one tx exceed {MAX_EVENT_BYTES_PER_TX} bytes"
            )));
        }
        self.event_bytes += size;
        let mut attributes = Vec::with_capacity(attrs.len() + 1);
        attributes.push(EventAttribute { key: "_contract".into(), value: contract.to_hex() });
        attributes.extend(attrs.into_iter().map(|(key, value)| EventAttribute { key, value }));
        self.events.push(Event { kind, attributes });
        Ok(())
    }

    /// Drops the events after `mark` (a failed call or tx).
    pub(crate) fn truncate_events(&mut self, mark: usize) {
        self.events.truncate(mark);
        self.event_bytes = self
            .events
            .iter()
            .map(|e| event_size(&e.kind, e.attributes.iter().map(|a| (a.key.as_str(), a.value.as_str()))))
            .sum();
    }

    /// Moves the events out (the tx is done with them).
    pub(crate) fn take_events(&mut self) -> Vec<Event> {
        self.event_bytes = 0;
        std::mem::take(&mut self.events)
    }

    /// Moves events and their count from another state (a renewed store).
    pub(crate) fn adopt_events(&mut self, other: &mut HostState) {
        self.events = std::mem::take(&mut other.events);
        self.event_bytes = other.event_bytes;
    }

    pub(crate) fn env_bytes(&self) -> wasmtime::Result<Vec<u8>> {
        let frame = self.frames.last().ok_or_else(|| wasmtime::Error::msg("env outside a module"))?;
        let env = Env {
            chain_id: self.block.chain_id.clone(),
            height: self.block.height,
            time_ms: self.block.time_ms,
            contract: frame.contract.0,
            caller: frame.caller.0,
            origin: self.origin.0,
        };
        borsh::to_vec(&env).map_err(|e| wasmtime::Error::msg(e.to_string()))
    }

    pub(crate) fn set_output(&mut self, out: Vec<u8>) -> wasmtime::Result<()> {
        if out.len() > MAX_OUTPUT {
            return Err(wasmtime::Error::msg("output too large"));
        }
        match self.frames.last_mut() {
            Some(f) => {
                f.output = out;
                Ok(())
            }
            None => Err(wasmtime::Error::msg("set_output outside a module")),
        }
    }

    pub(crate) fn set_abort(&mut self, msg: String) {
        if let Some(f) = self.frames.last_mut() {
            f.abort = Some(msg);
        }
    }
}

/// What an event counts against [`MAX_EVENT_BYTES_PER_TX`] (its strings, without the host's `_contract`).
fn event_size<'a>(kind: &str, attrs: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    kind.len() + attrs.map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

/// The memory of the module that is running now (the top frame).
pub(crate) fn current_memory(caller: &Caller<'_, HostState>) -> wasmtime::Result<Memory> {
    caller
        .data()
        .frames
        .last()
        .and_then(|f| f.memory)
        .ok_or_else(|| wasmtime::Error::msg("no memory for the running module"))
}

/// cairn's own text for each trap: fixed, short, and independent of the wasmtime version (a module that calls
/// another sees it; logs carry it).
pub fn trap_text(trap: &Trap) -> &'static str {
    match trap {
        Trap::StackOverflow => "call stack exhausted",
        Trap::MemoryOutOfBounds => "out-of-bounds memory access",
        Trap::HeapMisaligned => "misaligned atomic access",
        Trap::TableOutOfBounds => "out-of-bounds table access",
        Trap::IndirectCallToNull => "indirect call to a null table entry",
        Trap::BadSignature => "indirect call signature mismatch",
        Trap::IntegerOverflow => "integer overflow",
        Trap::IntegerDivisionByZero => "integer division by zero",
        Trap::BadConversionToInteger => "invalid conversion to integer",
        Trap::UnreachableCodeReached => "unreachable executed",
        Trap::Interrupt => "interrupted",
        Trap::OutOfFuel => "out of fuel",
        _ => "trap",
    }
}

/// Turns a wasmtime error from a call into the tx-level reason.
fn classify(err: wasmtime::Error, abort: Option<String>, fuel_limit: u64) -> ExecError {
    if let Some(msg) = abort {
        return ExecError::Aborted(msg);
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => ExecError::OutOfFuel { limit: fuel_limit },
            Trap::StackOverflow => ExecError::Trap("call stack exhausted (recursion too deep)".into()),
            other => ExecError::Trap(trap_text(other).into()),
        };
    }
    // The root cause is the host's own message (a limit, a bad pointer); the outer layers wasmtime adds are a
    // backtrace with code offsets, which must not reach logs or callers.
    let msg = err.root_cause().to_string();
    ExecError::Trap(imports::truncate_utf8(msg.as_bytes(), imports::MAX_ABORT_MSG))
}

/// Runs `entry` of `code` as `contract`, called by `caller`, with `input`; returns the bytes it `set_output`.
///
/// Writes and events of a failed call are the caller's to drop (the overlay layer and event mark are managed by
/// the caller of this function). `Err(Ok(e))` is a module failure, `Err(Err(h))` a host failure.
pub(crate) fn run_entry(
    mut ctx: impl AsContextMut<Data = HostState>,
    code: &Compiled,
    contract: Address,
    caller: Address,
    entry: &'static str,
    input: &[u8],
    fuel_limit: u64,
) -> Result<Vec<u8>, ExecError> {
    let mut ctx = ctx.as_context_mut();
    let instance = match code.pre.instantiate(&mut ctx) {
        Ok(i) => i,
        // A trap while instantiating (a start function, an out-of-bounds segment) is the module's.
        Err(e) if e.downcast_ref::<Trap>().is_some() => return Err(classify(e, None, fuel_limit)),
        // Anything else is this node's resources: upload compiled the module against the pool's limits, so a
        // valid module fails here only when slots or address space run out.
        Err(e) => {
            let msg = format!("instantiating: {e:#}");
            ctx.data_mut().fatal = Some(HostError::Resource(msg.clone()));
            return Err(ExecError::Trap(msg));
        }
    };
    let memory = instance.get_memory(&mut ctx, "memory").ok_or(ExecError::MissingEntry("memory"))?;
    // The callee's stack counter starts where its caller's stands: one budget for the whole chain of calls. The
    // compiled check traps past the engine's budget, so the first entry starts the counter at the part of it the
    // chain does not grant: the compiled code stays the same whatever budget a chain sets.
    let depth = instance.get_global(&mut ctx, instrument::DEPTH_EXPORT);
    let inherited = match ctx.data().frames.last().and_then(|f| f.depth) {
        Some(g) => g.get(&mut ctx).i32().unwrap_or(0),
        None => instrument::STACK_BUDGET.saturating_sub(ctx.data().metering.stack_budget) as i32,
    };
    if let Some(g) = depth {
        g.set(&mut ctx, Val::I32(inherited)).map_err(|e| classify(e, None, fuel_limit))?;
    }
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut ctx, "cairn_alloc")
        .map_err(|_| ExecError::MissingEntry("cairn_alloc"))?;
    let func = instance
        .get_typed_func::<(i32, i32), i32>(&mut ctx, entry)
        .map_err(|_| ExecError::MissingEntry(entry))?;
    let len = i32::try_from(input.len()).map_err(|_| ExecError::InvalidMessage("input too large".into()))?;

    ctx.data_mut().frames.push(Frame {
        contract,
        caller,
        memory: Some(memory),
        depth,
        output: Vec::new(),
        abort: None,
    });
    let result = (|| {
        let ptr = alloc.call(&mut ctx, len)?;
        memory.write(&mut ctx, ptr as u32 as usize, input).map_err(|_| {
            wasmtime::Error::msg(format!("cairn_alloc({len}) returned {ptr:#x}, outside memory"))
        })?;
        func.call(&mut ctx, (ptr, len))
    })();
    let frame = ctx.data_mut().frames.pop();
    let (output, abort) = frame.map(|f| (f.output, f.abort)).unwrap_or_default();
    match result {
        Ok(0) => Ok(output),
        Ok(code) => Err(abort.map(ExecError::Aborted).unwrap_or(ExecError::ReturnCode(code))),
        Err(e) => {
            let used = depth.and_then(|g| g.get(&mut ctx).i32()).unwrap_or(0) as u32;
            if used > instrument::STACK_BUDGET {
                return Err(ExecError::Trap(format!(
                    "call stack exhausted (recursion too deep): over {} stack units",
                    ctx.data().metering.stack_budget
                )));
            }
            if matches!(e.downcast_ref::<Trap>(), Some(Trap::StackOverflow)) {
                // The deterministic bound should always trip first: if the native stack ran out instead, this
                // node's `max_wasm_stack` is too small, and a tx result here could differ between nodes.
                ctx.data_mut().fatal = Some(HostError::Resource(
                    "the native wasm stack ran out before the deterministic stack limit: raise max_wasm_stack"
                        .into(),
                ));
            }
            Err(classify(e, abort, fuel_limit))
        }
    }
}

/// The `call` import: runs `execute` of `target` with at most `budget` fuel. `Ok(Err(msg))` is a callee failure
/// reported to the caller; `Err` traps the caller (out of fuel, host failure).
pub(crate) fn nested_call(
    c: &mut Caller<'_, HostState>,
    target: Address,
    msg: Vec<u8>,
    budget: u64,
) -> wasmtime::Result<Result<Vec<u8>, String>> {
    let data = c.data();
    if data.read_only {
        return Ok(Err("calls are not allowed in a read-only query".into()));
    }
    if data.frames.len() >= MAX_CALL_DEPTH {
        return Ok(Err(format!("call depth limit of {MAX_CALL_DEPTH} reached")));
    }
    if data.frames.iter().any(|f| f.contract == target) {
        return Ok(Err(format!("reentrant call to {}", target.to_hex())));
    }
    let self_addr = data.current_contract()?;
    let info = match registry::load_instance_via(c.data_mut(), &target) {
        Ok(Some(info)) => info,
        Ok(None) => return Ok(Err(format!("no module instance at {}", target.to_hex()))),
        Err(e) => return Err(e),
    };
    let compiled = load_code_via(c.data_mut(), &info)?;
    // Fuel: the callee gets min(budget, what the caller has left); the caller is charged what the callee used.
    let available = c.get_fuel()?;
    let given = budget.min(available);
    c.set_fuel(given)?;
    c.data_mut().overlay.push();
    let event_mark = c.data().events.len();
    let result = run_entry(&mut *c, &compiled, target, self_addr, "execute", &msg, given);
    let left = c.get_fuel().unwrap_or(0);
    c.set_fuel(available.saturating_sub(given).saturating_add(left))?;
    if let Some(fatal) = &c.data().fatal {
        return Err(wasmtime::Error::msg(format!("host failure: {fatal}")));
    }
    match result {
        Ok(out) => {
            c.data_mut().overlay.merge_top();
            Ok(Ok(out))
        }
        Err(e) => {
            c.data_mut().overlay.drop_top();
            c.data_mut().truncate_events(event_mark);
            Ok(Err(imports::truncate_utf8(e.to_string().as_bytes(), imports::MAX_ABORT_MSG)))
        }
    }
}

fn load_code_via(state: &mut HostState, info: &InstanceInfo) -> wasmtime::Result<Arc<Compiled>> {
    let cache = state.cache.clone();
    let overlay = &state.overlay;
    let base = state.base.clone();
    match cache.get(&info.code_id, || registry::read_code(overlay, &*base, &info.code_id)) {
        Ok((c, _)) => Ok(c),
        Err(e) => {
            let msg = e.to_string();
            state.fatal = Some(e);
            Err(wasmtime::Error::msg(msg))
        }
    }
}
