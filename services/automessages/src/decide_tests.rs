#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use switchyard_platform::store::ConversationStatus;

use super::*;

const MIN: i64 = 60_000;

fn record(pending: PendingSide) -> ConversationRecord {
    ConversationRecord {
        conversation_id: "c1".into(),
        consumer_id: "u1".into(),
        channel: 1,
        skill_id: "sales".into(),
        language: "en".into(),
        status: ConversationStatus::Open,
        opened_at_ms: 0,
        closed_at_ms: 0,
        pending,
        last_consumer_message_ms: 0,
        last_agent_message_ms: 0,
        waiting_since_ms: 0,
        readers: Vec::new(),
        managers: Vec::new(),
        profile: BTreeMap::new(),
        skill_reason: String::new(),
        skill_detail: String::new(),
        first_conversation: false,
    }
}

fn route(status: RouteStatus, at_ms: i64) -> Route {
    Route {
        agent_id: if status == RouteStatus::Assigned { "ann".into() } else { String::new() },
        version: 1,
        assigned_at_ms: at_ms,
        ..Route::new("c1", "sales", status, at_ms)
    }
}

fn facts(record: ConversationRecord, route: Option<Route>) -> Facts {
    Facts {
        now_ms: 30 * MIN,
        record,
        route,
        skill_id: "sales".into(),
        closed_until_ms: None,
        due_ms: Some(45 * MIN),
        last_auto_close_ms: None,
    }
}

#[test]
fn the_agents_silence_starts_at_the_assignment_or_the_consumers_first_message_after_the_reply_r14_13() {
    let mut r = record(PendingSide::Agent);
    r.waiting_since_ms = 5 * MIN;
    // (a) nothing written since the assignment at 10: regardless of consumer messages.
    assert_eq!(agent_silence(&facts(r.clone(), Some(route(RouteStatus::Assigned, 10 * MIN)))), Ok((1, 10 * MIN)));
    // (b) the agent wrote at 12, the consumer at 15 and 20: from 15.
    r.last_agent_message_ms = 12 * MIN;
    r.waiting_since_ms = 15 * MIN;
    r.last_consumer_message_ms = 20 * MIN;
    assert_eq!(agent_silence(&facts(r.clone(), Some(route(RouteStatus::Assigned, 10 * MIN)))), Ok((1, 15 * MIN)));
    // The agent wrote last: no silence. Queued: none either.
    r.pending = PendingSide::Consumer;
    r.last_agent_message_ms = 25 * MIN;
    assert!(agent_silence(&facts(r.clone(), Some(route(RouteStatus::Assigned, 10 * MIN)))).is_err());
    assert!(agent_silence(&facts(record(PendingSide::Agent), Some(route(RouteStatus::Queued, 0)))).is_err());
}

#[test]
fn the_consumers_silence_while_assigned_or_after_a_transfer_r14_15() {
    let mut r = record(PendingSide::Consumer);
    r.last_agent_message_ms = 3 * MIN;
    assert_eq!(consumer_silence(&facts(r.clone(), Some(route(RouteStatus::Assigned, MIN)))), Ok(3 * MIN));
    let mut transferred = route(RouteStatus::Queued, 4 * MIN);
    transferred.queue_reason = QueueReason::Transfer;
    assert_eq!(consumer_silence(&facts(r.clone(), Some(transferred))), Ok(3 * MIN), "tolerated after a transfer");
    let mut returned = route(RouteStatus::Queued, 4 * MIN);
    returned.queue_reason = QueueReason::BackToQueue;
    assert!(consumer_silence(&facts(r.clone(), Some(returned))).is_err());
    assert!(consumer_silence(&facts(record(PendingSide::Agent), Some(route(RouteStatus::Assigned, MIN)))).is_err());
}

#[test]
fn the_queue_stay_starts_when_it_entered_the_queue_r14_14() {
    assert_eq!(queue_wait(&facts(record(PendingSide::Agent), Some(route(RouteStatus::Queued, 7 * MIN)))), Ok(7 * MIN));
    assert_eq!(queue_wait(&facts(record(PendingSide::Agent), None)), Ok(0), "not routed yet: since the open");
    assert!(queue_wait(&facts(record(PendingSide::Agent), Some(route(RouteStatus::Assigned, MIN)))).is_err());
}

#[test]
fn the_welcome_by_history_and_hours_r14_12_r14_16() {
    let mut f = facts(record(PendingSide::Agent), None);
    f.record.first_conversation = true;
    assert_eq!(welcome(&f), Ok(Event::FirstTimeWelcome));
    f.closed_until_ms = Some(60 * MIN);
    assert_eq!(welcome(&f), Ok(Event::FirstTimeOffHoursWelcome));
    f.record.first_conversation = false;
    assert_eq!(welcome(&f), Ok(Event::OffHoursWelcome));
    f.record.opened_at_ms = WELCOME_AFTER_AUTO_CLOSE_MS;
    f.last_auto_close_ms = Some(1);
    assert!(welcome(&f).unwrap_err().contains("R14.16"));
    f.last_auto_close_ms = Some(0);
    assert_eq!(welcome(&f), Ok(Event::OffHoursWelcome), "48 h after: welcomed again");
}

#[test]
fn a_text_with_the_response_time_is_suppressed_when_overdue_r14_5() {
    let settings = Settings { enabled: true, ..Default::default() };
    let mut f = facts(record(PendingSide::Agent), None);
    let Outcome::Send { text, .. } = compose(&settings, &f, Event::Welcome, None, false, None) else { panic!() };
    assert!(text.ends_with("within 15 minutes."), "{text}");
    f.due_ms = Some(f.now_ms);
    assert!(
        matches!(compose(&settings, &f, Event::Welcome, None, false, None), Outcome::Skip(why) if why.contains("R14.5"))
    );
    f.due_ms = None;
    assert!(matches!(compose(&settings, &f, Event::Welcome, None, false, None), Outcome::Skip(_)));
    assert!(
        matches!(compose(&settings, &f, Event::WaitingInQueue, None, false, None), Outcome::Send { .. }),
        "no macro: sent"
    );
}

#[test]
fn nothing_is_sent_publicly_on_social_channels() {
    let settings = Settings { enabled: true, ..Default::default() };
    let mut f = facts(record(PendingSide::Agent), None);
    f.record.channel = Channel::Social as i32;
    assert!(
        matches!(compose(&settings, &f, Event::Welcome, None, false, None), Outcome::Send { .. }),
        "private messages"
    );
    f.record.channel = Channel::SocialPublic as i32;
    let outcome = compose(&settings, &f, Event::Welcome, None, false, None);
    assert!(matches!(outcome, Outcome::Skip(why) if why.contains("public")));
}
