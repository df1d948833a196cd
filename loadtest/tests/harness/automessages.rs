//! The automatic-message scenario against `switchyard up` (part of the harness tests, so it runs
//! alone like them): through a backlog, the welcome, waiting in queue (R14.14) and agent
//! non-responsive (R14.13) come exactly when due; an event switched on at the target that the
//! audit believes off fails the audit naming the conversations; bad `[automessages]` settings
//! are refused before anything runs.

use std::time::Duration;

use switchyard_loadtest::cli;
use switchyard_loadtest::result::{Check, RunResult};
use switchyard_loadtest::scenario::{Arrival, Scenario};
use switchyard_proto::automessages::v1::AutomaticMessageEvent;

use super::{args, shipped};

fn check<'a>(result: &'a RunResult, name: &str) -> &'a Check {
    result.audit.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name:?}"))
}

/// About 70 s: 50 conversations, the last waiting over 20 s, four or so held 27 s by the slow
/// agents. Both sides of each timer occur, and the audit passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_backlog_each_automatic_message_comes_exactly_when_due() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("automessages");
    let scenario = Scenario::load(&path).unwrap();
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    let failed: Vec<_> = result.audit.checks.iter().filter(|c| !c.passed).collect();
    assert!(result.audit.passed, "audit failed: {failed:#?}");
    assert_eq!(result.error_total(), 0, "{:?}", result.errors);
    let c = &result.counts;
    assert_eq!((c.assigned, c.closed), (c.scheduled, c.scheduled));
    let a = result.automessages.as_ref().expect("an automessages section");
    assert_eq!(a.welcome_due, c.scheduled, "{a:?}");
    assert_eq!(a.messages.get("first_time_welcome"), Some(&c.scheduled), "first-time consumers: {a:?}");
    let queue = a.waiting_in_queue.as_ref().unwrap();
    assert!(queue.must_fire > 0 && queue.must_not_fire > 0, "both sides of the queue timer: {queue:?}");
    assert!(queue.fired >= queue.must_fire, "{queue:?}");
    let agent = a.agent_non_responsive.as_ref().unwrap();
    assert!(agent.must_fire > 0 && agent.must_not_fire > 0, "both sides of the agent timer: {agent:?}");
    assert!(agent.fired >= agent.must_fire, "{agent:?}");
    assert_eq!(a.messages.get("waiting_in_queue"), Some(&queue.fired), "{a:?}");
    assert_eq!(a.messages.get("agent_non_responsive"), Some(&agent.fired), "{a:?}");
    assert_eq!(a.messages.len(), 3, "nothing else: {a:?}");
    for name in [
        "automatic messages: a welcome per conversation",
        "automatic messages: the welcome comes first",
        "automatic messages: waiting in queue exactly when the wait passed its timer",
        "automatic messages: agent non-responsive exactly when the agent stayed silent past its timer",
        "automatic messages: none before its timer",
        "automatic messages: none of an event switched off",
        "automatic messages: once per trigger",
        "automatic messages: in transcript order",
    ] {
        assert!(check(&result, name).passed, "{name}");
    }
    // The summary files carry the numbers.
    let summary = std::fs::read_dir(results.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .expect("a markdown summary");
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains("| first\\_time\\_welcome |") && summary.contains("| waiting\\_in\\_queue | 15 s |"),
        "{summary}"
    );
}

/// Negative control: the harness switches on "agent accepts" (R14.1: every assignment sends
/// it) while the audit believes it off. Short and without slow agents or a backlog (about 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_on_at_the_target_that_the_audit_believes_off_fails_naming_the_conversations() {
    let results = tempfile::tempdir().unwrap();
    let path = shipped("automessages");
    let mut scenario = Scenario::load(&path).unwrap();
    scenario.duration = Duration::from_secs(2);
    scenario.arrival = Arrival::Constant { rate: 2.0 };
    for group in &mut scenario.agents {
        group.agent_think = None;
    }
    scenario.automessages.as_mut().unwrap().also_on = vec![AutomaticMessageEvent::AgentAccepts];
    let result = cli::execute(&args(&path, results.path()), scenario, &path).await.unwrap();

    assert!(!result.audit.passed);
    let off = check(&result, "automatic messages: none of an event switched off");
    assert!(!off.passed, "{off:?}");
    assert_eq!(off.detail, format!("{} messages", result.counts.assigned), "one per assignment: {off:?}");
    assert!(off.ids.iter().all(|id| id.ends_with(" (\"[agent_accepts]\")")), "{:?}", off.ids);
    assert!(!off.ids[0].starts_with("consumer"), "a conversation id: {:?}", off.ids);
    // Everything else held, but for the order: "agent accepts" follows the assignment, which
    // comes on another topic than the open and may overtake its welcome.
    let others: Vec<&Check> = result
        .audit
        .checks
        .iter()
        .filter(|c| !c.passed && c.name != off.name && c.name != "automatic messages: the welcome comes first")
        .collect();
    assert!(others.is_empty(), "{others:#?}");
}

#[test]
fn bad_automessages_settings_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let base = std::fs::read_to_string(shipped("automessages").join("scenario.toml")).unwrap();
    for (from, to, field) in [
        (
            r#"waiting_in_queue = "15s""#,
            r#"waiting_in_queue = "14s""#,
            "automessages.waiting_in_queue: must be 15s..=7days",
        ),
        (
            r#"agent_non_responsive = "20s""#,
            r#"agent_non_responsive = "20s 500ms""#,
            "automessages.agent_non_responsive: must be whole seconds",
        ),
        (r#"slack = "3s""#, r#"slack = "20s""#, "automessages.slack: must be shorter than waiting_in_queue"),
        ("welcome = true", "welcome = 1", "invalid type"),
        (
            "agent_replies = 1",
            "agent_replies = 1\nconsumer_messages = 1\nconsumer_gap = \"1s\"",
            "automessages.agent_non_responsive: needs script.consumer_messages = 0",
        ),
        (r#"agent_think = "27s""#, r#"agent_think = "2h""#, "agents[1].agent_think: at most 1h"),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&file, base.replace(from, to)).unwrap();
        let err = Scenario::load(&file).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
        assert_eq!(cli::check(&file.display().to_string()), cli::EXIT_BAD_INPUT);
    }
}
