#![doc = include_str!("../README.md")]

pub mod app;
pub mod backend;
pub mod cache;
mod error;
pub mod fees;
pub mod genesis;
pub mod imports;
pub mod instance;
pub mod instrument;
pub mod keys;
pub mod ledger;
pub mod prices;
pub mod registry;
pub mod session;
pub mod state_backend;
pub mod validate;

pub use app::{ExecApp, ExecConfig, codes};
pub use backend::{Backend, MemBackend};
pub use cache::{Admission, Admitted, CacheHit, ModuleCache};
pub use error::{BackendError, ExecError, HostError, HostResult, ValidationError};
pub use registry::{InstanceInfo, UploadPermission};
pub use validate::{Limits, ModuleInfo, validate};
