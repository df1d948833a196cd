//! `Preview(conversation, event)`: what the event would send to the conversation if it
//! happened now, from which scope and language, or why nothing would be sent; the same rules
//! the consumer and the timers apply ([`crate::decide`]). Sends nothing.

use switchyard_kit::ServiceError;
use switchyard_proto::automessages::v1::PreviewResponse;
use switchyard_routing::{SlaKind, MANUAL_SLA};

use crate::catalogue::Event;
use crate::decide::{self, Facts, Outcome};
use crate::engine::Engine;
use crate::render;
use crate::timers::silence;

/// Whether the event applies to the conversation as it is now, and why (or why not).
async fn applies(
    engine: &Engine,
    account_id: &str,
    facts: &Facts,
    event: Event,
) -> Result<Result<String, String>, ServiceError> {
    let settings = engine.settings.get(account_id).await?;
    let config = engine.platform.routing.get(account_id).await?;
    let sla = facts.route.as_ref().map(|r| r.sla.as_str()).unwrap_or_default();
    Ok(match event {
        Event::FirstTimeWelcome | Event::Welcome | Event::FirstTimeOffHoursWelcome | Event::OffHoursWelcome => {
            match decide::welcome(facts) {
                Ok(applies) if applies == event => Ok("the welcome for this consumer at this hour (R14.12)".into()),
                Ok(applies) => Err(format!("{} applies to this consumer at this hour (R14.12)", applies.name())),
                Err(why) => Err(why),
            }
        }
        Event::OffHoursMidConversation => {
            let opened_in = engine.closed_until(&config, &facts.skill_id, facts.record.opened_at_ms);
            decide::off_hours_mid_conversation(facts, opened_in)
                .map(|_| "a consumer message now falls in off hours (R14.12)".into())
        }
        Event::ManualResponseTime if sla == MANUAL_SLA => Ok("its agent set a manual response time (R10.8)".into()),
        Event::ManualResponseTime => Err("no manual response time is set (R10.8)".into()),
        Event::MarkedUrgent if SlaKind::from_name(sla) == SlaKind::Urgent => {
            Ok("the consumer marked it urgent (R10.3)".into())
        }
        Event::MarkedUrgent => Err("the consumer has not marked it urgent (R10.3)".into()),
        Event::NoLongerUrgent if SlaKind::from_name(sla) == SlaKind::Urgent => {
            Ok("sent when the consumer withdraws the urgent mark (R10.3)".into())
        }
        Event::NoLongerUrgent => Err("it is not marked urgent (R10.3)".into()),
        Event::ParticipantJoins | Event::ParticipantLeaves => {
            Ok("sent when a manager joins or leaves (a reader is silent, R3.7); previewed with the assigned agent"
                .into())
        }
        Event::AgentNonResponsive | Event::ConsumerNonResponsive | Event::WaitingInQueue => {
            silence(facts, event).map(|(_, start)| {
                let timer = settings.timer(event, &facts.skill_id);
                let from =
                    switchyard_hours::Timestamp::from_millisecond(start).map(|t| t.to_string()).unwrap_or_default();
                format!("its timer of {} runs from {from} (R14.10)", humantime::format_duration(timer))
            })
        }
        Event::Transferred | Event::ReturnedToQueue => Ok("sent when it happens".into()),
        Event::AgentAccepts => match facts.route.as_ref().filter(|r| !r.agent_id.is_empty()) {
            Some(_) => Ok("sent at each assignment".into()),
            None => Ok("sent at each assignment; previewed with the agent id \"agent\"".into()),
        },
    })
}

pub async fn preview(
    engine: &Engine,
    account_id: &str,
    conversation_id: &str,
    event: Event,
) -> Result<PreviewResponse, ServiceError> {
    let store = &engine.platform.store;
    let Some(mut facts) = engine.facts(account_id, conversation_id).await? else {
        return Err(match store.get_conversation(account_id, conversation_id).await? {
            Some(_) => {
                ServiceError::precondition(format!("conversation {conversation_id} is closed: nothing is sent to it"))
            }
            None => ServiceError::not_found(format!("conversation {conversation_id}")),
        });
    };
    facts.last_auto_close_ms = store.last_auto_close(account_id, &facts.record.consumer_id).await?;
    let settings = engine.settings.get(account_id).await?;
    let nickname = match facts.route.as_ref().filter(|r| !r.agent_id.is_empty()) {
        Some(route) => engine.nickname(account_id, &route.agent_id).await?,
        None => "agent".to_owned(),
    };
    let applies = applies(engine, account_id, &facts, event).await?;
    let outcome = decide::compose(&settings, &facts, event, Some(&nickname), false, None);
    let mut reply = PreviewResponse { skill_id: facts.skill_id.clone(), ..Default::default() };
    match (applies, outcome) {
        (Ok(why), Outcome::Send { text, chosen }) => {
            reply.would_send = true;
            reply.text = text;
            reply.reason = why;
            reply.language = chosen.language;
            reply.source = chosen.source.to_owned();
        }
        (applies, Outcome::Send { text, chosen }) => {
            reply.text = text;
            reply.reason = format!("not sent: {}", applies.err().unwrap_or_default());
            reply.language = chosen.language;
            reply.source = chosen.source.to_owned();
        }
        (_, Outcome::Skip(why)) => {
            let chosen = settings.text(event, &facts.skill_id, &facts.record.language);
            reply.text = render::with_prefix(chosen.text, facts.record.channel, &settings.text_channel_prefix);
            reply.reason = format!("suppressed: {why}");
            reply.language = chosen.language;
            reply.source = chosen.source.to_owned();
        }
    }
    Ok(reply)
}
