//! `cairn` — every command a person types: run chains, simulate engines, check modules, benchmark.
//!
//! Each subcommand lives in its own file under `commands/` with an `Args` struct and a `run` function; this file
//! only parses and dispatches. Errors go to stderr with what was wrong and what to do; the exit code is 0 only on
//! success.

#[macro_use]
mod output;
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
    /// The main job: a 4-validator chain on loopback, signed bank transfers, live progress, a verified summary.
    Demo(commands::demo::Args),
    /// The growth walkthrough (examples/growth/run.sh): proof of authority → web of trust → hybrid stake (→ snow)
    /// by governance on a live localnet while transfers flow; prints one JSON object.
    Growth(commands::growth::Args),
    /// Create and inspect keys (accounts and validators).
    Keys(commands::keys::Args),
    /// Create a node home: a validator key, config.toml and a genesis from a template.
    Init(commands::init::Args),
    /// Run a node from its home directory until SIGINT/SIGTERM.
    Start(commands::start::Args),
    /// Show where a node is: chain, height, peers, validators.
    Status(commands::status::Args),
    /// Run N validators as processes on loopback (logs per node); Ctrl-C stops them.
    Localnet(commands::localnet::Args),
    /// Create a ready chain directory from a template that starts with one command.
    New(commands::new::Args),
    /// Sign and submit transactions: transfers, module upload/instantiate/execute/migrate, PoA and governance.
    Tx(commands::tx::Args),
    /// Read chain state: balances, nonces, modules, validators, governance, blocks, txs, raw app queries.
    Query(commands::query::Args),
    /// Simulate a consensus engine on a deterministic virtual network (latency, loss, partitions, Byzantine
    /// nodes) and report finality, traffic and safety.
    Sim(commands::sim::Args),
    /// Delete a node's chain data (blocks, consensus WAL, app state); keep its keys, config and genesis.
    #[command(name = "unsafe-reset-all")]
    UnsafeResetAll(commands::reset::Args),
    /// Benchmarks that print JSON: throughput and latency of a localnet, idle cost, block-sync speed.
    Bench(commands::bench::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version(args) => commands::version::run(args),
        Command::App(args) => commands::app::run(args),
        Command::Module(args) => commands::module::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Growth(args) => commands::growth::run(args),
        Command::Keys(args) => commands::keys::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Start(args) => commands::start::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Localnet(args) => commands::localnet::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Tx(args) => commands::tx::run(args),
        Command::Query(args) => commands::query::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Sim(args) => commands::sim::run(args),
        Command::UnsafeResetAll(args) => commands::reset::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
