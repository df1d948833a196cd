//! The capacity scenarios against `switchyard up` (part of the harness tests, so they run alone
//! like them): `inactive` (weighted load, R8.1-R8.6) and `warmup` (R8.12-R8.14), a target whose
//! headroom is larger than the scenario says failing the weighted check, and bad `[capacity]`
//! settings refused before anything runs.

use switchyard_loadtest::cli;
use switchyard_loadtest::result::RunResult;
use switchyard_loadtest::scenario::Scenario;

use super::{args, shipped};

fn check<'a>(result: &'a RunResult, name: &str) -> &'a switchyard_loadtest::result::Check {
    result.audit.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name:?}"))
}

/// R8.3: consumers go quiet after the answer, so conversations weigh 0.1 after 2 s and agents
/// with max 2 hold more than 2 while their weighted load stays within max + 0.5 (R8.6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_conversations_let_agents_hold_more_than_max_within_weighted_capacity() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("inactive");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    let beyond = check(&result, "agents held more than their maximum (inactive weights)");
    assert!(beyond.detail.contains("(held "), "{beyond:?}");
    assert!(check(&result, "no agent over its maximum (weighted load)").passed);
    assert!(result.audit.checks.iter().all(|c| c.name != "no agent over its maximum"), "weighted replaces counted");
    let c = &result.counts;
    assert_eq!((c.assigned, c.closed, c.auto_closed), (c.scheduled, c.scheduled, 0));
}

/// A target that lets agents go 1.5 past max while the scenario says 0.5, with two agents so
/// that they fill up: the weighted check sees it from the agents' side and names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_past_max_plus_headroom_fails_the_weighted_check() {
    let dir = tempfile::tempdir().unwrap();
    let scenario_dir = dir.path().join("inactive-short");
    std::fs::create_dir(&scenario_dir).unwrap();
    let shipped_file = std::fs::read_to_string(shipped("inactive").join("scenario.toml")).unwrap();
    let short = shipped_file.replace(r#"duration = "30s""#, r#"duration = "12s""#).replace("count = 10", "count = 2");
    assert!(short.contains("count = 2"));
    std::fs::write(scenario_dir.join("scenario.toml"), short).unwrap();
    std::fs::write(scenario_dir.join("switchyard.toml"), "[router]\nheadroom = 1.5\n").unwrap();
    let scenario = Scenario::load(&scenario_dir).unwrap();
    let result = cli::execute(&args(&scenario_dir, dir.path()), scenario, &scenario_dir).await.unwrap();

    let over = check(&result, "no agent over its maximum (weighted load)");
    assert!(!over.passed, "{over:?}");
    assert_eq!(over.invariant, 2);
    assert!(over.ids[0].starts_with("sales-") && over.ids[0].contains("max 2 + headroom 0.5"), "{:?}", over.ids);
}

/// R8.12: agents logging in during a backlog get one conversation at once and one more every
/// 15 s until their max, never faster (about 100 s: the steps and the 35 s holds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_logging_in_during_a_backlog_are_fed_one_per_warm_up_interval() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("warmup");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    assert!(check(&result, "warm-up: one more conversation per interval after login").passed);
    assert!(check(&result, "warm-up: agents logging in during a backlog are fed up to max").passed);
    let c = &result.counts;
    assert_eq!((c.assigned, c.closed), (c.scheduled, c.scheduled));
}

#[test]
fn bad_capacity_settings_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let inactive = std::fs::read_to_string(shipped("inactive").join("scenario.toml")).unwrap();
    let warmup = std::fs::read_to_string(shipped("warmup").join("scenario.toml")).unwrap();
    for (base, from, to, field) in [
        (
            &inactive,
            "inactive_weight = 0.1",
            "inactive_weight = 1.5",
            "capacity.inactive_weight: must be 0..=active_weight",
        ),
        (&inactive, "active_weight = 1.0", "active_weight = 0", "capacity.active_weight: must be 0.01..=10"),
        (
            &inactive,
            "agent_replies = 1",
            "agent_replies = 1\nconsumer_messages = 2\nconsumer_gap = \"1s\"",
            "capacity.inactive_weight: lower than active_weight needs script.consumer_messages = 0",
        ),
        (&warmup, r#"interval = "15s""#, r#"interval = "10s""#, "capacity.warmup.interval: must be 15s..=1h"),
        (
            &warmup,
            "inactive_weight = 1.0",
            "inactive_weight = 0.5",
            "capacity.warmup: needs inactive_weight = active_weight",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let err = Scenario::load(&file).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert_eq!(cli::check(&file.display().to_string()), cli::EXIT_BAD_INPUT);
    }
}
