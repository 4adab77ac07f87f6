#![doc = include_str!("../README.md")]

mod app;
pub mod client;
pub mod convert;
pub mod server;
pub mod types;

pub use app::{AppError, AppResult, Application};
pub use client::{ClientConfig, RemoteApp};
pub use server::{ServerConfig, ServerHandle};
pub use types::*;
