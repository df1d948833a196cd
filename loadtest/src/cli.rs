//! The commands behind the binary, kept here so tests can call them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::observe::Display;
use crate::result::RunResult;
use crate::scenario::{Arrival, Scenario};
use crate::target::{self, Embedded, Target, Unreachable};
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
    #[arg(long, conflicts_with_all = ["connectors", "router", "capacity"])]
    pub start: bool,
    /// The switchyard binary for --start (default: next to this binary, else on PATH).
    #[arg(long)]
    pub switchyard_bin: Option<PathBuf>,
    /// ConnectorService and AgentService endpoint.
    #[arg(long, default_value = "http://127.0.0.1:7101")]
    pub connectors: String,
    /// RoutingAdminService endpoint.
    #[arg(long, default_value = "http://127.0.0.1:7102")]
    pub router: String,
    /// CapacityAdminService endpoint.
    #[arg(long, default_value = "http://127.0.0.1:7103")]
    pub capacity: String,
    /// Override the arrival rate (constant and poisson scenarios), conversations per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Override the arrival duration, e.g. "30s".
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Where the JSON, markdown and HTML results go.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
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
    match execute(&args, scenario, &path).await {
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
    let results_dir = args.results.clone().unwrap_or_else(default_results_dir);
    let mut embedded = None;
    let (target, label) = if args.start {
        let binary = args.switchyard_bin.clone().unwrap_or_else(target::default_binary);
        let config = path.is_dir().then(|| path.join("switchyard.toml")).filter(|p| p.is_file());
        let up = Embedded::start(&binary, config.as_deref(), &results_dir).await?;
        eprintln!("started switchyard up ({}), log {}", up.target.connectors, up.log.display());
        let target = up.target.clone();
        embedded = Some(up);
        (target, "embedded".to_owned())
    } else {
        let target = Target {
            connectors: args.connectors.clone(),
            router: args.router.clone(),
            capacity: args.capacity.clone(),
        };
        let label = target.connectors.clone();
        (target, label)
    };
    let options = sim::Options {
        target,
        target_label: label,
        display: if args.quiet { Display::Quiet } else { Display::Auto },
        git_sha: git_sha(),
    };
    let outcome = sim::run(scenario, options).await;
    if let Some(up) = embedded {
        if let Err(err) = up.stop().await {
            eprintln!("warning: {err:#}");
        }
    }
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
