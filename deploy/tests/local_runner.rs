//! `switchyard-local` as a user runs it (the compiled binary): `up` starts redis-server, tansu
//! and every service as detached processes on a free loopback port range, the load
//! services refuse a call without credentials and accept the admin token `up` printed, the load
//! harness routes the smoke scenario through them end to end, `status` says all up, and
//! `stop` leaves no process and no port behind. A port already taken, a missing switchyard
//! binary, missing servers and a service failing at start all fail `up` precisely, leaving
//! nothing running. A missing redis-server or tansu fails the test with the install hint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::os::unix::fs::PermissionsExt;

use switchyard_deploy::process::is_alive;
use switchyard_loadtest::cli::{self, RunArgs};
use switchyard_loadtest::scenario::Scenario;
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::CreateAccountRequest;

const RUNNER: &str = env!("CARGO_BIN_EXE_switchyard-local");
const SPAN: u16 = 16;

/// A base port whose whole range (base..base+15) is free right now. Below the kernel's
/// ephemeral range (32768 and up), so outgoing connections of parallel tests do not take one.
fn free_base() -> u16 {
    for _ in 0..500 {
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        let base = 20000 + (random % 12000) as u16;
        if (0..SPAN).all(|o| TcpListener::bind((Ipv4Addr::LOCALHOST, base + o)).is_ok()) {
            return base;
        }
    }
    panic!("no free range of {SPAN} ports in 20000..32016");
}

fn runner(args: &[&str]) -> Output {
    let mut command = Command::new(RUNNER);
    command.args(args);
    // The test's own environment must not reconfigure the run.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWITCHYARD_") {
            command.env_remove(key);
        }
    }
    command.output().unwrap()
}

/// `switchyard-local up --dir <dir> --base-port <base> --switchyard-bin <binary>`.
fn run_up(dir: &str, base: u16, binary: &str) -> Output {
    runner(&["up", "--dir", dir, "--base-port", &base.to_string(), "--switchyard-bin", binary])
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Stops whatever a test left running, even when an assertion failed halfway.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.0.join("state.json").exists() {
            let _ = runner(&["stop", "--dir", &self.0.display().to_string(), "--timeout", "5"]);
        }
    }
}

/// Every port of the range can be bound again.
fn assert_ports_free(base: u16, except: Option<u16>) {
    for port in (base..base + SPAN).filter(|p| Some(*p) != except) {
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok(), "port {port} is still in use");
    }
}

/// No running process mentions `dir` on its command line (services get their config from it,
/// redis-server its working directory).
fn assert_no_process_mentions(dir: &Path) {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) && is_alive(pid) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    assert!(found.is_empty(), "processes of the run are left: {found:#?}");
}

/// The pids `up` reported ("started X (program, pid N) ...") on stderr.
fn started_pids(output: &Output) -> Vec<u32> {
    stderr(output)
        .lines()
        .filter(|l| l.starts_with("switchyard-local: started "))
        .filter_map(|l| l.split(", pid ").nth(1)?.split(')').next()?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_routes_conversations_end_to_end_then_status_and_stop_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let dir_arg = dir.display().to_string();
    let base = free_base();
    let switchyard = common::switchyard_binary();
    let _cleanup = StopOnDrop(dir.clone());

    let up = run_up(&dir_arg, base, &switchyard.display().to_string());
    assert!(
        up.status.success(),
        "up failed (a missing redis-server or tansu is named with its install hint):\n{}",
        text(&up)
    );
    let summary = String::from_utf8_lossy(&up.stdout);
    assert!(summary.contains(&format!("router         gRPC 127.0.0.1:{}", base + 2)), "{summary}");

    // The state file records every process (Redis, tansu, each service), in start order, all running.
    let state: serde_json::Value = serde_json::from_str(&common::read(&dir.join("state.json"))).unwrap();
    assert_eq!(state["complete"], true);
    let processes = state["processes"].as_array().unwrap();
    let names: Vec<&str> = processes.iter().map(|p| p["component"].as_str().unwrap()).collect();
    assert_eq!(names, [vec!["redis", "kafka"], common::services()].concat());
    let pids: Vec<u32> = processes.iter().map(|p| p["pid"].as_u64().unwrap() as u32).collect();
    assert!(pids.iter().all(|pid| is_alive(*pid)), "{pids:?}");
    assert_eq!(started_pids(&up), pids);
    assert_eq!(common::read(&dir.join(".gitignore")).lines().last(), Some("*"), "the run directory is git-ignored");
    for name in [vec!["redis", "kafka", "topics"], common::services()].concat() {
        assert!(dir.join("logs").join(format!("{name}.log")).is_file(), "log of {name}");
    }

    // A second `up` on the same directory refuses while the first runs.
    let again = runner(&["up", "--dir", &dir_arg, "--base-port", &base.to_string()]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains(&format!("a run is already active in {dir_arg}")), "{}", text(&again));

    // Authentication is on: a private signing key in the run directory, an admin token printed
    // (minted with `switchyard auth issue-token` and the run's config), a call without a
    // credential refused, the same call with the token accepted.
    let url = |offset: u16| format!("http://127.0.0.1:{}", base + offset);
    let key = dir.join("auth/signing.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let token = summary
        .lines()
        .find_map(|l| l.strip_prefix("export ADMIN_TOKEN="))
        .unwrap_or_else(|| panic!("no admin token printed: {summary}"))
        .to_owned();
    assert!(summary.contains("auth issue-token --account acme --role agent"), "{summary}");
    let channel = tonic::transport::Endpoint::from_shared(url(2)).unwrap().connect().await.unwrap();
    let acme = || CreateAccountRequest { account_id: "acme".into(), name: "acme".into() };
    let refused = RoutingAdminServiceClient::new(channel.clone()).create_account(acme()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let mut admin = RoutingAdminServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", bearer.clone());
        Ok(request)
    });
    admin.create_account(acme()).await.unwrap();

    // Conversations routed end to end through the services' processes, over their public gRPC
    // APIs, the harness minting with the run's key (found through --local-dir).
    let scenario_dir = common::repo_root().join("loadtest/scenarios/smoke");
    let scenario = Scenario::load(&scenario_dir).unwrap();
    let args = RunArgs {
        connectors: Some(url(1)),
        router: Some(url(2)),
        capacity: Some(url(3)),
        local_dir: Some(dir.clone()),
        results: Some(tmp.path().join("results")),
        quiet: true,
        ..RunArgs::new(scenario_dir.display().to_string())
    };
    let result = cli::execute(&args, scenario, &scenario_dir).await.unwrap();
    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    let c = &result.counts;
    assert!(c.scheduled > 0);
    assert_eq!((c.opened, c.open_failed), (c.scheduled, 0));
    assert_eq!(c.assigned, c.opened, "every conversation assigned");
    assert_eq!(c.closed, c.opened, "every conversation closed");
    assert_eq!(result.error_total(), 0, "{:?}", result.errors);

    // Status: everything up.
    let status = runner(&["status", "--dir", &dir_arg]);
    assert!(status.status.success(), "{}", text(&status));
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(table.contains("credentials: a token signed with "), "{table}");
    assert_eq!(table.lines().filter(|l| l.contains(" running ")).count(), 7, "{table}");
    assert_eq!(table.lines().filter(|l| l.ends_with("ready")).count(), 5, "{table}");

    // Stop: exit 0, every pid gone, every port free, no state file; status says not running.
    let stop = runner(&["stop", "--dir", &dir_arg]);
    assert!(stop.status.success(), "{}", text(&stop));
    let said = String::from_utf8_lossy(&stop.stdout);
    assert_eq!(said.lines().filter(|l| l.contains("stopped (SIGTERM)")).count(), 7, "{said}");
    assert!(pids.iter().all(|pid| !is_alive(*pid)), "{pids:?}");
    assert!(!dir.join("state.json").exists());
    assert_ports_free(base, None);
    assert_no_process_mentions(&dir);
    let status = runner(&["status", "--dir", &dir_arg]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("not running"), "{}", text(&status));
}

#[test]
fn up_with_a_port_taken_names_the_port_and_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let _cleanup = StopOnDrop(dir.clone());
    let base = free_base();
    let taken = base + 12;
    let _held = TcpListener::bind((Ipv4Addr::LOCALHOST, taken)).unwrap();

    let up = run_up(&dir.display().to_string(), base, &common::switchyard_binary().display().to_string());
    assert_eq!(up.status.code(), Some(1), "{}", text(&up));
    let err = stderr(&up);
    assert!(err.contains(&format!("port {taken} (for router ops HTTP) is already in use")), "{err}");
    assert!(err.contains("Nothing was started"), "{err}");
    assert!(started_pids(&up).is_empty(), "{err}");
    assert!(!dir.join("state.json").exists());
    assert!(!dir.join("logs").exists(), "nothing prepared before the checks passed");
    assert_ports_free(base, Some(taken));
    assert_no_process_mentions(&dir);
}

#[test]
fn up_with_a_missing_switchyard_binary_names_it_and_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let _cleanup = StopOnDrop(dir.clone());
    let base = free_base();
    let up = run_up(&dir.display().to_string(), base, "/nonexistent");
    assert_eq!(up.status.code(), Some(1), "{}", text(&up));
    let err = stderr(&up);
    assert!(err.contains("missing prerequisites"), "{err}");
    assert!(err.contains("switchyard: /nonexistent does not exist"), "{err}");
    assert!(err.contains("cargo build --release -p switchyard"), "{err}");
    assert!(started_pids(&up).is_empty(), "{err}");
    assert!(!dir.exists(), "nothing created");
    assert_ports_free(base, None);
}

#[test]
fn every_problem_found_before_starting_is_reported_together() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let _cleanup = StopOnDrop(dir.clone());
    let base = free_base();
    let _held = TcpListener::bind((Ipv4Addr::LOCALHOST, base)).unwrap();
    let up = run_up(&dir.display().to_string(), base, "/nonexistent");
    assert_eq!(up.status.code(), Some(1), "{}", text(&up));
    let err = stderr(&up);
    assert!(err.contains("switchyard: /nonexistent does not exist"), "{err}");
    assert!(err.contains(&format!("port {base} (for Kafka broker (tansu)) is already in use")), "{err}");
    assert!(!dir.exists(), "nothing created");
}

#[test]
fn up_without_redis_server_and_tansu_names_both_with_install_hints() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let dir = tmp.path().join("run");
    let base = free_base();
    let output = Command::new(RUNNER)
        .args(["up", "--dir", &dir.display().to_string(), "--base-port", &base.to_string()])
        .args(["--switchyard-bin", &common::switchyard_binary().display().to_string()])
        .env("PATH", &empty)
        .env("HOME", &empty)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let err = stderr(&output);
    assert!(
        err.contains(
            "  - redis-server: not found on PATH or in ~/.cargo/bin; install it with `apt-get install redis-server`"
        ),
        "{err}"
    );
    assert!(err.contains("  - tansu: not found on PATH or in ~/.cargo/bin; install it with `cargo install tansu --locked --features dynostore,libsql`"), "{err}");
    assert!(err.contains("switchyard-local up --install"), "{err}");
    assert!(!err.contains("  - switchyard:"), "the given binary is fine: {err}");
    assert!(!dir.exists(), "nothing created");
}

/// A service that fails at start (here a configuration error from the environment, which every
/// service rejects) fails `up` with its log, and everything `up` had started is stopped again.
#[test]
fn a_service_failing_at_start_fails_up_and_stops_everything_it_started() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let _cleanup = StopOnDrop(dir.clone());
    let base = free_base();
    let output = Command::new(RUNNER)
        .args(["up", "--dir", &dir.display().to_string(), "--base-port", &base.to_string()])
        .args(["--switchyard-bin", &common::switchyard_binary().display().to_string()])
        .env("SWITCHYARD_ROUTER__HEADROOM", "999")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let err = stderr(&output);
    // Every service validates the whole configuration: whichever exits first is named.
    assert!(err.contains(" exited (exit status: 2) before it was ready; last lines of "), "{err}");
    assert!(err.contains("router.headroom must be within 0..=100"), "{err}");
    assert!(err.contains("processes this run had started; nothing of it runs any more"), "{err}");
    let pids = started_pids(&output);
    assert_eq!(pids.len(), 2 + common::services().len(), "redis, tansu and every service were started: {err}");
    assert!(pids.iter().all(|pid| !is_alive(*pid)), "{pids:?}");
    assert!(!dir.join("state.json").exists());
    assert_ports_free(base, None);
    assert_no_process_mentions(&dir);
}

#[test]
fn status_and_stop_without_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let status = runner(&["status", "--dir", &dir]);
    assert_eq!(status.status.code(), Some(1), "{}", text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("not running: no state file"), "{}", text(&status));
    let stop = runner(&["stop", "--dir", &dir]);
    assert!(stop.status.success(), "{}", text(&stop));
    assert!(String::from_utf8_lossy(&stop.stdout).contains("nothing to stop"), "{}", text(&stop));

    std::fs::write(tmp.path().join("state.json"), "garbage").unwrap();
    let status = runner(&["status", "--dir", &dir]);
    assert_eq!(status.status.code(), Some(1));
    assert!(stderr(&status).contains("state.json is not a switchyard-local state file"), "{}", text(&status));
}
