//! `switchyard-local`: parse the command line and run it (see the library).

use clap::Parser;

fn main() -> std::process::ExitCode {
    switchyard_deploy::cli::main(switchyard_deploy::cli::Cli::parse())
}
