//! The `cairn_v1` imports (docs/HOST_API.md), safe wrappers around them, the guest allocator and the panic
//! handler. Compiled for wasm32 only.

use alloc::string::String;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

use borsh::BorshDeserialize;

use crate::arena::Arena;
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

/// A bump allocator that frees everything at once (the arithmetic is [`Arena`], tested natively).
///
/// Why not a general allocator: an entry point is short-lived and allocates little (decode a message, a few
/// storage values, one output), so per-object `free` buys nothing while costing code size and fuel. Memory is
/// reclaimed wholesale when the host asks for the next input buffer (`cairn_alloc`) and when an entry point
/// returns, so an instance the host reuses does not grow. The one rule this imposes — no heap data may outlive
/// an entry point — holds because module state lives in storage, never in statics.
pub(crate) struct BumpAllocator {
    /// `None` until first use; then an arena starting at `__heap_base`.
    arena: UnsafeCell<Option<Arena>>,
}

// SAFETY: wasm32-unknown-unknown guests are single-threaded; there is no concurrent access.
unsafe impl Sync for BumpAllocator {}

const PAGE: usize = 65536;

unsafe extern "C" {
    /// Set by the linker to the first byte after the data segment and the stack.
    static __heap_base: u8;
}

/// Grow linear memory so that it reaches `end`; false if the host refuses.
fn grow_to(end: usize) -> bool {
    let have = core::arch::wasm32::memory_size(0) * PAGE;
    end <= have || core::arch::wasm32::memory_grow(0, (end - have).div_ceil(PAGE)) != usize::MAX
}

impl BumpAllocator {
    /// The arena, created on first use.
    ///
    /// # Safety
    /// No other reference into the cell may be alive (true: single-threaded, and no caller holds it across a
    /// call that could re-enter the allocator).
    #[allow(clippy::mut_from_ref)]
    unsafe fn arena(&self) -> &mut Arena {
        // SAFETY: see the function's contract.
        let slot = unsafe { &mut *self.arena.get() };
        // Only the linker-provided symbol's address is taken, never its value.
        slot.get_or_insert_with(|| Arena::new(core::ptr::addr_of!(__heap_base) as usize))
    }

    fn reset(&self) {
        // SAFETY: called between allocations, never while one is in progress.
        unsafe { self.arena() }.reset();
    }
}

// SAFETY: returned blocks are aligned as requested, lie within linear memory (grown on demand), and never
// overlap until `reset`, which only runs when no allocation is live (see the type's docs).
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded; the reference does not outlive this call.
        let arena = unsafe { self.arena() };
        match arena.alloc(layout.size(), layout.align(), &mut grow_to) {
            Some(addr) => addr as *mut u8,
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: single-threaded; the reference does not outlive this call.
        unsafe { self.arena() }.dealloc(ptr as usize, layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: single-threaded; the reference does not outlive this call.
        let arena = unsafe { self.arena() };
        match arena.realloc(ptr as usize, layout.size(), new_size, layout.align(), &mut grow_to) {
            Some((addr, false)) => addr as *mut u8,
            Some((addr, true)) => {
                let new = addr as *mut u8;
                // SAFETY: both blocks are valid for the copied length, and a moved block starts after every
                // live block, so they do not overlap.
                unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
                new
            }
            None => core::ptr::null_mut(),
        }
    }
}

#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator { arena: UnsafeCell::new(None) };

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // A panic is a bug in the module, not a host crash: it fails the call with the panic's message. The message
    // is formatted into a stack buffer, not the heap, so a panic caused by running out of memory still reports.
    use core::fmt::Write;
    let mut message = MessageBuf { bytes: [0; 1024], len: 0 };
    let _ = write!(message, "module panicked: {}", info.message());
    abort(message.as_str())
}

/// A fixed buffer that keeps the first 1 KiB of what is written to it (the host truncates logs to 1 KiB anyway).
struct MessageBuf {
    bytes: [u8; 1024],
    len: usize,
}

impl MessageBuf {
    fn as_str(&self) -> &str {
        let bytes = &self.bytes[..self.len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // Cut inside a multi-byte character: keep the valid prefix.
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl core::fmt::Write for MessageBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
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
