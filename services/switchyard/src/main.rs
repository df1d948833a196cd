//! `switchyard`: parse the command line, load and validate config, start telemetry, run.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = switchyard::cli::Cli::parse();
    switchyard::cli::main(cli)
}
