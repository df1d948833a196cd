//! The transfers scenario against `switchyard up` (part of the harness tests, so it runs alone
//! like them), and its settings checked before anything runs.

use switchyard_loadtest::cli;
use switchyard_loadtest::scenario::Scenario;

use super::{args, shipped};

/// The transfers scenario: after their first reply agents transfer a quarter of the
/// conversations to billing and half to another agent (ONLINE, BACK_SOON until 10 s, BACK_SOON
/// to the end, or AWAY). Every accepted transfer is explained: each to an agent served by that
/// agent or, after the skill's maximum wait (1 minute, the least the router allows: this test
/// takes about 70 s), by another agent of the skill; each to billing served there; the ones to
/// the AWAY agent refused (FAILED_PRECONDITION, counted, not a failed call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_served_by_the_suggested_agent_or_time_out_to_the_skill() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("transfers");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    let c = &result.counts;
    assert_eq!((c.assigned, c.closed), (c.scheduled, c.scheduled));
    // Two replies each, whoever sent them.
    assert_eq!((c.agent_replies_sent, c.agent_replies_delivered), (2 * c.scheduled, 2 * c.scheduled));
    assert_eq!(result.error_total(), 0, "{:?}", result.errors);
    let t = result.transfers.as_ref().expect("a transfers section");
    assert_eq!((t.explained, t.unexplained), (t.to_agent + t.to_skill, 0), "{t:?}");
    assert_eq!(t.served_by_suggested + t.timed_out + t.timed_out_then_suggested, t.to_agent, "{t:?}");
    assert_eq!((t.served_on_skill, t.closed_waiting), (t.to_skill, 0), "{t:?}");
    assert!(t.to_skill > 0 && t.to_agent_refused > 0, "{t:?}");
    assert_eq!(t.refused_by_code.keys().collect::<Vec<_>>(), ["FAILED_PRECONDITION"], "{t:?}");
    // Some waited for a late agent to come back; only agents left BACK_SOON timed out.
    assert!(t.served_by_suggested_from.get("back_soon").is_some_and(|n| *n > 0), "{t:?}");
    assert!(t.timed_out > 0, "{t:?}");
    assert_eq!(t.timed_out_from.keys().collect::<Vec<_>>(), ["back_soon"], "{t:?}");
    for check in switchyard_loadtest::transfers::CHECKS {
        assert!(result.audit.checks.iter().any(|c| c.name == check && c.passed), "{check}");
    }
}

/// Transfer settings are checked before anything runs, naming the field.
#[test]
fn bad_transfer_settings_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let base = std::fs::read_to_string(shipped("transfers").join("scenario.toml")).unwrap();
    for (from, to, field) in [
        (r#"max_wait = "1m""#, r#"max_wait = "10s""#, "transfers.max_wait: must be between 1m and 7d (got 10s)"),
        (r#"drain_timeout = "100s""#, r#"drain_timeout = "30s""#, "drain_timeout: transfers to group \"gone\""),
        (
            "to_agent_share = 0.5",
            "to_agent_share = 0.9",
            "transfers: to_skill_share + to_agent_share must be at most 1",
        ),
        (r#""gone", "away"]"#, r#""gone", "nobody"]"#, "transfers.to_agents[3]: unknown agent group \"nobody\""),
        ("agent_replies = 2", "agent_replies = 1", "script.agent_replies: must be at least 2 with [transfers]"),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let err = Scenario::load(&file).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert_eq!(cli::check(&file.display().to_string()), cli::EXIT_BAD_INPUT);
    }
}
