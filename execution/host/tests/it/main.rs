//! One integration-test binary for the host (wasmtime links once).

mod bank;
mod checktx;
mod common;
mod determinism;
mod hostile;
mod lifecycle;
mod poa;
mod remote;
mod sybil_modules;
