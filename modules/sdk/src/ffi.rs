//! The `cairn_v1` imports (docs/HOST_API.md), safe wrappers around them, the guest allocator and the panic
//! handler. Compiled for wasm32 only.

use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

use borsh::BorshDeserialize;

use crate::env::{Address, Env};
use crate::event::Event;

#[link(wasm_import_module = "cairn_v1")]
unsafe extern "C" {
    #[link_name = "read_return"]
    fn raw_read_return(dst: i32);
    #[link_name = "storage_get"]
    fn raw_storage_get(key: i32, key_len: i32) -> i64;
    #[link_name = "storage_set"]
    fn raw_storage_set(key: i32, key_len: i32, val: i32, val_len: i32);
    #[link_name = "storage_remove"]
    fn raw_storage_remove(key: i32, key_len: i32);
    #[link_name = "storage_next"]
    fn raw_storage_next(start: i32, start_len: i32, end: i32, end_len: i32) -> i64;
    #[link_name = "emit_event"]
    fn raw_emit_event(ptr: i32, len: i32);
    #[link_name = "env"]
    fn raw_env() -> i64;
    #[link_name = "ed25519_verify"]
    fn raw_ed25519_verify(pk: i32, msg: i32, msg_len: i32, sig: i32) -> i32;
    #[link_name = "blake3"]
    fn raw_blake3(ptr: i32, len: i32, out: i32);
    #[link_name = "call"]
    fn raw_call(addr: i32, msg: i32, msg_len: i32, fuel: i64) -> i64;
    #[link_name = "set_output"]
    fn raw_set_output(ptr: i32, len: i32);
    #[link_name = "abort"]
    fn raw_abort(ptr: i32, len: i32) -> !;
}

// wasm32 pointers and lengths are 32 bits, so these casts are exact.
fn p(bytes: &[u8]) -> i32 {
    bytes.as_ptr() as i32
}
fn l(bytes: &[u8]) -> i32 {
    bytes.len() as i32
}

/// Copy `len` bytes out of the host's return buffer.
fn read_return(len: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(len);
    // SAFETY: the host writes exactly the `len` bytes of its return buffer (whose length it just reported) to
    // `dst`, which points at `len` bytes of capacity we own; only then are they marked initialised.
    unsafe {
        raw_read_return(buf.as_mut_ptr() as i32);
        buf.set_len(len);
    }
    buf
}

pub(crate) fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: the pointer/length pair describes a live slice; the host only reads it.
    let n = unsafe { raw_storage_get(p(key), l(key)) };
    (n >= 0).then(|| read_return(n as usize))
}

pub(crate) fn storage_set(key: &[u8], value: &[u8]) {
    // SAFETY: both pointer/length pairs describe live slices; the host only reads them.
    unsafe { raw_storage_set(p(key), l(key), p(value), l(value)) }
}

pub(crate) fn storage_remove(key: &[u8]) {
    // SAFETY: the pointer/length pair describes a live slice; the host only reads it.
    unsafe { raw_storage_remove(p(key), l(key)) }
}

pub(crate) fn storage_next(start: &[u8], end: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    // SAFETY: both pointer/length pairs describe live slices; the host only reads them.
    let n = unsafe { raw_storage_next(p(start), l(start), p(end), l(end)) };
    if n < 0 {
        return None;
    }
    let bytes = read_return(n as usize);
    match <(Vec<u8>, Vec<u8>)>::try_from_slice(&bytes) {
        Ok(entry) => Some(entry),
        Err(_) => abort("host returned a malformed storage_next entry"),
    }
}

pub(crate) fn emit_event(event: &Event) {
    let bytes = match borsh::to_vec(event) {
        Ok(bytes) => bytes,
        Err(_) => abort("could not encode event"),
    };
    // SAFETY: the pointer/length pair describes a live slice; the host only reads it.
    unsafe { raw_emit_event(p(&bytes), l(&bytes)) }
}

pub(crate) fn env() -> Env {
    // SAFETY: no arguments; the host fills its return buffer.
    let n = unsafe { raw_env() };
    if n < 0 {
        abort("host returned no env");
    }
    match Env::try_from_slice(&read_return(n as usize)) {
        Ok(env) => env,
        Err(_) => abort("host returned a malformed env"),
    }
}

pub(crate) fn ed25519_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    // SAFETY: the key (32 bytes), message and signature (64 bytes) are live and sized as the ABI requires.
    unsafe { raw_ed25519_verify(p(public_key), p(message), l(message), p(signature)) == 1 }
}

pub(crate) fn blake3(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: `data` is live; `out` is 32 writable bytes, exactly what the host writes.
    unsafe { raw_blake3(p(data), l(data), out.as_mut_ptr() as i32) };
    out
}

pub(crate) fn call(address: &Address, message: &[u8], fuel: u64) -> Result<Vec<u8>, String> {
    let fuel = i64::try_from(fuel).unwrap_or(i64::MAX);
    // SAFETY: the address (32 bytes) and message are live slices; the host only reads them.
    let n = unsafe { raw_call(p(address), p(message), l(message), fuel) };
    if n >= 0 {
        Ok(read_return(n as usize))
    } else {
        let len = (-(n + 1)) as usize;
        Err(String::from_utf8_lossy(&read_return(len)).into_owned())
    }
}

pub(crate) fn set_output(bytes: &[u8]) {
    // SAFETY: the pointer/length pair describes a live slice; the host copies it before returning.
    unsafe { raw_set_output(p(bytes), l(bytes)) }
}

pub(crate) fn abort(message: &str) -> ! {
    // SAFETY: the message is a live UTF-8 slice; the host copies it and unwinds the call, never returning.
    unsafe { raw_abort(message.as_ptr() as i32, message.len() as i32) }
}

/// The body of the `cairn_alloc` export: reclaim the previous call's heap, then hand out a buffer for the next
/// entry point's input.
pub fn alloc_input(len: i32) -> i32 {
    ALLOCATOR.reset();
    let Ok(len) = usize::try_from(len) else {
        abort("cairn_alloc: negative length");
    };
    let mut buf: Vec<u8> = Vec::with_capacity(len.max(1));
    let ptr = buf.as_mut_ptr();
    core::mem::forget(buf);
    ptr as i32
}

/// The entry point's input as a slice.
///
/// # Safety
/// `ptr`/`len` must be what the host passed to an entry point: a buffer it obtained from `cairn_alloc` and
/// filled with `len` bytes (or `len == 0`).
pub unsafe fn input_slice<'a>(ptr: i32, len: i32) -> &'a [u8] {
    if len <= 0 {
        return &[];
    }
    // SAFETY: guaranteed by the caller (see above); the buffer was leaked by `alloc_input` so it lives for the
    // rest of the call.
    unsafe { core::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
}

/// Release all heap memory at the end of a successful entry point (see [`BumpAllocator`]).
pub(crate) fn reset_heap() {
    ALLOCATOR.reset();
}

/// A bump allocator that frees everything at once.
///
/// Why not a general allocator: an entry point is short-lived and allocates little (decode a message, a few
/// storage values, one output), so per-object `free` buys nothing while costing code size and fuel. Memory is
/// reclaimed wholesale when the host asks for the next input buffer (`cairn_alloc`) and when an entry point
/// returns, so an instance the host reuses does not grow. The one rule this imposes — no heap data may outlive
/// an entry point — holds because module state lives in storage, never in statics.
pub(crate) struct BumpAllocator {
    /// Next free address; 0 until first use (then the heap starts at `__heap_base`).
    next: UnsafeCell<usize>,
}

// SAFETY: wasm32-unknown-unknown guests are single-threaded; there is no concurrent access.
unsafe impl Sync for BumpAllocator {}

const PAGE: usize = 65536;

unsafe extern "C" {
    /// Set by the linker to the first byte after the data segment and the stack.
    static __heap_base: u8;
}

impl BumpAllocator {
    fn heap_base() -> usize {
        // Only the linker-provided symbol's address is taken, never its value.
        core::ptr::addr_of!(__heap_base) as usize
    }

    fn reset(&self) {
        // SAFETY: single-threaded (see `Sync` above); no reference into the cell is held across calls.
        unsafe { *self.next.get() = Self::heap_base() }
    }
}

// SAFETY: returned blocks are aligned as requested, lie within linear memory (grown on demand), and never
// overlap until `reset`, which only runs when no allocation is live (see the type's docs).
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded, no outstanding reference to the cell.
        let next = unsafe { &mut *self.next.get() };
        if *next == 0 {
            *next = Self::heap_base();
        }
        let align = layout.align();
        let Some(start) = next.checked_add(align - 1).map(|n| n & !(align - 1)) else {
            return core::ptr::null_mut();
        };
        let Some(end) = start.checked_add(layout.size()) else {
            return core::ptr::null_mut();
        };
        let have = core::arch::wasm32::memory_size(0) * PAGE;
        if end > have {
            let pages = (end - have).div_ceil(PAGE);
            if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                return core::ptr::null_mut();
            }
        }
        *next = end;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: single-threaded, no outstanding reference to the cell.
        let next = unsafe { &mut *self.next.get() };
        // Give back the most recent allocation: cheap, and it makes push-then-drop temporaries free.
        if ptr as usize + layout.size() == *next {
            *next = ptr as usize;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: single-threaded, no outstanding reference to the cell.
        let next = unsafe { &mut *self.next.get() };
        // Grow the most recent allocation in place: a Vec being built is almost always the last allocation.
        if ptr as usize + layout.size() == *next {
            let end = ptr as usize + new_size;
            let have = core::arch::wasm32::memory_size(0) * PAGE;
            if end > have {
                let pages = (end - have).div_ceil(PAGE);
                if core::arch::wasm32::memory_grow(0, pages) == usize::MAX {
                    return core::ptr::null_mut();
                }
            }
            *next = end;
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and the layout valid, as `GlobalAlloc::realloc` guarantees.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as above.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the copied length and do not overlap (`new` is past `ptr`'s end).
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator { next: UnsafeCell::new(0) };

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // A panic is a bug in the module, not a host crash: it fails the call with the panic's message.
    let message = alloc::format!("module panicked: {}", info.message());
    abort(&message)
}

/// The body of an entry-point export: run [`dispatch`](crate::entry::dispatch) on the host's input buffer, then
/// reclaim the heap.
pub fn run<M, T, E, F>(ptr: i32, len: i32, what: &str, f: F) -> i32
where
    M: BorshDeserialize,
    T: borsh::BorshSerialize,
    E: core::fmt::Display,
    F: FnOnce(&Env, M) -> Result<T, E>,
{
    let status = {
        // SAFETY: `ptr`/`len` are the arguments the host passed to this entry point (see `input_slice`).
        let input = unsafe { input_slice(ptr, len) };
        crate::entry::dispatch(input, what, f)
    };
    reset_heap();
    status
}

/// The body of the `validator_set_updates` export (no input).
pub fn run_no_input<T, E, F>(f: F) -> i32
where
    T: borsh::BorshSerialize,
    E: core::fmt::Display,
    F: FnOnce(&Env) -> Result<T, E>,
{
    let status = crate::entry::dispatch_no_input(f);
    reset_heap();
    status
}
