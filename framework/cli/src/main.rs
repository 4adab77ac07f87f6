//! `cairn` — every command a person types: run chains, simulate engines, check modules, benchmark.
//!
//! Each subcommand lives in its own file under `commands/` with an `Args` struct and a `run` function; this file
//! only parses and dispatches. Errors go to stderr with what was wrong and what to do; the exit code is 0 only on
//! success.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cairn", version, about = "cairn: chains that communities own", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the version of cairn and of its protocols.
    Version(commands::version::Args),
    /// Run the Wasm execution app (ExecApp) as a gRPC server for an out-of-process node.
    App(commands::app::Args),
    /// Work with Wasm modules: `cairn module check FILE.wasm`.
    Module(commands::module::Args),
    /// Simulate a consensus engine on a deterministic virtual network (latency, loss, partitions, Byzantine
    /// nodes) and report finality, traffic and safety.
    Sim(commands::sim::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version(args) => commands::version::run(args),
        Command::App(args) => commands::app::run(args),
        Command::Module(args) => commands::module::run(args),
        Command::Sim(args) => commands::sim::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
