//! Command line: `switchyard-local <up|status|stop|restart> [--dir DIR] ...`.
//!
//! Exit codes: 0 success (for `status`: everything up), 1 failure (for `status`: something is
//! not up, or nothing runs), 2 bad arguments.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::control;
use crate::layout::{Component, Layout, DEFAULT_BASE_PORT};
use crate::state::State;
use crate::up::{self, UpOptions};

pub const DEFAULT_DIR: &str = ".switchyard-local";

#[derive(Debug, Parser)]
#[command(
    name = "switchyard-local",
    version,
    about = "Run Switchyard's distributed topology on this machine: redis-server, the tansu Kafka broker and every service as separate processes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check prerequisites and ports, start everything, wait until every service is ready.
    Up(UpArgs),
    /// Show each process (pid alive, ports, readiness); exit 0 only if everything is up.
    Status(DirArgs),
    /// Stop the services (SIGTERM, drain), then tansu and Redis; remove the state file.
    Stop(StopArgs),
    /// Stop one process of the run (a crash with `--signal kill`, an orderly stop with `term`)
    /// and start it again with the same command, config and ports; its log continues.
    Restart(RestartArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RestartArgs {
    /// A service (a `switchyard` subcommand, e.g. router), redis, or kafka (alias broker).
    #[arg(value_parser = crate::restart::parse_component)]
    pub component: Component,
    #[command(flatten)]
    pub dir: DirArgs,
    /// How to stop it: `kill` (SIGKILL, a crash) or `term` (SIGTERM, drain first).
    #[arg(long, default_value = "kill", value_parser = ["kill", "term"])]
    pub signal: String,
    /// How long it stays down before it starts again, e.g. `0s`, `2s`.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub down_for: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct DirArgs {
    /// Run directory: state.json, logs/, config/.
    #[arg(long, default_value = DEFAULT_DIR)]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// First port of the range the run uses (base..base+15): Kafka at base, gRPC at base+1..5,
    /// Redis at base+10, ops HTTP at base+11..15.
    #[arg(long, default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
    /// The switchyard binary (default: next to switchyard-local, else on PATH).
    #[arg(long)]
    pub switchyard_bin: Option<PathBuf>,
    /// Install a missing redis-server or tansu first, with scripts/deps.sh (as `make test` does).
    #[arg(long)]
    pub install: bool,
    /// Seconds to wait for every service's /health/readyz to answer 200.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ready_timeout: u64,
    /// Where the broker keeps its log: `sqlite` (survives a broker restart) or `memory`
    /// (less broker CPU, for benchmarks; a broker restart loses every topic).
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "memory"])]
    pub broker_storage: String,
    /// Run the services with `auth.mode = "disabled"` (anyone reaching a port can do
    /// anything), e.g. to measure what authentication costs. By default every service trusts
    /// a signing key written for this run into <dir>/auth/signing.key.
    #[arg(long)]
    pub no_auth: bool,
    /// Serve the services' gRPC ports over TLS with this certificate chain (PEM); with --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle (PEM) whose client certificates the services accept; for --tls-client-auth.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Client certificates: none, optional or required (mTLS; needs --tls-client-ca).
    #[arg(long, default_value = "none", value_parser = ["none", "optional", "required"], requires = "tls_cert")]
    pub tls_client_auth: String,
}

impl UpArgs {
    /// The TLS options as the services' `[tls]`, with absolute paths (the services run in
    /// another directory); None without --tls-cert.
    fn tls(&self) -> Result<Option<crate::config::LocalTls>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        if self.tls_client_auth != "none" && self.tls_client_ca.is_none() {
            return Err(format!("--tls-client-auth {} needs --tls-client-ca", self.tls_client_auth));
        }
        let absolute =
            |flag: &str, path: &Path| std::path::absolute(path).map_err(|e| format!("{flag} {}: {e}", path.display()));
        Ok(Some(crate::config::LocalTls {
            cert_file: absolute("--tls-cert", cert)?,
            key_file: absolute("--tls-key", key)?,
            client_ca_file: self.tls_client_ca.as_deref().map(|ca| absolute("--tls-client-ca", ca)).transpose()?,
            client_auth: self.tls_client_auth.clone(),
        }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub dir: DirArgs,
    /// Seconds each group (services, tansu, Redis) gets to exit after SIGTERM before SIGKILL.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

pub fn main(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Up(args) => run_up(&args),
        Command::Status(args) => run_status(&args),
        Command::Stop(args) => run_stop(&args),
        Command::Restart(args) => run_restart(&args),
    }
}

fn run_restart(args: &RestartArgs) -> ExitCode {
    let signal = if args.signal == "term" { crate::restart::Signal::Term } else { crate::restart::Signal::Kill };
    match crate::restart::restart(&args.dir.dir, args.component, signal, args.down_for) {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("switchyard-local: error: {err:#}");
    ExitCode::FAILURE
}

fn run_up(args: &UpArgs) -> ExitCode {
    let tls = match args.tls() {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("switchyard-local: error: {err}");
            return ExitCode::from(2);
        }
    };
    let options = UpOptions {
        dir: args.dir.dir.clone(),
        base_port: args.base_port,
        switchyard_bin: args.switchyard_bin.clone(),
        install: args.install,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        broker_storage: if args.broker_storage == "memory" {
            crate::commands::BrokerStorage::Memory
        } else {
            crate::commands::BrokerStorage::Sqlite
        },
        no_auth: args.no_auth,
        tls,
    };
    match up::up(&options) {
        Ok(state) => {
            println!("{}", summary(&state));
            if args.no_auth {
                println!("# AUTHENTICATION IS DISABLED (--no-auth): calls need no credential");
            } else if let Ok(layout) = Layout::new(state.base_port) {
                let port = |service| layout.grpc(Component::Service(service)).unwrap_or_default();
                let (connectors, router) =
                    (port(switchyard_registry::Service::Connectors), port(switchyard_registry::Service::Router));
                // The run is up either way; a token that cannot be minted is only a warning.
                match crate::auth::admin_token(&state) {
                    Ok(token) => println!("{}", crate::auth::credentials_text(&state, &token, connectors, router)),
                    Err(err) => eprintln!(
                        "switchyard-local: warning: no admin token ({err:#}); mint one with {}",
                        crate::auth::issue_token_command(&state, crate::auth::ACCOUNT, "admin", "local-admin")
                    ),
                }
            }
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

/// What `up` prints when everything is ready: endpoints, logs, how to stop.
pub fn summary(state: &State) -> String {
    let dir = state.dir.display();
    let mut lines = vec![format!("Switchyard is up (run directory {dir}):")];
    if let Ok(layout) = Layout::new(state.base_port) {
        lines.push(format!("  kafka (tansu)  127.0.0.1:{}", layout.kafka()));
        lines.push(format!("  redis          redis://127.0.0.1:{}", layout.redis()));
        for service in Component::SERVICES {
            if let (Some(grpc), Some(ops)) = (layout.grpc(service), layout.ops(service)) {
                lines.push(format!(
                    "  {:<14} gRPC 127.0.0.1:{grpc}   ops http://127.0.0.1:{ops}/health/readyz",
                    service.name()
                ));
            }
        }
    }
    lines.push(format!("logs in {dir}/logs, configs in {dir}/config, pids in {dir}/state.json"));
    let flag = dir_flag(&state.dir);
    lines.push(format!("status: switchyard-local status{flag}   stop: switchyard-local stop{flag}"));
    lines.join("\n")
}

/// ` --dir X` unless X is the default directory under the current one.
fn dir_flag(dir: &Path) -> String {
    let default = std::path::absolute(DEFAULT_DIR).ok();
    if default.as_deref() == Some(dir) {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    }
}

fn run_status(args: &DirArgs) -> ExitCode {
    match control::status(&args.dir) {
        Ok(Some(status)) => {
            println!("{}", status.table());
            if let Ok(Some(state)) = crate::state::load(&args.dir) {
                if crate::auth::key_file(&state.dir).is_file() {
                    let command =
                        crate::auth::issue_token_command(&state, crate::auth::ACCOUNT, "admin", "local-admin");
                    println!(
                        "credentials: a token signed with {}: {command}",
                        crate::auth::key_file(&state.dir).display()
                    );
                } else {
                    println!("credentials: none needed (started with --no-auth)");
                }
            }
            if status.all_up() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(None) => {
            println!("not running: no state file in {} (start with `switchyard-local up`)", args.dir.display());
            ExitCode::FAILURE
        }
        Err(err) => fail(&err),
    }
}

fn run_stop(args: &StopArgs) -> ExitCode {
    match control::stop(&args.dir.dir, Duration::from_secs(args.timeout)) {
        Ok(Some(lines)) => {
            for line in lines {
                println!("{line}");
            }
            println!("stopped; logs kept in {}", args.dir.dir.join("logs").display());
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("nothing to stop: no state file in {}", args.dir.dir.display());
            ExitCode::SUCCESS
        }
        Err(err) => fail(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["switchyard-local", "up", "--base-port", "20000", "--dir", "/tmp/x"]).unwrap();
        let Command::Up(args) = cli.command else { panic!("up") };
        assert_eq!((args.base_port, args.dir.dir.as_path(), args.ready_timeout), (20000, Path::new("/tmp/x"), 120));
        let err = Cli::try_parse_from(["switchyard-local", "up", "--base-port", "70000"]).unwrap_err().to_string();
        assert!(err.contains("70000"), "{err}");
        let err = Cli::try_parse_from(["switchyard-local", "stop", "--timeout", "0"]).unwrap_err().to_string();
        assert!(err.contains("--timeout"), "{err}");

        let up = |extra: &[&str]| {
            let cli = Cli::try_parse_from([&["switchyard-local", "up"][..], extra].concat()).unwrap();
            let Command::Up(args) = cli.command else { panic!("up") };
            args.tls()
        };
        assert_eq!(up(&[]), Ok(None));
        let tls = up(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap().unwrap();
        assert!(tls.cert_file.is_absolute() && tls.cert_file.ends_with("c.pem"), "{tls:?}");
        assert_eq!((tls.client_ca_file, tls.client_auth.as_str()), (None, "none"));
        let err = up(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-auth", "required"]).unwrap_err();
        assert_eq!(err, "--tls-client-auth required needs --tls-client-ca");
        assert!(Cli::try_parse_from(["switchyard-local", "up", "--tls-cert", "c.pem"]).is_err());
    }
}
