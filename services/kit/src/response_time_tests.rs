#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use switchyard_hours::Timestamp;

use super::*;

const MIN: i64 = 60_000;

fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
}

/// Open 08:00-20:00 every day in New York; response times 15 min default, 10 min first time.
fn day_shift() -> RoutingConfig {
    let day = r#"{"status": "custom", "shifts": [{"start": 480, "end": 1200}]}"#;
    let doc = format!(
        r#"{{"account": {{"response_times": {{"default_ms": 900000, "first_time_ms": 600000}}}},
            "hours": {{"mode": {{"mode": "automatic"}}, "default_workdays_id": "day",
              "workdays": {{"day": {{"name": "day", "time_zone": "America/New_York", "days": {{
                "monday": {day}, "tuesday": {day}, "wednesday": {day}, "thursday": {day},
                "friday": {day}, "saturday": {day}, "sunday": {day}}}}}}}}}}}"#
    );
    RoutingConfig::from_json(doc.as_bytes()).unwrap()
}

fn record(opened_ms: i64, pending: PendingSide) -> ConversationRecord {
    ConversationRecord {
        conversation_id: "c1".into(),
        consumer_id: "u1".into(),
        channel: 1,
        skill_id: "sales".into(),
        language: "en".into(),
        status: ConversationStatus::Open,
        opened_at_ms: opened_ms,
        closed_at_ms: 0,
        pending,
        last_consumer_message_ms: opened_ms,
        last_agent_message_ms: 0,
        waiting_since_ms: opened_ms,
        readers: Vec::new(),
        managers: Vec::new(),
        profile: BTreeMap::new(),
        skill_reason: String::new(),
        skill_detail: String::new(),
        first_conversation: false,
    }
}

fn route(status: RouteStatus, queued_ms: i64, due_ms: i64, sla: &str) -> Route {
    Route {
        agent_id: if status == RouteStatus::Assigned { "a1".into() } else { String::new() },
        version: 1,
        response_due_ms: due_ms,
        queue_score: due_ms,
        sla: sla.into(),
        ..Route::new("c1", "sales", status, queued_ms)
    }
}

#[test]
fn nothing_is_due_once_the_agent_wrote_last_or_it_closed_r10_4() {
    let config = day_shift();
    let answered = record(at("2026-12-01T10:00:00-05:00"), PendingSide::Consumer);
    assert_eq!(expected_response(&config, &answered, None), None);
    let mut closed = record(at("2026-12-01T10:00:00-05:00"), PendingSide::Agent);
    closed.status = ConversationStatus::Closed;
    assert_eq!(expected_response(&config, &closed, None), None);
}

#[test]
fn an_open_at_midnight_not_routed_yet_is_due_after_the_opening_r10_10() {
    let config = day_shift();
    let mut new = record(at("2026-12-01T00:00:00-05:00"), PendingSide::Agent);
    assert_eq!(expected_response(&config, &new, None), Some((at("2026-12-01T08:15:00-05:00"), "default".into())));
    new.first_conversation = true;
    let first = expected_response(&config, &new, None);
    assert_eq!(first, Some((at("2026-12-01T08:10:00-05:00"), "first_time".into())));
}

#[test]
fn queued_it_is_the_queues_due_time_and_assigned_a_later_message_restarts_it_r10_4() {
    let config = day_shift();
    let opened = at("2026-12-01T19:00:00-05:00");
    let queued = route(RouteStatus::Queued, opened, opened + 15 * MIN, "default");
    let mut conversation = record(opened, PendingSide::Agent);
    assert_eq!(expected_response(&config, &conversation, Some(&queued)), Some((opened + 15 * MIN, "default".into())));
    // Assigned, the consumer writes again at 19:55 after the agent's answer: 5 minutes
    // today, 10 tomorrow from 08:00 (R10.11).
    let assigned = route(RouteStatus::Assigned, opened, opened + 15 * MIN, "default");
    conversation.last_consumer_message_ms = at("2026-12-01T19:55:00-05:00");
    let due = expected_response(&config, &conversation, Some(&assigned));
    assert_eq!(due, Some((at("2026-12-02T08:10:00-05:00"), "default".into())));
}

#[test]
fn a_manual_response_time_holds_until_it_passes_r10_8() {
    let config = day_shift();
    let opened = at("2026-12-01T10:00:00-05:00");
    let manual_due = at("2026-12-01T14:00:00-05:00");
    let assigned = route(RouteStatus::Assigned, opened, manual_due, MANUAL_SLA);
    let mut conversation = record(opened, PendingSide::Agent);
    conversation.last_consumer_message_ms = at("2026-12-01T11:00:00-05:00");
    assert_eq!(expected_response(&config, &conversation, Some(&assigned)), Some((manual_due, MANUAL_SLA.into())));
    conversation.last_consumer_message_ms = at("2026-12-01T15:00:00-05:00");
    let after = expected_response(&config, &conversation, Some(&assigned));
    assert_eq!(after, Some((at("2026-12-01T15:15:00-05:00"), "default".into())));
}

/// R11.9: switching the account to manual mode mid-conversation changes the ETTR at once, for a
/// queued conversation and for one assigned and not answered yet; the stored due time (the
/// queue's order) is not what the consumer is told any more.
#[test]
fn switching_to_manual_mode_changes_the_ettr_at_once_r11_9_r11_10() {
    let automatic = day_shift();
    let opened = at("2026-12-01T19:55:00-05:00");
    // Queued at 19:55 in automatic mode: 5 minutes today, 10 tomorrow from 08:00 (R10.11). R11.10
    // is fixed, not replicated: begun in working hours, the wait still stops at the shift's end.
    let stored_due = at("2026-12-02T08:10:00-05:00");
    let conversation = record(opened, PendingSide::Agent);
    let queued = route(RouteStatus::Queued, opened, stored_due, "default");
    assert_eq!(expected_response(&automatic, &conversation, Some(&queued)), Some((stored_due, "default".into())));
    let mut online = automatic.clone();
    online.hours.mode = switchyard_hours::Mode::Manual(switchyard_hours::ManualStatus::Online);
    let now_online = Some((at("2026-12-01T20:10:00-05:00"), "default".into()));
    assert_eq!(expected_response(&online, &conversation, Some(&queued)), now_online);
    let assigned = route(RouteStatus::Assigned, opened, stored_due, "default");
    assert_eq!(expected_response(&online, &conversation, Some(&assigned)), now_online);
    // Off hours until 21:00: the whole response time counts from then.
    let mut off = automatic.clone();
    let until = "2026-12-01T21:00:00-05:00".parse::<Timestamp>().unwrap();
    off.hours.mode =
        switchyard_hours::Mode::Manual(switchyard_hours::ManualStatus::OffHours { next_shift_start: until });
    let due = expected_response(&off, &conversation, Some(&queued));
    assert_eq!(due, Some((at("2026-12-01T21:15:00-05:00"), "default".into())));
}

/// A return to the queue keeps the due time of the wait it interrupted (its start is not kept),
/// whatever the mode: R11.9 shows only where the start is known.
#[test]
fn a_returned_conversation_keeps_its_due_time_across_a_mode_switch() {
    let mut online = day_shift();
    online.hours.mode = switchyard_hours::Mode::Manual(switchyard_hours::ManualStatus::Online);
    let opened = at("2026-12-01T19:55:00-05:00");
    let stored_due = at("2026-12-02T08:10:00-05:00");
    let mut returned = route(RouteStatus::Queued, opened, stored_due, "default");
    returned.queue_reason = QueueReason::BackToQueue;
    let conversation = record(opened, PendingSide::Agent);
    assert_eq!(expected_response(&online, &conversation, Some(&returned)), Some((stored_due, "default".into())));
}
