//! One module per subcommand.

pub mod app;
pub mod appstate;
pub mod bank;
pub mod bench;
pub mod chain;
pub mod client;
pub mod demo;
pub mod gov;
pub mod growth;
pub mod init;
pub mod keyfile;
pub mod keys;
pub mod load;
pub mod localnet;
pub mod module;
pub mod new;
pub mod procs;
pub mod query;
pub mod reliability;
pub mod reset;
pub mod sim;
pub mod start;
pub mod status;
pub mod template;
pub mod tx;
pub mod version;
