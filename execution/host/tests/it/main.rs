//! One integration-test binary for the host (wasmtime links once).

mod bank;
mod checktx;
mod common;
mod corpus;
mod determinism;
mod evidence;
mod fees;
mod gov;
mod hostile;
mod lifecycle;
mod limits;
mod poa;
mod remote;
mod smith;
mod stack;
mod sybil_modules;
