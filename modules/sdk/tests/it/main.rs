//! One integration-test binary per crate (faster to link than one per file).

mod committed_wasm;
mod map_model;
mod sdk;
