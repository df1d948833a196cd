//! The harness against a real `switchyard up` (the compiled binary, embedded mode, started by
//! the harness on free ports): the smoke scenario passes the audit, a target that breaks an
//! invariant fails it with the offending id, and an unreachable target is one clear error.
//! Assertions are on correctness only, never on speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_loadtest::cli::{self, RunArgs};
use switchyard_loadtest::report;
use switchyard_loadtest::scenario::Scenario;

/// The `switchyard` binary of this build, built on demand.
fn switchyard_binary() -> PathBuf {
    switchyard_testkit::workspace_binary("switchyard", "switchyard").unwrap()
}

fn args(scenario: &Path, results: &Path) -> RunArgs {
    let mut args = RunArgs::new(scenario.display().to_string());
    args.start = true;
    args.switchyard_bin = Some(switchyard_binary());
    args.results = Some(results.to_path_buf());
    args.quiet = true;
    args
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

#[path = "harness/automessages.rs"]
mod automessages;
#[path = "harness/capacity.rs"]
mod capacity;
#[path = "harness/transfers.rs"]
mod transfers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_against_switchyard_up_passes_the_audit() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("smoke");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    let c = &result.counts;
    assert!(c.scheduled > 0);
    assert_eq!((c.opened, c.open_failed), (c.scheduled, 0));
    assert_eq!(c.assigned, c.opened, "every conversation assigned");
    assert_eq!(c.closed, c.opened, "every conversation closed");
    assert_eq!(c.consumer_messages_delivered, c.consumer_messages_sent);
    assert_eq!(c.agent_replies_delivered, c.agent_replies_sent);
    assert_eq!(result.error_total(), 0, "{:?}", result.errors);
    // Nothing broke, so nothing was retried, reconnected or delivered twice.
    assert_eq!(
        (result.retry_total(), result.reconnect_total()),
        (0, 0),
        "{:?} {:?}",
        result.retries,
        result.reconnects
    );
    assert_eq!(result.duplicates, Default::default());
    assert!(result.chaos.is_none());
    // Authentication was on: partners used the API keys the harness created.
    assert_eq!(result.target, "embedded");
    for check in ["no call failed", "nothing reaches the partner after a close"] {
        assert!(result.audit.checks.iter().any(|c| c.name == check && c.passed), "{check}");
    }
    for name in ["open_to_assignment", "consumer_message_to_agent", "agent_reply_to_partner", "open_rpc"] {
        let m = result.measure(name).unwrap_or_else(|| panic!("measure {name}"));
        assert!(m.count > 0 && m.p50_ms <= m.p99_ms && m.p99_ms <= m.max_ms, "{m:?}");
    }
    assert!(!result.timeline.is_empty());

    // The files are written and read back, and compare works on them.
    let files: Vec<PathBuf> = std::fs::read_dir(results.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let json = files.iter().find(|p| p.extension().is_some_and(|e| e == "json")).expect("a JSON result");
    assert!(json.file_name().unwrap().to_string_lossy().starts_with("smoke."));
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "html")));
    assert_eq!(report::read_result(json).unwrap(), result);
    assert!(report::compare(&result, &result).contains("1.00x"));
}

/// The priority scenario: a backlog on web and whatsapp with whatsapp's velocity 4. Every
/// conversation is explained after the drain, no queue was served out of score order, and
/// whatsapp waited less than web on average; urgent marks were accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_against_switchyard_up_serves_queues_in_score_order() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("priority");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    assert_eq!(result.counts.assigned, result.counts.scheduled);
    let p = result.priority.as_ref().expect("a priority section");
    assert_eq!((p.explained, p.unexplained), (result.counts.opened, 0), "{p:?}");
    assert!(p.pairs_checked > 0 && p.violations == 0, "{p:?}");
    let wait = |channel: &str| p.waits.iter().find(|w| w.channel == channel).unwrap_or_else(|| panic!("{p:?}"));
    let (whatsapp, web) = (wait("whatsapp"), wait("web"));
    assert!(whatsapp.backlog > 0 && web.backlog > 0, "{p:?}");
    assert!(whatsapp.mean_wait_ms <= web.mean_wait_ms, "{p:?}");
    // R10.3: returning web consumers marked their conversations urgent while they waited.
    assert!(p.urgent_marked > 0, "{p:?}");
    for check in ["queue served in score order", "velocity shortens waits"] {
        assert!(result.audit.checks.iter().any(|c| c.name == check && c.passed), "{check}");
    }
}

/// The ring scenario (ring-one offers, some rejected, some left to ring out, a late group):
/// every conversation is explained, offers of one conversation never overlap, each
/// assignment has exactly one accept, every offer ended, and no offer reached an agent the
/// harness had not logged in. `rejects`: as shipped; otherwise with `offers.reject_share = 0`
/// (ring-outs only).
async fn ring_one(rejects: bool) {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("ring");
    let mut scenario = Scenario::load(&path).unwrap();
    if !rejects {
        scenario.offers.as_mut().unwrap().reject_share = 0.0;
    }
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    assert_eq!(result.counts.assigned, result.counts.scheduled);
    assert_eq!(result.error_total(), 0, "{:?}", result.errors);
    let o = result.offers.as_ref().expect("an offers section");
    assert_eq!(o.mode, "ring_one");
    assert_eq!((o.explained, o.unexplained), (result.counts.opened, 0), "{o:?}");
    // Every offer rang for one agent: each received offer was accepted, rejected or ignored.
    assert_eq!(o.received, o.accepted + o.rejected + o.ignored + o.late_rejects + o.lost_accept_races, "{o:?}");
    assert_eq!((o.accepted, o.decisions_accepted), (result.counts.assigned, result.counts.assigned), "{o:?}");
    assert_eq!(o.decisions_offered, o.received, "{o:?}");
    assert_eq!(o.rejected > 0, rejects, "{o:?}");
    assert!(o.ignored > 0 && o.ended_expired > 0, "{o:?}");
    assert_eq!(o.ended_rescinded, 0, "{o:?}");
    for check in switchyard_loadtest::offers::CHECKS {
        assert!(result.audit.checks.iter().any(|c| c.name == check && c.passed), "{check}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_one_offers_ring_out_in_turn() {
    ring_one(false).await;
}

/// As shipped, with rejects. This found that a rejected conversation, back in its queue, was
/// assigned outright (`assigned ... agent_available`, no offer) when another agent freed
/// capacity before the router offered it again: the AgentAvailable path now rings too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_one_offers_are_answered_in_turn_with_rejects() {
    ring_one(true).await;
}

/// The ring-all scenario: every agent of the skill is offered each conversation and they
/// accept at once, so accepts race; the losers are counted (FAILED_PRECONDITION is not a
/// failure) and told `rescinded`, and each conversation still has exactly one accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_all_accepts_race_and_one_wins() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("ring-all");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    assert_eq!(result.counts.assigned, result.counts.scheduled);
    assert_eq!(result.error_total(), 0, "{:?}", result.errors);
    let o = result.offers.as_ref().expect("an offers section");
    assert_eq!(o.mode, "ring_all");
    assert_eq!((o.explained, o.unexplained), (result.counts.opened, 0), "{o:?}");
    assert_eq!((o.accepted, o.decisions_accepted), (result.counts.assigned, result.counts.assigned), "{o:?}");
    // Several agents rang per offer, and the losers of the races were told.
    assert!(o.received > o.decisions_offered, "{o:?}");
    assert!(o.lost_accept_races > 0 && o.ended_rescinded > 0, "{o:?}");
    assert_eq!(o.received, o.accepted + o.rejected + o.ignored + o.late_rejects + o.lost_accept_races, "{o:?}");
}

/// Offer settings are checked before anything runs, naming the field.
#[test]
fn bad_offer_settings_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let base = std::fs::read_to_string(shipped("ring").join("scenario.toml")).unwrap();
    for (from, to, field) in [
        (r#"ring_timeout = "5s""#, r#"ring_timeout = "2s""#, "routing.ring_timeout: must be between 5s and 10m"),
        (r#"acd_mode = "ring_one""#, r#"acd_mode = "ring_twice""#, "unknown variant `ring_twice`"),
        ("reject_share = 0.2", "reject_share = 2", "offers.reject_share: must be between 0 and 1"),
        ("ignore_share = 0.15", "ignore_share = 0.9", "offers: reject_share + ignore_share must be at most 1"),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let err = Scenario::load(&file).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert_eq!(cli::check(&file.display().to_string()), cli::EXIT_BAD_INPUT);
    }
}

/// The cost of authentication is measured by running without it (`--no-auth`: the target
/// starts with `auth.mode = "disabled"` and calls carry no credential), and partners can
/// authenticate with minted tokens instead of keys; both pass the audit like the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_without_authentication_and_with_partner_tokens() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("smoke");
    for (no_auth, partner, label) in [
        (true, None, "embedded, no auth"),
        (false, Some(switchyard_loadtest::auth::PartnerAuth::Token), "embedded, partner tokens"),
    ] {
        let mut args = args(&path, results.path());
        args.no_auth = no_auth;
        args.partner_auth = partner;
        let result = cli::execute(&args, Scenario::load(&path).unwrap(), &path).await.unwrap();
        let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
        assert!(result.audit.passed, "{label}: audit failed: {failed:#?}");
        assert_eq!(result.error_total(), 0, "{label}: {:?}", result.errors);
        assert_eq!(result.counts.assigned, result.counts.scheduled, "{label}");
        assert_eq!(result.target, label);
    }
}

/// Against a running target the harness refuses to start without a way to authenticate, and
/// a key the target does not trust is refused by the target, not hidden: setup fails with
/// UNAUTHENTICATED (exit 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_target_needs_a_key_it_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let up = switchyard_loadtest::target::Embedded::start(&switchyard_binary(), None, dir.path(), true).await.unwrap();
    let run = |extra: Vec<String>| {
        let up = &up;
        let dir = dir.path().to_path_buf();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard-loadtest"))
                .current_dir(&dir)
                .args(["run", &shipped("smoke").display().to_string(), "--quiet"])
                .args(["--connectors", &up.target.connectors, "--router", &up.target.router])
                .args(["--capacity", &up.target.capacity])
                .args(extra)
                .output()
                .await
                .unwrap();
            (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    let (code, stderr) = run(vec![]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("the target needs credentials: pass --signing-key-file"), "{stderr}");
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "a-secret-this-target-has-never-heard-of").unwrap();
    let (code, stderr) = run(vec!["--signing-key-file".into(), wrong.display().to_string()]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("creating account") && stderr.contains("does not verify against any configured issuer"),
        "{stderr}"
    );
    let (code, stderr) = run(vec!["--no-auth".into()]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("does not have valid authentication credentials"), "{stderr}");
    up.stop().await.unwrap();
}

/// A target configured to over-assign (router headroom 2.5 lets an agent with maximum 1 hold
/// three conversations): the audit must notice, from the agents' side alone, and name the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_pushed_over_its_maximum_fails_the_audit_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let scenario_dir = dir.path().join("overload");
    std::fs::create_dir(&scenario_dir).unwrap();
    std::fs::write(
        scenario_dir.join("scenario.toml"),
        r#"
        seed = 5
        duration = "1s"
        drain_timeout = "20s"
        skills = [{ id = "sales" }]
        agents = [{ name = "solo", count = 1, skills = ["sales"], max_conversations = 1 }]
        arrival = { process = "constant", rate = 20 }
        script = { agent_think = "100ms", hold = "300ms", close_by = "agent" }
        "#,
    )
    .unwrap();
    std::fs::write(scenario_dir.join("switchyard.toml"), "[router]\nheadroom = 2.5\n").unwrap();
    let scenario = Scenario::load(&scenario_dir).unwrap();
    let result = cli::execute(&args(&scenario_dir, dir.path()), scenario, &scenario_dir).await.unwrap();

    assert!(!result.audit.passed);
    let over = result.audit.checks.iter().find(|c| c.name == "no agent over its maximum").unwrap();
    assert!(!over.passed, "{over:?}");
    assert_eq!(over.invariant, 2);
    assert!(over.ids[0].starts_with("solo-0 (held "), "{:?}", over.ids);
    // The rest of the run was sound: everything still assigned and closed.
    assert_eq!(result.counts.assigned, result.counts.scheduled);
}

#[tokio::test]
async fn an_unreachable_target_is_reported_before_anything_runs() {
    let results = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = shipped("smoke");
    let mut args = args(&path, results.path());
    args.start = false;
    args.no_auth = true;
    args.connectors = Some(format!("http://127.0.0.1:{port}"));
    args.router = args.connectors.clone();
    args.capacity = args.connectors.clone();
    let scenario = Scenario::load(&path).unwrap();
    let started = std::time::Instant::now();
    let err = cli::execute(&args, scenario, &path).await.unwrap_err();
    assert!(cli::is_unreachable(&err), "{err:#}");
    assert!(err.to_string().starts_with(&format!("cannot reach connectors at http://127.0.0.1:{port}")), "{err:#}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(std::fs::read_dir(results.path()).unwrap().count(), 0, "nothing written");
    assert_eq!(cli::run(args).await, cli::EXIT_TARGET);
}

#[test]
fn bad_scenario_files_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let base = std::fs::read_to_string(shipped("smoke").join("scenario.toml")).unwrap();
    for (from, to, field) in [
        ("seed = 1", "seed = 1\nsede = 2", "unknown field `sede`"),
        ("rate = 30", "rate = -30", "arrival.rate: must be a number > 0"),
        (r#"skills = ["support"]"#, r#"skills = ["billing"]"#, "agents[1].skills[0]: unknown skill \"billing\""),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let err = Scenario::load(&file).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert!(err.contains("bad.toml"), "{err}");
        assert_eq!(cli::check(&file.display().to_string()), cli::EXIT_BAD_INPUT);
    }
}

#[test]
fn bad_channels_and_velocity_rules_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let base = std::fs::read_to_string(shipped("priority").join("scenario.toml")).unwrap();
    for (from, to, field) in [
        (
            r#"channel = "whatsapp", weight"#,
            r#"channel = "telegram", weight"#,
            "channels[1].channel: unknown channel \"telegram\"",
        ),
        (
            "multiplier = 4.0",
            "multiplier = 400.0",
            "routing.velocity[0].multiplier: must be a number between 0.1 and 100",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let err = Scenario::load(&file).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert_eq!(cli::check(&file.display().to_string()), cli::EXIT_BAD_INPUT);
    }
}

/// Chaos options are checked before anything runs (no target, no local runner needed).
#[test]
fn bad_chaos_options_exit_2_naming_them() {
    let bin = env!("CARGO_BIN_EXE_switchyard-loadtest");
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(bin)
            .current_dir(dir.path())
            .args(["run", &shipped("smoke").display().to_string(), "--quiet"])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&["--chaos", "router", "--chaos", "zookeeper"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown component \"zookeeper\""), "{stderr}");

    let (code, stderr) = run(&["--chaos", "router", "--start"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot restart the embedded"), "{stderr}");

    // No local runner directory: nothing to restart.
    let (code, stderr) = run(&["--chaos", "router", "--chaos-start", "1s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--local-dir: no switchyard-local run in .switchyard-local"), "{stderr}");

    // smoke lasts 3 s: a first fault at 15 s would never happen.
    std::fs::create_dir(dir.path().join(".switchyard-local")).unwrap();
    std::fs::write(dir.path().join(".switchyard-local/state.json"), r#"{"base_port":17100}"#).unwrap();
    let (code, stderr) = run(&["--chaos", "router"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--chaos-start"), "{stderr}");

    let (code, stderr) = run(&["--chaos", "router", "--chaos-signal", "hup"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--chaos-signal"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing written");
}

/// A stand-in `switchyard-local` that answers `restart` with `line` and exits with `code`.
fn fake_local_runner(dir: &Path, line: &str, code: i32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("switchyard-local");
    std::fs::write(&bin, format!("#!/bin/sh\necho \"{line} $2\"\nexit {code}\n")).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(dir.join("run/state.json"), r#"{"base_port":17100}"#).unwrap();
    bin
}

/// A 6 s scenario, so a fault at 4 s leaves 4 whole seconds of baseline.
fn six_seconds(dir: &Path) -> PathBuf {
    let base = std::fs::read_to_string(shipped("smoke").join("scenario.toml")).unwrap();
    let path = dir.join("six.toml");
    std::fs::write(&path, base.replace("duration = \"3s\"", "duration = \"6s\"")).unwrap();
    path
}

/// Chaos mode end to end against `switchyard up`, with a stand-in local runner (nothing is
/// really restarted): faults are injected on schedule, cycling through the components, and
/// land in the result with the baseline; the audit still passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_faults_are_scheduled_recorded_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let up = switchyard_loadtest::target::Embedded::start(&switchyard_binary(), None, dir.path(), true).await.unwrap();
    let path = six_seconds(dir.path());
    let mut a = RunArgs::new(path.display().to_string());
    a.signing_key_file = up.signing_key_file.clone();
    a.issuer = switchyard_loadtest::auth::HARNESS_ISSUER.into();
    a.connectors = Some(up.target.connectors.clone());
    a.router = Some(up.target.router.clone());
    a.capacity = Some(up.target.capacity.clone());
    a.local_dir = Some(dir.path().join("run"));
    a.switchyard_local_bin = Some(fake_local_runner(dir.path(), "restarted", 0));
    a.chaos = vec!["router".into(), "broker".into()];
    a.chaos_start = Some(Duration::from_secs(4));
    a.chaos_every = Duration::from_secs(1);
    a.results = Some(dir.path().join("results"));
    a.quiet = true;
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&a, scenario, &path).await;
    up.stop().await.unwrap();
    let result = result.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    let chaos = result.chaos.as_ref().expect("a chaos section");
    let faults: Vec<(&str, &str)> = chaos.faults.iter().map(|f| (f.component.as_str(), f.output.as_str())).collect();
    // broker is restarted as kafka, the local runner's name for it.
    assert_eq!(faults, [("router", "restarted router"), ("broker", "restarted kafka")]);
    assert!(chaos.faults[0].at_s >= 4.0 && chaos.faults[1].at_s >= 5.0, "{chaos:?}");
    assert_eq!((chaos.baseline_s, chaos.signal.as_str()), (4, "kill"));
    assert!(chaos.baseline_p99_ms.is_some(), "{chaos:?}");
    for f in &chaos.faults {
        assert!(f.recovery_s.is_some() || !f.note.is_empty(), "{f:?}");
    }
    let html = std::fs::read_dir(dir.path().join("results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .unwrap();
    assert!(std::fs::read_to_string(html).unwrap().contains("<h2>Faults</h2>"));
}

/// A restart command that fails ends the run: exit 3 with the command's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_restart_command_fails_the_run_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let up = switchyard_loadtest::target::Embedded::start(&switchyard_binary(), None, dir.path(), false).await.unwrap();
    let fake = fake_local_runner(dir.path(), "boom: cannot restart", 1);
    let path = six_seconds(dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard-loadtest"))
        .args(["run", &path.display().to_string(), "--quiet", "--chaos", "capacity", "--chaos-start", "1s"])
        .args(["--connectors", &up.target.connectors, "--router", &up.target.router])
        .args(["--capacity", &up.target.capacity, "--no-auth"])
        .arg("--local-dir")
        .arg(dir.path().join("run"))
        .arg("--switchyard-local-bin")
        .arg(&fake)
        .arg("--results")
        .arg(dir.path().join("results"))
        .output()
        .await
        .unwrap();
    up.stop().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("restart capacity") && stderr.contains("boom: cannot restart capacity"), "{stderr}");
    assert!(!dir.path().join("results").exists(), "no result for a run that could not go on");
}
