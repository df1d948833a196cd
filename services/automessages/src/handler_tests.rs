#![allow(clippy::unwrap_used)]

use crate::catalogue::Event;
use crate::settings::{MessageSetting, Settings};
use crate::testing::*;

const SORRY: &str = "Sorry for the delay";
const STILL_THERE: &str = "Are you still there?";
const WAIT: &str = "The wait is longer";

/// Timers of the spec's examples: agent 10 min, queue 15 min, consumer 10 min.
fn spec_timers(s: &mut Settings) {
    for (event, seconds) in
        [(Event::AgentNonResponsive, 600), (Event::WaitingInQueue, 900), (Event::ConsumerNonResponsive, 600)]
    {
        s.account.insert(event, MessageSetting { timer_seconds: Some(seconds), ..Default::default() });
    }
}

fn only(events: &[Event]) -> impl FnOnce(&mut Settings) + '_ {
    move |s: &mut Settings| {
        spec_timers(s);
        for event in Event::ALL.into_iter().filter(|e| !events.contains(e)) {
            s.account.entry(event).or_default().enabled = Some(false);
        }
    }
}

#[tokio::test]
async fn agent_non_responsive_restarts_from_the_new_assignment_r14_13() {
    // 10:00 open, 10:10 assign A, 10:15 transfer, 10:20 assign B, 10:30 fires with X = 10 min.
    let mut w = world().await;
    w.settings(only(&[Event::AgentNonResponsive])).await;
    w.open("c1", "u1", "en").await;
    w.at("10:10").await;
    w.assign("c1", "ann").await;
    w.at("10:15").await;
    w.requeue("c1", "transfer").await;
    w.at("10:20").await;
    w.assign("c1", "bob").await;
    w.at("10:29").await;
    assert!(w.times_of("c1", SORRY).await.is_empty(), "A's timer went with the transfer, B's is not due");
    w.at("10:30").await;
    w.at("10:45").await;
    assert_eq!(w.times_of("c1", SORRY).await, ["10:30"]);
}

#[tokio::test]
async fn agent_non_responsive_counts_from_the_first_consumer_message_after_the_reply_r14_13() {
    // A writes 10:10, the consumer 10:15 and 10:20: it fires at 10:25.
    let mut w = world().await;
    w.settings(only(&[Event::AgentNonResponsive])).await;
    w.open("c1", "u1", "en").await;
    w.at("10:05").await;
    w.assign("c1", "ann").await;
    w.at("10:10").await;
    w.agent_writes("c1").await;
    w.at("10:15").await;
    w.consumer_writes("c1").await;
    w.at("10:20").await;
    w.consumer_writes("c1").await;
    w.at("10:24").await;
    assert!(w.times_of("c1", SORRY).await.is_empty());
    w.at("10:25").await;
    w.at("10:40").await;
    assert_eq!(w.times_of("c1", SORRY).await, ["10:25"], "once, and a later consumer message does not restart it");
    w.agent_writes("c1").await;
    w.at("11:00").await;
    assert_eq!(w.times_of("c1", SORRY).await, ["10:25"], "the agent answered: nothing more");
}

#[tokio::test]
async fn waiting_in_queue_restarts_with_each_queue_stay_r14_14() {
    // X = 15: start 10:00 fires 10:15; assigned 10:20; back to queue 10:25 fires 10:40.
    let mut w = world().await;
    w.settings(only(&[Event::WaitingInQueue])).await;
    w.open("c1", "u1", "en").await;
    w.at("10:14").await;
    assert!(w.times_of("c1", WAIT).await.is_empty());
    w.at("10:15").await;
    w.at("10:20").await;
    w.assign("c1", "ann").await;
    w.at("10:25").await;
    w.requeue("c1", "back_to_queue").await;
    w.at("10:39").await;
    assert_eq!(w.times_of("c1", WAIT).await, ["10:15"]);
    w.at("10:40").await;
    w.at("11:30").await;
    assert_eq!(w.times_of("c1", WAIT).await, ["10:15", "10:40"], "once per queue stay");
}

#[tokio::test]
async fn consumer_non_responsive_is_not_reset_by_a_transfer_r14_15() {
    // The agent writes 10:00, transfer 10:05, new agent 10:07: it fires at 10:10.
    let mut w = world().await;
    w.settings(only(&[Event::ConsumerNonResponsive])).await;
    w.open("c1", "u1", "en").await;
    w.assign("c1", "ann").await;
    w.agent_writes("c1").await;
    w.at("10:05").await;
    w.requeue("c1", "transfer").await;
    w.at("10:07").await;
    w.assign("c1", "bob").await;
    w.at("10:09").await;
    assert!(w.times_of("c1", STILL_THERE).await.is_empty());
    w.at("10:10").await;
    w.at("10:30").await;
    assert_eq!(w.times_of("c1", STILL_THERE).await, ["10:10"]);
    // The consumer answers: the next silence starts at the agent's next message.
    w.consumer_writes("c1").await;
    w.at("10:31").await;
    w.agent_writes("c1").await;
    w.at("10:41").await;
    assert_eq!(w.times_of("c1", STILL_THERE).await, ["10:10", "10:41"]);
}

#[tokio::test]
async fn a_consumer_message_ends_its_silence_r14_15() {
    let mut w = world().await;
    w.settings(only(&[Event::ConsumerNonResponsive])).await;
    w.open("c1", "u1", "en").await;
    w.assign("c1", "ann").await;
    w.agent_writes("c1").await;
    w.at("10:09").await;
    w.consumer_writes("c1").await;
    w.at("10:30").await;
    assert!(w.times_of("c1", STILL_THERE).await.is_empty());
}

#[tokio::test]
async fn queue_and_agent_timers_count_working_time_only_r14_13_r14_14() {
    // Open 08:00-20:00 New York. Queued at 19:50 with X = 15: 10 min today, 5 tomorrow.
    let mut w = world().await;
    w.routing(day_shift()).await;
    w.settings(only(&[Event::WaitingInQueue, Event::AgentNonResponsive])).await;
    w.at("19:50").await;
    w.open("c1", "u1", "en").await;
    w.at("23:59").await;
    assert!(w.times_of("c1", WAIT).await.is_empty(), "never in off hours");
    w.at_ms(ny("08:05") + 24 * 3600 * 1000).await;
    assert_eq!(w.times_of("c1", WAIT).await, ["08:05"]);

    // Assigned at 19:55 (the second conversation): the agent's 10 min run 5 today, 5 tomorrow.
    let mut w = world().await;
    w.routing(day_shift()).await;
    w.settings(only(&[Event::AgentNonResponsive])).await;
    w.at("19:55").await;
    w.open("c2", "u2", "en").await;
    w.assign("c2", "ann").await;
    w.at("23:00").await;
    assert!(w.times_of("c2", SORRY).await.is_empty());
    w.at_ms(ny("08:05") + 24 * 3600 * 1000).await;
    assert_eq!(w.times_of("c2", SORRY).await, ["08:05"]);
}

#[tokio::test]
async fn welcomes_by_consumer_history_and_hours_r14_12() {
    let mut w = world().await;
    w.routing(day_shift()).await;
    w.settings(only(&[
        Event::FirstTimeWelcome,
        Event::Welcome,
        Event::FirstTimeOffHoursWelcome,
        Event::OffHoursWelcome,
    ]))
    .await;
    w.open("c1", "u1", "en").await;
    // First-time response time 10 min.
    assert_eq!(
        w.system_messages("c1").await,
        [("10:00".into(), Event::FirstTimeWelcome.default_text().replace("{expectedResponseTime}", "10 minutes"))]
    );
    w.close("c1", false).await;
    w.at("10:30").await;
    w.open("c2", "u1", "en").await;
    assert_eq!(
        w.system_messages("c2").await[0].1,
        "Thanks for messaging us again. An agent will answer within 15 minutes."
    );
    w.close("c2", false).await;
    // 21:00 is off hours: due at 08:00 + 15 min (R10.10).
    w.at("21:00").await;
    w.open("c3", "u1", "en").await;
    assert_eq!(
        w.system_messages("c3").await[0].1,
        "Thanks for your message. Our contact center is closed right now: an agent will answer within 11 hours and 15 minutes."
    );
    w.open("c4", "u4", "en").await;
    assert!(
        w.system_messages("c4").await[0].1.starts_with("Welcome! Our contact center is closed"),
        "first time, off hours"
    );
}

#[tokio::test]
async fn no_welcome_within_48_hours_of_an_auto_close_r14_16() {
    let mut w = world().await;
    w.settings(only(&[Event::FirstTimeWelcome, Event::Welcome])).await;
    w.open("c1", "u1", "en").await;
    w.close("c1", true).await;
    w.at("11:00").await;
    w.open("c2", "u1", "en").await;
    assert!(w.system_messages("c2").await.is_empty(), "silent continuation");
    w.close("c2", false).await;
    w.at_ms(ny("10:00") + 48 * 3600 * 1000).await;
    w.open("c3", "u1", "en").await;
    assert_eq!(w.system_messages("c3").await.len(), 1, "48 h after the auto close");
}

#[tokio::test]
async fn off_hours_mid_conversation_once_per_off_hours_period_r14_12() {
    let mut w = world().await;
    w.routing(day_shift()).await;
    w.settings(only(&[Event::OffHoursMidConversation])).await;
    w.at("19:50").await;
    w.open("c1", "u1", "en").await;
    w.consumer_writes("c1").await;
    w.at("20:10").await;
    w.consumer_writes("c1").await;
    w.at("20:30").await;
    w.consumer_writes("c1").await;
    let day = 24 * 3600 * 1000;
    w.at_ms(ny("09:00") + day).await;
    w.consumer_writes("c1").await;
    w.at_ms(ny("20:05") + day).await;
    w.consumer_writes("c1").await;
    let sorry = "Sorry, our contact center is closed now.";
    // The next evening's period is a new one.
    assert_eq!(w.times_of("c1", sorry).await, ["20:10", "20:05"]);
    // 20:10, a first conversation: due at 08:00 + 10 min (R10.10), 12 hours on.
    let first = &w.system_messages("c1").await[0].1;
    assert!(first.ends_with("within 12 hours."), "{first}");
}

#[tokio::test]
async fn nothing_mid_conversation_in_the_off_hours_period_it_opened_in_r14_12() {
    let mut w = world().await;
    w.routing(day_shift()).await;
    w.settings(only(&[Event::OffHoursMidConversation, Event::OffHoursWelcome, Event::FirstTimeOffHoursWelcome])).await;
    w.at("21:00").await;
    w.open("c1", "u1", "en").await;
    w.at("21:10").await;
    w.consumer_writes("c1").await;
    let messages = w.system_messages("c1").await;
    assert_eq!(messages.len(), 1, "the off-hours welcome only: {messages:?}");
}

#[tokio::test]
async fn suppressed_when_the_response_is_overdue_unless_the_text_does_not_show_it_r14_5() {
    let mut w = world().await;
    w.routing(day_shift()).await;
    w.settings(only(&[Event::ReturnedToQueue])).await;
    // Returning consumer (c0 first): due 10:15; returned at 10:20 keeps that due time.
    w.open("c0", "u1", "en").await;
    w.close("c0", false).await;
    w.open("c1", "u1", "en").await;
    w.assign("c1", "ann").await;
    w.at("10:20").await;
    w.requeue("c1", "back_to_queue").await;
    assert!(w.system_messages("c1").await.is_empty(), "overdue: suppressed entirely");
    w.settings(|s| {
        let setting = s.account.entry(Event::ReturnedToQueue).or_default();
        setting.texts.insert("en".into(), "Your agent had to step away; another agent will answer.".into());
    })
    .await;
    w.assign("c1", "bob").await;
    w.at("10:25").await;
    w.requeue("c1", "back_to_queue").await;
    assert_eq!(
        w.system_messages("c1").await,
        [("10:25".into(), "Your agent had to step away; another agent will answer.".into())]
    );
}

#[tokio::test]
async fn the_skills_text_in_the_conversations_language_with_fallbacks_r14_2_r14_7() {
    let mut w = world().await;
    w.settings(|s| {
        only(&[Event::FirstTimeWelcome])(s);
        let account = s.account.entry(Event::FirstTimeWelcome).or_default();
        account.texts.insert("es".into(), "¡Hola! Un agente responderá en {expectedResponseTime}.".into());
        account.texts.insert("fr".into(), "Bonjour !".into());
        let skill = s.skills.entry(SKILL.into()).or_default().entry(Event::FirstTimeWelcome).or_default();
        skill.texts.insert("fr".into(), "Bonjour de l'équipe ventes.".into());
        skill.texts.insert("es".into(), String::new());
    })
    .await;
    w.open("c1", "u1", "es-MX").await;
    w.open("c2", "u2", "fr").await;
    w.open("c3", "u3", "ja").await;
    // Default response time: the routing default (1 h first time unless configured).
    let spanish = &w.system_messages("c1").await[0].1;
    assert!(spanish.starts_with("¡Hola! Un agente responderá en "), "empty skill text falls back: {spanish}");
    assert!(!spanish.contains("minutes") && !spanish.contains("hours"), "units in Spanish: {spanish}");
    assert_eq!(w.system_messages("c2").await[0].1, "Bonjour de l'équipe ventes.");
    assert!(
        w.system_messages("c3").await[0].1.starts_with("Welcome to our messaging service!"),
        "no Japanese text: English"
    );
}

#[tokio::test]
async fn a_message_switched_off_for_a_skill_is_not_sent_r14_1() {
    let mut w = world().await;
    w.settings(|s| {
        only(&[Event::FirstTimeWelcome])(s);
        s.skills
            .entry(SKILL.into())
            .or_default()
            .insert(Event::FirstTimeWelcome, MessageSetting { enabled: Some(false), ..Default::default() });
    })
    .await;
    w.open("c1", "u1", "en").await;
    assert!(w.system_messages("c1").await.is_empty());
    w.settings(|s| s.enabled = false).await;
    w.settings(|s| {
        s.skills.clear();
    })
    .await;
    w.open("c2", "u2", "en").await;
    assert!(w.system_messages("c2").await.is_empty(), "the account's feature is off");
}

#[tokio::test]
async fn agent_accepts_names_the_agent_and_transfer_to_an_agent_never_shows_the_response_time_r14_4_r14_17() {
    let mut w = world().await;
    w.settings(|s| {
        only(&[Event::AgentAccepts, Event::Transferred])(s);
        let transferred = s.account.entry(Event::Transferred).or_default();
        transferred.texts.insert("en".into(), "Transferring you: an answer within {expectedResponseTime}.".into());
    })
    .await;
    w.open("c1", "u1", "en").await;
    w.assign("c1", "ann").await;
    w.at("10:05").await;
    w.requeue("c1", "transfer_to_agent").await;
    w.at("10:06").await;
    w.assign("c1", "bob").await;
    w.requeue("c1", "transfer").await;
    let texts: Vec<String> = w.system_messages("c1").await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts[0], "You are now connected to Ann.");
    assert_eq!(texts[1], "You are being transferred to another agent.", "R14.17: no response time");
    assert_eq!(texts[2], "You are now connected to Bob.");
    assert!(texts[3].starts_with("Transferring you: an answer within "), "{}", texts[3]);
}

#[tokio::test]
async fn manual_response_time_and_urgent_marks_tell_the_new_time() {
    let mut w = world().await;
    w.settings(only(&[Event::ManualResponseTime, Event::MarkedUrgent, Event::NoLongerUrgent])).await;
    w.routing(day_shift()).await;
    w.open("c0", "u1", "en").await;
    w.close("c0", false).await;
    // A returning consumer (15 min default response time in these hours): its wait began at
    // 10:00; it marks the conversation urgent, then withdraws the mark.
    w.open("c1", "u1", "en").await;
    w.response_time("c1", "urgent", ny("10:00")).await;
    w.response_time("c1", "default", ny("10:00")).await;
    w.assign("c1", "ann").await;
    w.at("10:01").await;
    w.response_time("c1", "manual", ny("13:01")).await;
    let texts: Vec<String> = w.system_messages("c1").await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[0].starts_with("Your conversation is marked as urgent."), "{}", texts[0]);
    assert_eq!(texts[1], "Your conversation is no longer marked as urgent. An agent will respond within 15 minutes.");
    assert_eq!(texts[2], "An agent will respond within 3 hours.");
}

#[tokio::test]
async fn a_redelivered_trigger_or_a_restarted_process_sends_nothing_twice() {
    let mut w = world().await;
    w.settings(only(&[Event::FirstTimeWelcome, Event::AgentAccepts, Event::WaitingInQueue])).await;
    w.open("c1", "u1", "en").await;
    // The same open again (redelivery), by a second handler (another replica or a restart).
    let opened = switchyard_proto::events::v1::envelope::Body::ConversationOpened(
        switchyard_proto::events::v1::ConversationOpened {
            conversation_id: "c1".into(),
            consumer_id: "u1".into(),
            channel: 1,
            skill_id: SKILL.into(),
            language: "en".into(),
        },
    );
    w.feed(opened.clone()).await;
    w.handler = crate::handler::AutoMessageHandler::new(w.engine.clone());
    w.feed(opened).await;
    // The queue timer armed before the "restart" fires from the store.
    w.at("10:15").await;
    w.at("10:16").await;
    let messages = w.system_messages("c1").await;
    assert_eq!(messages.len(), 2, "one welcome, one waiting notice: {messages:?}");
    assert!(w.commands_seen >= 4, "the commands came again; the transcript kept one of each");
}

#[tokio::test]
async fn a_close_cancels_the_timers() {
    let mut w = world().await;
    w.settings(only(&[Event::WaitingInQueue])).await;
    w.open("c1", "u1", "en").await;
    w.at("10:05").await;
    w.close("c1", false).await;
    w.at("10:30").await;
    assert_eq!(w.apply_commands().await, 0);
    assert_eq!(w.store.sizes()["timers"], 0, "nothing left behind");
}

#[tokio::test]
async fn a_managers_joining_and_leaving_are_told_a_readers_are_not_r3_7() {
    let mut w = world().await;
    w.settings(only(&[Event::ParticipantJoins, Event::ParticipantLeaves])).await;
    w.open("c1", "u1", "en").await;
    w.assign("c1", "ann").await;
    w.assign_agent_only("mona").await;
    w.participant("c1", "mona", Some("manager")).await;
    w.participant("c1", "rick", Some("reader")).await;
    w.at("10:05").await;
    w.participant("c1", "mona", None).await;
    assert_eq!(
        w.system_messages("c1").await,
        [
            ("10:00".into(), "Mona joined the conversation.".into()),
            ("10:05".into(), "Mona left the conversation.".into())
        ]
    );
}

#[tokio::test]
async fn a_timer_left_from_before_the_feature_was_switched_off_sends_nothing() {
    let mut w = world().await;
    w.settings(only(&[Event::WaitingInQueue])).await;
    w.open("c1", "u1", "en").await;
    w.settings(|s| s.enabled = false).await;
    w.close("c1", false).await;
    w.settings(|s| s.enabled = true).await;
    w.at("10:30").await;
    assert_eq!(w.apply_commands().await, 0);
    assert_eq!(w.store.sizes()["timers"], 0, "it fired and was consumed");
}
