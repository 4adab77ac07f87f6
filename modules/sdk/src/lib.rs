#![doc = include_str!("../README.md")]
#![no_std]
// The only unsafe code is the FFI layer (`ffi.rs`, wasm32 only) and the exports the entry-point macro generates;
// each block carries a SAFETY comment. Everything a module author touches is safe.
#![allow(unsafe_code)]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod arena;
mod crypto;
mod entry;
mod env;
mod error;
mod event;
mod host;
mod storage;

#[cfg(target_arch = "wasm32")]
mod ffi;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use borsh;
pub use crypto::{blake3, ed25519_verify};
pub use entry::{Raw, call, call_typed};
pub use env::{Address, Env, env, hex};
pub use error::Error;
pub use event::Event;
pub use storage::{FixedKey, Item, Key, Map};

/// Fail the current entry point with `message`: every write and event of the call is discarded and `message`
/// becomes the tx log. Never returns.
pub fn abort(message: &str) -> ! {
    host::abort(message)
}

/// Plumbing for the [`entry_points!`] macro; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::entry::{dispatch, dispatch_no_input};
    #[cfg(target_arch = "wasm32")]
    pub use crate::ffi::{alloc_input, run, run_no_input};
    pub use alloc::format;
}
