//! `switchyard-loadtest`: run a scenario against Switchyard, check a scenario file, or
//! compare two results. Exit codes: 0 passed, 1 the audit failed, 2 bad scenario or
//! arguments, 3 the target could not be used.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard_loadtest::cli::{self, RunArgs};

#[derive(Parser)]
#[command(
    name = "switchyard-loadtest",
    version,
    about = "Load tests for Switchyard: open-loop scenarios, latency percentiles, invariant audit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario (a name under loadtest/scenarios/, a directory, or a file).
    Run(Box<RunArgs>),
    /// Parse and validate a scenario without running it.
    Check { scenario: String },
    /// Put two JSON results side by side with the ratio per measure (b relative to a).
    Compare { a: PathBuf, b: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(3);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => cli::run(*args).await,
            Command::Check { scenario } => cli::check(&scenario),
            Command::Compare { a, b } => cli::compare(&a, &b),
        }
    });
    ExitCode::from(code)
}
