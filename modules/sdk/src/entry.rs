//! Entry-point glue: decode the input, fetch the env, run the module's function, encode its result or abort with
//! its error. The [`entry_points!`](crate::entry_points) macro wires the Wasm exports to it; the mock host calls it
//! directly, so native tests exercise the same decoding and error paths as the Wasm build.

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt::Display;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::env::{Address, Env, hex};
use crate::error::Error;
use crate::host;

/// Run an entry point whose input is a borsh `M`: the result `T` becomes the call's output, an `Err` aborts the
/// call with its message. `what` names the entry point in decoding errors. Returns the export's status (0).
pub fn dispatch<M, T, E, F>(input: &[u8], what: &str, f: F) -> i32
where
    M: BorshDeserialize,
    T: BorshSerialize,
    E: Display,
    F: FnOnce(&Env, M) -> Result<T, E>,
{
    let msg = match M::try_from_slice(input) {
        Ok(msg) => msg,
        Err(e) => host::abort(&format!("invalid {what} message ({} bytes): {e}", input.len())),
    };
    let env = host::env();
    finish(f(&env, msg))
}

/// Run an entry point that takes no input (`validator_set_updates`).
pub fn dispatch_no_input<T, E, F>(f: F) -> i32
where
    T: BorshSerialize,
    E: Display,
    F: FnOnce(&Env) -> Result<T, E>,
{
    let env = host::env();
    finish(f(&env))
}

fn finish<T: BorshSerialize, E: Display>(result: Result<T, E>) -> i32 {
    match result {
        Ok(out) => {
            match borsh::to_vec(&out) {
                Ok(bytes) if !bytes.is_empty() => host::set_output(&bytes),
                Ok(_) => {}
                Err(e) => host::abort(&format!("could not encode the result: {e}")),
            }
            0
        }
        Err(e) => host::abort(&e.to_string()),
    }
}

/// Call the `execute` entry point of the module at `address` with raw `message` bytes, giving it at most `fuel`
/// (taken from this call's remaining fuel). On success returns the callee's output. On failure the callee's
/// writes and events are already discarded and this call goes on: the error says which module failed and why.
pub fn call(address: &Address, message: &[u8], fuel: u64) -> Result<Vec<u8>, Error> {
    host::call(address, message, fuel)
        .map_err(|e| Error::new(format!("call to {} failed: {e}", hex(address))))
}

/// [`call`] with a borsh-encoded message and a borsh-decoded result.
pub fn call_typed<M: BorshSerialize, R: BorshDeserialize>(
    address: &Address,
    message: &M,
    fuel: u64,
) -> Result<R, Error> {
    let bytes =
        borsh::to_vec(message).map_err(|e| Error::new(format!("could not encode the call message: {e}")))?;
    let out = call(address, &bytes, fuel)?;
    R::try_from_slice(&out)
        .map_err(|e| Error::new(format!("call to {} returned an undecodable result: {e}", hex(address))))
}

/// Turn plain Rust functions into a module's Wasm exports (docs/HOST_API.md).
///
/// ```ignore
/// cairn_sdk::entry_points! {
///     instantiate: instantiate,   // fn(&Env, InitMsg) -> Result<impl BorshSerialize, impl Display>
///     execute: execute,           // fn(&Env, ExecuteMsg) -> Result<..>
///     query: query,               // fn(&Env, QueryMsg) -> Result<..>
///     // optional, in any order:
///     migrate: migrate,           // fn(&Env, MigrateMsg) -> Result<..>
///     end_block: end_block,       // fn(&Env, u64 /* height */) -> Result<..>
///     begin_block: begin_block,   // Sybil modules: fn(&Env, BeginBlockInfo) -> Result<..> (docs/HOST_API.md)
///     validator_set_updates: updates, // fn(&Env) -> Result<Vec<([u8; 32], u64)>, ..>
///     quota: quota,               // fn(&Env, [u8; 32] /* account */) -> Result<(u64, u64), ..> (fuel, bytes)
/// }
/// ```
///
/// Inputs are borsh-decoded (a malformed input aborts with a message naming the entry point); an `Ok` value is
/// borsh-encoded as the call's output; an `Err` aborts the call with its `Display` text. On wasm32 this also
/// exports `cairn_alloc`. On other targets it exports nothing — a module crate can be a plain dependency of the
/// node or the CLI — but still type-checks every function against its entry point.
#[macro_export]
macro_rules! entry_points {
    (
        instantiate: $init:path,
        execute: $exec:path,
        query: $query:path
        $(, $hook:ident : $f:path)* $(,)?
    ) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(unsafe_code)]
            #[unsafe(export_name = "cairn_alloc")]
            extern "C" fn __cairn_alloc(len: i32) -> i32 {
                $crate::__private::alloc_input(len)
            }
        };
        $crate::__entry_point!(instantiate, $init);
        $crate::__entry_point!(execute, $exec);
        $crate::__entry_point!(query, $query);
        $( $crate::__entry_point!($hook, $f); )*
    };
}

/// One export of [`entry_points!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __entry_point {
    (validator_set_updates, $f:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(unsafe_code)]
            #[unsafe(export_name = "validator_set_updates")]
            extern "C" fn __cairn_validator_set_updates(_ptr: i32, _len: i32) -> i32 {
                $crate::__private::run_no_input($f)
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> i32 = || $crate::__private::dispatch_no_input($f);
    };
    (instantiate, $f:path) => { $crate::__entry_point!(@with_input "instantiate", __cairn_instantiate, $f); };
    (execute, $f:path) => { $crate::__entry_point!(@with_input "execute", __cairn_execute, $f); };
    (query, $f:path) => { $crate::__entry_point!(@with_input "query", __cairn_query, $f); };
    (migrate, $f:path) => { $crate::__entry_point!(@with_input "migrate", __cairn_migrate, $f); };
    (end_block, $f:path) => { $crate::__entry_point!(@with_input "end_block", __cairn_end_block, $f); };
    (quota, $f:path) => { $crate::__entry_point!(@with_input "quota", __cairn_quota, $f); };
    (begin_block, $f:path) => { $crate::__entry_point!(@with_input "begin_block", __cairn_begin_block, $f); };
    (@with_input $name:literal, $export:ident, $f:path) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            #[allow(unsafe_code)]
            #[unsafe(export_name = $name)]
            extern "C" fn $export(ptr: i32, len: i32) -> i32 {
                $crate::__private::run(ptr, len, $name, $f)
            }
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn(&[u8]) -> i32 = |input| $crate::__private::dispatch(input, $name, $f);
    };
    ($other:ident, $f:path) => {
        compile_error!(concat!(
            "unknown entry point `",
            stringify!($other),
            "`: the optional ones are migrate, begin_block, end_block, validator_set_updates and quota"
        ));
    };
}

/// Output bytes passed through as they are (no borsh length prefix): for entry points whose answer type depends
/// on the message, e.g. a query enum whose variants return different types.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// The borsh encoding of `value`, to be returned as is.
    pub fn encode<T: BorshSerialize>(value: &T) -> Result<Self, Error> {
        borsh::to_vec(value).map(Raw).map_err(|e| Error::new(format!("could not encode the answer: {e}")))
    }
}

impl BorshSerialize for Raw {
    fn serialize<W: borsh::io::Write>(&self, writer: &mut W) -> borsh::io::Result<()> {
        writer.write_all(&self.0)
    }
}
