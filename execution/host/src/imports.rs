//! The host API `cairn_v1` (docs/HOST_API.md): one function per import, each charging its fuel price *before* it
//! does any work, and the price list itself.
//!
//! Prices are in wasmtime fuel units (≈ one per Wasm instruction): a base price for the call plus a price per
//! byte moved between the module and the host. They are the chain's genesis parameters ([`Prices`]), read from
//! the running store, since changing them changes results.

use borsh::BorshSerialize;
use cairn_primitives::Address;
use wasmparser::ValType;
use wasmtime::{Caller, Linker, Trap};

use crate::backend::Next;
use crate::instance::{self, HostState};
use crate::keys;
use crate::prices::Prices;

/// Bounds on what a module may pass the host.
pub const MAX_KEY: usize = 256;
pub const MAX_VALUE: usize = 64 * 1024;
pub const MAX_EVENT_BYTES: usize = 8 * 1024;
pub const MAX_EVENTS_PER_TX: usize = 1_024;
/// Total size of one tx's events (kind and attribute strings); bounds FinalizeBlock responses.
pub const MAX_EVENT_BYTES_PER_TX: usize = 64 * 1024;
pub const MAX_OUTPUT: usize = 256 * 1024;
pub const MAX_CALL_MSG: usize = 256 * 1024;
pub const MAX_HASH_INPUT: usize = 1024 * 1024;
pub const MAX_ABORT_MSG: usize = 1024;
/// Deepest chain of `call`s (the tx's own entry point is depth 1).
pub const MAX_CALL_DEPTH: usize = 8;

/// Signature of one host function, for upload validation.
pub struct HostFn {
    pub name: &'static str,
    pub params: &'static [ValType],
    pub results: &'static [ValType],
}

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// Every import of `cairn_v1`, with its signature.
pub const HOST_FUNCTIONS: &[HostFn] = &[
    HostFn { name: "read_return", params: &[I32], results: &[] },
    HostFn { name: "storage_get", params: &[I32, I32], results: &[I64] },
    HostFn { name: "storage_set", params: &[I32, I32, I32, I32], results: &[] },
    HostFn { name: "storage_remove", params: &[I32, I32], results: &[] },
    HostFn { name: "storage_next", params: &[I32, I32, I32, I32], results: &[I64] },
    HostFn { name: "emit_event", params: &[I32, I32], results: &[] },
    HostFn { name: "env", params: &[], results: &[I64] },
    HostFn { name: "ed25519_verify", params: &[I32, I32, I32, I32], results: &[I32] },
    HostFn { name: "blake3", params: &[I32, I32, I32], results: &[] },
    HostFn { name: "call", params: &[I32, I32, I32, I64], results: &[I64] },
    HostFn { name: "set_output", params: &[I32, I32], results: &[] },
    HostFn { name: "abort", params: &[I32, I32], results: &[] },
];

type C<'a> = Caller<'a, HostState>;
type R<T> = wasmtime::Result<T>;

/// Takes `price` fuel from the running store, trapping with `OutOfFuel` if there is not enough.
pub(crate) fn charge(caller: &mut C<'_>, price: u64) -> R<()> {
    let fuel = caller.get_fuel()?;
    if fuel < price {
        caller.set_fuel(0)?;
        return Err(wasmtime::Error::new(Trap::OutOfFuel));
    }
    caller.set_fuel(fuel - price)
}

fn guest_err(msg: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::msg(msg.into())
}

/// Charges the price `of` picks from the chain's prices (as the running store holds them).
fn pay(caller: &mut C<'_>, of: impl FnOnce(&Prices) -> u64) -> R<()> {
    let price = of(&caller.data().metering.prices);
    charge(caller, price)
}

/// The price of `n` bytes moved between guest memory and the host.
fn moved(p: &Prices, n: usize) -> u64 {
    (n as u64).saturating_mul(p.per_byte)
}

/// Copies `len` bytes at `ptr` out of the running module's memory; `max` is checked before anything is copied.
fn read(caller: &mut C<'_>, ptr: i32, len: i32, max: usize, what: &str) -> R<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| guest_err(format!("{what}: negative length")))?;
    if len > max {
        return Err(guest_err(format!("{what}: {len} bytes, over the limit of {max}")));
    }
    let start = ptr as u32 as usize;
    let memory = instance::current_memory(caller)?;
    let data = memory.data(&*caller);
    data.get(start..start.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| guest_err(format!("{what}: range {start}+{len} is outside memory")))
}

fn write(caller: &mut C<'_>, ptr: i32, bytes: &[u8], what: &str) -> R<()> {
    let memory = instance::current_memory(caller)?;
    memory
        .write(&mut *caller, ptr as u32 as usize, bytes)
        .map_err(|_| guest_err(format!("{what}: destination {ptr:#x}+{} is outside memory", bytes.len())))
}

/// Puts `bytes` in the return buffer and returns its length.
fn set_return(caller: &mut C<'_>, bytes: Vec<u8>) -> i64 {
    let len = bytes.len() as i64;
    caller.data_mut().set_return(bytes);
    len
}

fn contract_key(caller: &C<'_>, key: &[u8]) -> R<Vec<u8>> {
    let contract = caller.data().current_contract()?;
    Ok(keys::module_key(&contract, key))
}

fn reject_read_only(caller: &C<'_>, what: &str) -> R<()> {
    if caller.data().read_only {
        return Err(guest_err(format!("{what} is not allowed in a read-only query")));
    }
    Ok(())
}

/// Adds every `cairn_v1` function to `linker`.
pub(crate) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("cairn_v1", "read_return", |mut c: C<'_>, dst: i32| -> R<()> {
        let buf = c.data_mut().take_return();
        pay(&mut c, |p| p.call_base + moved(p, buf.len()))?;
        let r = write(&mut c, dst, &buf, "read_return");
        c.data_mut().set_return(buf);
        r
    })?;

    linker.func_wrap("cairn_v1", "storage_get", |mut c: C<'_>, k: i32, kl: i32| -> R<i64> {
        pay(&mut c, |p| p.storage_read)?;
        let key = read(&mut c, k, kl, MAX_KEY, "storage_get key")?;
        pay(&mut c, |p| moved(p, key.len()))?;
        let full = contract_key(&c, &key)?;
        match c.data_mut().state_get(&full)? {
            Some(v) => {
                pay(&mut c, |p| moved(p, v.len()))?;
                Ok(set_return(&mut c, v))
            }
            None => Ok(-1),
        }
    })?;

    linker.func_wrap(
        "cairn_v1",
        "storage_set",
        |mut c: C<'_>, k: i32, kl: i32, v: i32, vl: i32| -> R<()> {
            reject_read_only(&c, "storage_set")?;
            pay(&mut c, |p| p.storage_write)?;
            let key = read(&mut c, k, kl, MAX_KEY, "storage_set key")?;
            let value = read(&mut c, v, vl, MAX_VALUE, "storage_set value")?;
            pay(&mut c, |p| ((key.len() + value.len()) as u64).saturating_mul(p.storage_write_per_byte))?;
            let full = contract_key(&c, &key)?;
            c.data_mut().overlay.set(full, Some(value));
            Ok(())
        },
    )?;

    linker.func_wrap("cairn_v1", "storage_remove", |mut c: C<'_>, k: i32, kl: i32| -> R<()> {
        reject_read_only(&c, "storage_remove")?;
        pay(&mut c, |p| p.storage_write)?;
        let key = read(&mut c, k, kl, MAX_KEY, "storage_remove key")?;
        pay(&mut c, |p| moved(p, key.len()))?;
        let full = contract_key(&c, &key)?;
        c.data_mut().overlay.set(full, None);
        Ok(())
    })?;

    linker.func_wrap(
        "cairn_v1",
        "storage_next",
        |mut c: C<'_>, s: i32, sl: i32, e: i32, el: i32| -> R<i64> {
            pay(&mut c, |p| p.storage_next)?;
            let start = read(&mut c, s, sl, MAX_KEY + 1, "storage_next start")?;
            let end = read(&mut c, e, el, MAX_KEY + 1, "storage_next end")?;
            let contract = c.data().current_contract()?;
            let prefix = keys::module_key(&contract, &[]);
            let full_start = keys::module_key(&contract, &start);
            let full_end = if end.is_empty() {
                keys::prefix_end(&prefix)
            } else {
                Some(keys::module_key(&contract, &end))
            };
            // Each deletion marker skipped costs a read; the seek stops where the fuel would run out.
            let max_skips = c.get_fuel()? / c.data().metering.prices.storage_next_skip;
            let found = match c.data_mut().state_next(&full_start, full_end.as_deref(), max_skips)? {
                Next::Found(found, skipped) => {
                    pay(&mut c, |p| skipped.saturating_mul(p.storage_next_skip))?;
                    found
                }
                Next::TooManySkips => {
                    c.set_fuel(0)?;
                    return Err(wasmtime::Error::new(Trap::OutOfFuel));
                }
            };
            match found {
                Some((k, v)) => {
                    let rel = k.get(prefix.len()..).unwrap_or_default().to_vec();
                    let encoded = borsh::to_vec(&(rel, v)).map_err(|e| guest_err(e.to_string()))?;
                    pay(&mut c, |p| moved(p, encoded.len()))?;
                    Ok(set_return(&mut c, encoded))
                }
                None => Ok(-1),
            }
        },
    )?;

    linker.func_wrap("cairn_v1", "emit_event", |mut c: C<'_>, p: i32, l: i32| -> R<()> {
        reject_read_only(&c, "emit_event")?;
        pay(&mut c, |p| p.event)?;
        let bytes = read(&mut c, p, l, MAX_EVENT_BYTES, "emit_event")?;
        pay(&mut c, |p| moved(p, bytes.len()))?;
        let (kind, attrs): (String, Vec<(String, String)>) =
            borsh::from_slice(&bytes).map_err(|e| guest_err(format!("emit_event: malformed event: {e}")))?;
        let contract = c.data().current_contract()?;
        c.data_mut().push_event(contract, kind, attrs)
    })?;

    linker.func_wrap("cairn_v1", "env", |mut c: C<'_>| -> R<i64> {
        pay(&mut c, |p| p.call_base)?;
        let env = c.data().env_bytes()?;
        pay(&mut c, |p| moved(p, env.len()))?;
        Ok(set_return(&mut c, env))
    })?;

    linker.func_wrap(
        "cairn_v1",
        "ed25519_verify",
        |mut c: C<'_>, pk: i32, m: i32, ml: i32, sig: i32| -> R<i32> {
            pay(&mut c, |p| p.ed25519)?;
            let pk = read(&mut c, pk, 32, 32, "ed25519_verify key")?;
            let msg = read(&mut c, m, ml, MAX_HASH_INPUT, "ed25519_verify message")?;
            pay(&mut c, |p| moved(p, msg.len()))?;
            let sig = read(&mut c, sig, 64, 64, "ed25519_verify signature")?;
            let ok = (|| {
                let pk: [u8; 32] = pk.try_into().ok()?;
                let sig: [u8; 64] = sig.try_into().ok()?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&pk).ok()?;
                key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig)).ok()
            })();
            Ok(i32::from(ok.is_some()))
        },
    )?;

    linker.func_wrap("cairn_v1", "blake3", |mut c: C<'_>, p: i32, l: i32, out: i32| -> R<()> {
        pay(&mut c, |p| p.blake3)?;
        let input = read(&mut c, p, l, MAX_HASH_INPUT, "blake3 input")?;
        pay(&mut c, |p| moved(p, input.len()))?;
        let digest = blake3::hash(&input);
        write(&mut c, out, digest.as_bytes(), "blake3 output")
    })?;

    linker.func_wrap("cairn_v1", "call", |mut c: C<'_>, a: i32, m: i32, ml: i32, fuel: i64| -> R<i64> {
        pay(&mut c, |p| p.module_call)?;
        let addr = read(&mut c, a, 32, 32, "call address")?;
        let msg = read(&mut c, m, ml, MAX_CALL_MSG, "call message")?;
        pay(&mut c, |p| moved(p, msg.len()))?;
        let mut target = [0u8; 32];
        target.copy_from_slice(&addr);
        let budget = u64::try_from(fuel).unwrap_or(0);
        match instance::nested_call(&mut c, Address(target), msg, budget)? {
            Ok(output) => {
                pay(&mut c, |p| moved(p, output.len()))?;
                Ok(set_return(&mut c, output))
            }
            Err(message) => {
                let bytes = message.into_bytes();
                let len = bytes.len() as i64;
                c.data_mut().set_return(bytes);
                Ok(-len - 1)
            }
        }
    })?;

    linker.func_wrap("cairn_v1", "set_output", |mut c: C<'_>, p: i32, l: i32| -> R<()> {
        pay(&mut c, |p| p.call_base)?;
        let out = read(&mut c, p, l, MAX_OUTPUT, "set_output")?;
        pay(&mut c, |p| moved(p, out.len()))?;
        c.data_mut().set_output(out)
    })?;

    linker.func_wrap("cairn_v1", "abort", |mut c: C<'_>, p: i32, l: i32| -> R<()> {
        pay(&mut c, |p| p.call_base)?;
        // Read at most the bound, so a huge length costs nothing and cannot fail the read.
        let len = l.clamp(0, MAX_ABORT_MSG as i32);
        let bytes = read(&mut c, p, len, MAX_ABORT_MSG, "abort message").unwrap_or_default();
        let msg = truncate_utf8(&bytes, MAX_ABORT_MSG);
        c.data_mut().set_abort(msg.clone());
        Err(guest_err(format!("aborted: {msg}")))
    })?;
    Ok(())
}

/// Decodes a message lossily and cuts it to at most `max` bytes on a character boundary.
pub fn truncate_utf8(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= max {
        return s.into_owned();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

/// What `env` returns (borsh), per docs/HOST_API.md.
#[derive(BorshSerialize, Clone, Debug)]
pub struct Env {
    pub chain_id: String,
    pub height: u64,
    pub time_ms: u64,
    pub contract: [u8; 32],
    pub caller: [u8; 32],
    pub origin: [u8; 32],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_char_boundaries() {
        let s = "é".repeat(1000); // 2000 bytes
        let t = truncate_utf8(s.as_bytes(), MAX_ABORT_MSG);
        assert!(t.len() <= MAX_ABORT_MSG && t.len() >= MAX_ABORT_MSG - 1);
        assert!(t.chars().all(|c| c == 'é'));
    }
}
