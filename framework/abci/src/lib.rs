//! # cairn-abci
//!
//! The boundary between consensus and execution: the [`Application`] trait (ABCI 2.0 in spirit), its domain
//! types, a gRPC server that serves any `Application`, and a gRPC client that *is* an `Application` — so the node
//! drives an in-process Rust app and an out-of-process app in any language through the same trait.

mod app;
pub mod types;

pub use app::{AppError, AppResult, Application};
pub use types::*;
