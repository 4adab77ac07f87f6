//! The one seam between the SDK and whatever runs it: the real `cairn_v1` imports on wasm32, the thread-local
//! mock host everywhere else. Both expose the same safe functions, so storage, events and calls are written once.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::ffi::{
    abort, blake3, call, ed25519_verify, emit_event, env, set_output, storage_get, storage_next,
    storage_remove, storage_set,
};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::backend::{
    abort, blake3, call, ed25519_verify, emit_event, env, set_output, storage_get, storage_next,
    storage_remove, storage_set,
};
