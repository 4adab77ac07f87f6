//! One module per subcommand.

pub mod app;
pub mod module;
pub mod sim;
pub mod version;
