//! The commands behind the binary, kept here so tests can call them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::auth::PartnerAuth;
use crate::launch::{self, Mode};
use crate::local::Signal;
use crate::observe::Display;
use crate::result::RunResult;
use crate::scenario::{Arrival, Scenario};
use crate::target::Unreachable;
use crate::{report, sim};

pub const EXIT_PASSED: u8 = 0;
pub const EXIT_AUDIT_FAILED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_TARGET: u8 = 3;

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario name under loadtest/scenarios/, or a path to a scenario directory or file.
    pub scenario: String,
    /// Start `switchyard up` (embedded mode) on free ports for this run and stop it after.
    #[arg(long, conflicts_with_all = ["connectors", "router", "capacity", "automessages", "local", "local_dir"])]
    pub start: bool,
    /// Start the distributed topology with `switchyard-local up` in a temporary directory on
    /// free ports for this run, and `switchyard-local stop` it after.
    #[arg(long, conflicts_with_all = ["connectors", "router", "capacity", "automessages", "local_dir"])]
    pub local: bool,
    /// The switchyard binary for --start, passed on to `switchyard-local up` with --local
    /// (default: next to this binary, else on PATH).
    #[arg(long)]
    pub switchyard_bin: Option<PathBuf>,
    /// The local runner for --local and --chaos (default: `switchyard-local` next to this
    /// binary, else on PATH).
    #[arg(long)]
    pub switchyard_local_bin: Option<PathBuf>,
    /// The run directory of a running `switchyard-local up`: --chaos restarts its processes,
    /// and its ports are the target unless given [default with --chaos: .switchyard-local]
    #[arg(long)]
    pub local_dir: Option<PathBuf>,
    /// ConnectorService and AgentService endpoint [default: http://127.0.0.1:7101, or the
    /// local runner's ports with --local-dir or --chaos]
    #[arg(long)]
    pub connectors: Option<String>,
    /// RoutingAdminService endpoint [default: http://127.0.0.1:7102, or the local runner's]
    #[arg(long)]
    pub router: Option<String>,
    /// CapacityAdminService endpoint [default: http://127.0.0.1:7103, or the local runner's]
    #[arg(long)]
    pub capacity: Option<String>,
    /// AutomaticMessagesAdminService endpoint, for scenarios with [automessages] [default:
    /// http://127.0.0.1:7104, or the local runner's]
    #[arg(long)]
    pub automessages: Option<String>,
    /// Call the target over TLS, trusting the CA certificates in this PEM file (http:// endpoints
    /// are then called as https://).
    #[arg(long, value_name = "PEM", conflicts_with_all = ["start", "local"])]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a target that requires mTLS; with --tls-key.
    #[arg(long, value_name = "PEM", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Name to check in the target's certificate [default: the endpoint's host]
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    pub tls_domain: Option<String>,
    /// Override the arrival rate (constant and poisson scenarios), conversations per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Override the arrival duration, e.g. "30s".
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Kill and restart this component of the local runner's topology during the run, one
    /// fault per --chaos-every, cycling through the components given (repeatable): a service
    /// (a `switchyard` subcommand, e.g. router), redis, broker.
    #[arg(long = "chaos", value_name = "COMPONENT")]
    pub chaos: Vec<String>,
    /// Time between faults.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "15s")]
    pub chaos_every: Duration,
    /// First fault, after the start of arrivals [default: --chaos-every]
    #[arg(long, value_parser = humantime::parse_duration)]
    pub chaos_start: Option<Duration>,
    /// How the component is stopped before its restart.
    #[arg(long, value_enum, default_value_t = Signal::Kill)]
    pub chaos_signal: Signal,
    /// Run without authentication: --start and --local start the target with
    /// `auth.mode = "disabled"`; against a running target, calls carry no credential (it must
    /// run with authentication off). Measures what authentication costs.
    #[arg(long, conflicts_with_all = ["signing_key_file", "partner_auth"])]
    pub no_auth: bool,
    /// Against a running target: the HS256 secret of an issuer it trusts; the harness mints
    /// admin and agent tokens (and partner tokens with --partner-auth token) with it [default:
    /// the local runner's key with --local-dir or --chaos]
    #[arg(long, value_name = "FILE", conflicts_with_all = ["start", "local"])]
    pub signing_key_file: Option<PathBuf>,
    /// The `iss` of the tokens minted with --signing-key-file.
    #[arg(long, default_value = "switchyard", requires = "signing_key_file")]
    pub issuer: String,
    /// The `aud` of the tokens minted with --signing-key-file.
    #[arg(long, default_value = "switchyard", requires = "signing_key_file")]
    pub audience: String,
    /// How simulated partners authenticate: `api-key` (a partner key per account, created with
    /// AuthAdminService.CreateApiKey) or `token` (minted partner JWTs).
    #[arg(long, value_enum)]
    pub partner_auth: Option<PartnerAuth>,
    /// Where the JSON, markdown and HTML results go.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
}

impl RunArgs {
    /// Arguments for `scenario` with every option at its default.
    pub fn new(scenario: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            start: false,
            local: false,
            switchyard_bin: None,
            switchyard_local_bin: None,
            local_dir: None,
            connectors: None,
            router: None,
            capacity: None,
            automessages: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_domain: None,
            rate: None,
            duration: None,
            chaos: Vec::new(),
            chaos_every: Duration::from_secs(15),
            chaos_start: None,
            chaos_signal: Signal::Kill,
            no_auth: false,
            signing_key_file: None,
            issuer: "switchyard".into(),
            audience: "switchyard".into(),
            partner_auth: None,
            results: None,
            quiet: false,
        }
    }
}

/// Finds a scenario by name or path.
pub fn scenario_path(name: &str) -> PathBuf {
    let direct = PathBuf::from(name);
    if direct.exists() || name.contains('/') {
        return direct;
    }
    let local = Path::new("loadtest/scenarios").join(name);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

fn load(name: &str, args: Option<&RunArgs>) -> Result<(Scenario, PathBuf), String> {
    let path = scenario_path(name);
    let mut scenario = Scenario::load(&path).map_err(|e| e.to_string())?;
    if let Some(args) = args {
        if let Some(rate) = args.rate {
            match &mut scenario.arrival {
                Arrival::Constant { rate: r } | Arrival::Poisson { rate: r } => *r = rate,
                _ => return Err("--rate: only constant and poisson scenarios have a single rate".into()),
            }
        }
        if let Some(duration) = args.duration {
            scenario.duration = duration;
        }
        if args.rate.is_some() || args.duration.is_some() {
            // Overrides go through the same validation as the file.
            scenario.revalidate().map_err(|(field, message)| format!("override of {field}: {message}"))?;
        }
    }
    Ok((scenario, path))
}

pub fn check(name: &str) -> u8 {
    match load(name, None) {
        Ok((s, path)) => {
            println!(
                "{}: ok ({} skills, {} agent groups, about {:.0} conversations over {:?})",
                path.display(),
                s.skills.len(),
                s.agents.len(),
                s.arrival.expected_count(s.duration),
                s.duration
            );
            EXIT_PASSED
        }
        Err(err) => {
            eprintln!("error: {err}");
            EXIT_BAD_INPUT
        }
    }
}

pub fn compare(a: &Path, b: &Path) -> u8 {
    match (report::read_result(a), report::read_result(b)) {
        (Ok(a), Ok(b)) => {
            print!("{}", report::compare(&a, &b));
            EXIT_PASSED
        }
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("error: {err:#}");
            EXIT_BAD_INPUT
        }
    }
}

pub async fn run(args: RunArgs) -> u8 {
    let (scenario, path) = match load(&args.scenario, Some(&args)) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    // Everything that can be checked before anything runs: exit 2 naming the option.
    let mode = match launch::resolve(&args, &scenario) {
        Ok(mode) => mode,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_BAD_INPUT;
        }
    };
    match execute_mode(&args, scenario, &path, mode).await {
        Ok(result) => {
            if result.audit.passed {
                EXIT_PASSED
            } else {
                EXIT_AUDIT_FAILED
            }
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            EXIT_TARGET
        }
    }
}

/// Runs the scenario, prints the table and writes the result files.
pub async fn execute(args: &RunArgs, scenario: Scenario, path: &Path) -> anyhow::Result<RunResult> {
    let mode = launch::resolve(args, &scenario).map_err(|err| anyhow::anyhow!(err))?;
    execute_mode(args, scenario, path, mode).await
}

async fn execute_mode(args: &RunArgs, scenario: Scenario, path: &Path, mode: Mode) -> anyhow::Result<RunResult> {
    let results_dir = args.results.clone().unwrap_or_else(default_results_dir);
    let launched = launch::launch(args, &scenario, path, &results_dir, mode).await?;
    let options = sim::Options {
        target: launched.target.clone(),
        target_label: launched.label.clone(),
        display: if args.quiet { Display::Quiet } else { Display::Auto },
        git_sha: git_sha(),
        chaos: launched.chaos.clone(),
        credentials: launched.credentials.clone(),
    };
    let outcome = tokio::select! {
        outcome = sim::run(scenario, options) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let passed = outcome.as_ref().is_ok_and(|r| r.audit.passed);
    launched.stop(passed).await;
    let result = outcome?;
    println!("{}", report::table(&result));
    let written = report::write_all(&result, &results_dir)?;
    println!(
        "result: {}\nreport: {}\nsummary: {}",
        written.json.display(),
        written.html.display(),
        written.markdown.display()
    );
    Ok(result)
}

/// True if `err` says the target could not be reached (for callers that want to tell).
pub fn is_unreachable(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Unreachable>().is_some()
}

fn default_results_dir() -> PathBuf {
    if Path::new("loadtest").is_dir() {
        PathBuf::from("loadtest/results")
    } else {
        PathBuf::from("results")
    }
}

fn git_sha() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
