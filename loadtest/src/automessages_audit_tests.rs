use super::*;
use crate::scenario::automessages::marker;

const S: u64 = 1_000_000;

/// Welcome on, waiting in queue after 15 s, agent non-responsive after 20 s, slack 3 s.
fn section() -> Automessages {
    Automessages {
        welcome: true,
        waiting_in_queue: Some(Duration::from_secs(15)),
        agent_non_responsive: Some(Duration::from_secs(20)),
        slack: Duration::from_secs(3),
        also_on: Vec::new(),
    }
}

/// Conversation `n` opened at 0, assigned (agent 0) at `assigned`, first reply at `reply`,
/// close issued at `close`, with these system messages (text, read at), in stream order.
fn conv(n: u32, assigned: u64, reply: Option<u64>, close: u64, messages: &[(&str, u64)]) -> ConvObs {
    let id = format!("conv-{n}");
    ConvObs {
        conversation_ids: vec![id.clone()],
        assignments: vec![(0, assigned)],
        first_replies: reply.map(|r| vec![(0, r)]).unwrap_or_default(),
        close_issued_us: Some(close),
        system: messages
            .iter()
            .enumerate()
            .map(|(k, (text, seen_us))| SystemSeen {
                conversation_id: id.clone(),
                text: (*text).to_owned(),
                sequence: 2 + k as u64,
                sent_at_ms: 1_000 + (*seen_us / 1000) as i64,
                seen_us: *seen_us,
            })
            .collect(),
        ..ConvObs::default()
    }
}

fn welcome() -> String {
    marker(Event::FirstTimeWelcome)
}
fn queue() -> String {
    marker(Event::WaitingInQueue)
}
fn silent() -> String {
    marker(Event::AgentNonResponsive)
}

fn failed(checks: &[Check]) -> Vec<(&str, &[String])> {
    checks.iter().filter(|c| !c.passed).map(|c| (c.name.as_str(), c.ids.as_slice())).collect()
}

/// The one failed check, with its ids.
fn only_failure(convs: &[ConvObs], section: &Automessages) -> (String, Vec<String>) {
    let (checks, _) = judge(convs, section);
    let failed = failed(&checks);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    (failed[0].0.to_owned(), failed[0].1.to_vec())
}

const QUEUE_CHECK: &str = "automatic messages: waiting in queue exactly when the wait passed its timer";
const AGENT_CHECK: &str =
    "automatic messages: agent non-responsive exactly when the agent stayed silent past its timer";

#[test]
fn a_run_that_follows_the_rules_passes_and_is_counted() {
    let (w, q, a) = (welcome(), queue(), silent());
    let convs = [
        // Assigned at once, answered in 2 s: the welcome only.
        conv(1, S / 10, Some(2 * S), 10 * S, &[(&w, S / 20)]),
        // Waited 20 s: the queue message at 15.5 s; answered in 2 s.
        conv(2, 20 * S, Some(22 * S), 30 * S, &[(&w, S / 20), (&q, 15 * S + S / 2)]),
        // Assigned at once, the agent silent for 25 s: the agent message at 21 s.
        conv(3, S, Some(26 * S), 30 * S, &[(&w, S / 20), (&a, 21 * S)]),
        // Waited 16 s (within the slack): either way.
        conv(4, 16 * S, Some(16 * S + 5_000), 16 * S + 15_000, &[(&w, S / 20)]),
        // Closed within 20 ms: no welcome due.
        conv(5, 3_000, Some(8_000), 18_000, &[]),
    ];
    let (checks, summary) = judge(&convs, &section());
    assert!(failed(&checks).is_empty(), "{:#?}", failed(&checks));
    assert_eq!(checks.len(), 8);
    assert_eq!(
        summary.messages,
        BTreeMap::from([
            ("agent_non_responsive".to_owned(), 1),
            ("first_time_welcome".to_owned(), 4),
            ("waiting_in_queue".to_owned(), 1)
        ])
    );
    assert_eq!(summary.welcome_due, 4);
    let q = Timed { timer_s: 15, must_fire: 1, must_not_fire: 3, either: 1, fired: 1 };
    assert_eq!(summary.waiting_in_queue, Some(q));
    let a = Timed { timer_s: 20, must_fire: 1, must_not_fire: 4, either: 0, fired: 1 };
    assert_eq!(summary.agent_non_responsive, Some(a));
    let text = summary.summary();
    assert!(text.contains("first_time_welcome 4") && text.contains("waiting_in_queue (15 s): fired in 1"), "{text}");
}

#[test]
fn r14_1_a_conversation_open_for_a_while_without_a_welcome_is_named() {
    let convs = [conv(7, S, Some(2 * S), 10 * S, &[])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, "automatic messages: a welcome per conversation");
    assert_eq!(ids, ["conv-7 (open 10.0 s, no welcome)"]);
}

#[test]
fn a_welcome_after_another_system_message_is_named() {
    let convs = [conv(8, 20 * S, Some(21 * S), 30 * S, &[(&queue(), 15 * S + S / 2), (&welcome(), 16 * S)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, "automatic messages: the welcome comes first");
    assert_eq!(ids, ["conv-8 (\"[waiting_in_queue]\" before the welcome)"]);
}

#[test]
fn r14_14_waiting_in_queue_missing_after_a_long_wait_or_sent_after_a_short_one_is_named() {
    let w = welcome();
    let convs = [conv(9, 19 * S, Some(20 * S), 30 * S, &[(&w, S / 20)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!((name.as_str(), ids[0].as_str()), (QUEUE_CHECK, "conv-9 (waited 19.0 s for an agent, no message)"));
    let convs = [conv(10, 11 * S, Some(12 * S), 30 * S, &[(&w, S / 20), (&queue(), 15 * S)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, QUEUE_CHECK);
    assert_eq!(ids, ["conv-10 (waited 11.0 s for an agent, yet the message came)"]);
}

#[test]
fn r14_13_agent_non_responsive_missing_after_a_long_silence_or_sent_after_a_reply_is_named() {
    let w = welcome();
    let convs = [conv(11, S, Some(25 * S), 30 * S, &[(&w, S / 20)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, AGENT_CHECK);
    assert_eq!(ids, ["conv-11 (the agent replied 24.0 s after the assignment, no message)"]);
    // Never replied, closed 30 s after the assignment: silent all along.
    let convs = [conv(12, S, None, 31 * S, &[(&w, S / 20)])];
    let (_, ids) = only_failure(&convs, &section());
    assert_eq!(
        ids,
        ["conv-12 (the agent closed or transferred without a reply 30.0 s after the assignment, no message)"]
    );
    let convs = [conv(13, S, Some(10 * S), 30 * S, &[(&w, S / 20), (&silent(), 21 * S)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, AGENT_CHECK);
    assert_eq!(ids, ["conv-13 (the agent replied 9.0 s after the assignment, yet the message came)"]);
}

#[test]
fn a_timed_message_read_before_its_timer_is_named() {
    // Waited 30 s (must fire), but the message came 5 s after the open.
    let convs = [conv(14, 30 * S, Some(31 * S), 40 * S, &[(&welcome(), S / 20), (&queue(), 5 * S)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, "automatic messages: none before its timer");
    assert_eq!(ids, ["conv-14 (waiting_in_queue read 5.0 s after the open)"]);
}

#[test]
fn a_message_of_a_switched_off_event_or_not_of_the_harness_is_named() {
    let accepts = marker(Event::AgentAccepts);
    let convs = [conv(15, S, Some(2 * S), 10 * S, &[(&welcome(), S / 20), (&accepts, S)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, "automatic messages: none of an event switched off");
    assert_eq!(ids, ["conv-15 (\"[agent_accepts]\")"]);
    let built_in = "You are now connected to a-0.";
    let convs = [conv(16, S, Some(2 * S), 10 * S, &[(&welcome(), S / 20), (built_in, S)])];
    let (_, ids) = only_failure(&convs, &section());
    assert_eq!(ids, [format!("conv-16 ({built_in:?})")]);
    // With the welcome off, a welcome is a message of a switched-off event.
    let off = Automessages { welcome: false, ..section() };
    let convs = [conv(17, S, Some(2 * S), 10 * S, &[(&welcome(), S / 20)])];
    let (name, _) = only_failure(&convs, &off);
    assert_eq!(name, "automatic messages: none of an event switched off");
}

#[test]
fn a_message_repeated_for_one_trigger_is_named() {
    let w = welcome();
    let convs = [conv(18, S, Some(2 * S), 10 * S, &[(&w, S / 20), (&marker(Event::Welcome), S / 10)])];
    let (name, ids) = only_failure(&convs, &section());
    assert_eq!(name, "automatic messages: once per trigger");
    assert_eq!(ids, ["conv-18 (welcome 2 times, 1 triggers)"]);
    let q = queue();
    let convs = [conv(19, 20 * S, Some(21 * S), 30 * S, &[(&w, S / 20), (&q, 16 * S), (&q, 17 * S)])];
    let (_, ids) = only_failure(&convs, &section());
    assert_eq!(ids, ["conv-19 (waiting_in_queue 2 times, 1 triggers)"]);
}

#[test]
fn messages_out_of_transcript_order_are_named() {
    let mut c = conv(20, 20 * S, Some(21 * S), 30 * S, &[(&welcome(), S / 20), (&queue(), 16 * S)]);
    c.system[1].sequence = 1;
    let (name, ids) = only_failure(&[c.clone()], &section());
    assert_eq!(name, "automatic messages: in transcript order");
    assert!(ids[0].starts_with("conv-20 (\"[first_time_welcome]\" sequence 2"), "{ids:?}");
    c.system[1].sequence = 3;
    c.system[1].sent_at_ms = 10;
    let (name, _) = only_failure(&[c], &section());
    assert_eq!(name, "automatic messages: in transcript order");
}

#[test]
fn messages_of_a_setup_conversation_of_the_same_consumer_are_left_out() {
    let mut c = conv(21, S, Some(2 * S), 10 * S, &[(&welcome(), S / 20)]);
    let mut earlier = c.system[0].clone();
    earlier.conversation_id = "conv-setup".into();
    c.system.insert(0, earlier);
    let (checks, summary) = judge(&[c], &section());
    assert!(failed(&checks).is_empty(), "{:#?}", failed(&checks));
    assert_eq!(summary.messages["first_time_welcome"], 1);
}
