//! GetResponseTime: a conversation's expected time to response (ETTR) as the consumer is told
//! it (R10.4, R10.8, R10.10-R10.12), for automatic messages' `{expectedResponseTime}`. The due
//! time is the one the queue orders by while queued or offered; once assigned, a consumer
//! message after the queue stay restarts the count (R10.4) in working hours, except before a
//! manual response time (R10.8).

use switchyard_hours::Timestamp;
use switchyard_kit::{validate, Platform, ServiceError};
use switchyard_platform::store::{
    ConversationRecord, ConversationStatus, PendingSide, QueueReason, Route, RouteStatus,
};
use switchyard_proto::admin::v1::{GetResponseTimeRequest, GetResponseTimeResponse};
use switchyard_routing::{response_time_ms, RoutingConfig, SlaKind, MANUAL_SLA};

use crate::error::RouterError;
use crate::hours_proto::{delay_to, rfc3339};
use crate::placement::sla_kind;

/// When the response is due and under which response time; `None` when nothing is due: the
/// agent wrote last (R10.4: "when the agent replies, nothing is due") or it is closed.
pub fn expected_response(
    config: &RoutingConfig,
    record: &ConversationRecord,
    route: Option<&Route>,
) -> Option<(i64, String)> {
    if record.status != ConversationStatus::Open || record.pending != PendingSide::Agent {
        return None;
    }
    let last_message = record.last_consumer_message_ms.max(record.opened_at_ms);
    let Some(route) = route else {
        // Opened, not routed yet: the open starts the count (R10.2 for a first conversation).
        let kind = sla_kind(record.first_conversation, "");
        return Some(restarted(config, &record.skill_id, last_message, kind));
    };
    let open = matches!(route.status, RouteStatus::Queued | RouteStatus::Offered | RouteStatus::Assigned);
    if let Some(start) = wait_start(route, last_message).filter(|_| open) {
        return Some(restarted(config, &route.skill_id, start, SlaKind::from_name(&route.sla)));
    }
    match route.status {
        RouteStatus::Queued | RouteStatus::Offered => Some((route.response_due_ms, route.sla.clone())),
        RouteStatus::Assigned if route.sla == MANUAL_SLA && last_message < route.response_due_ms => {
            Some((route.response_due_ms, route.sla.clone()))
        }
        RouteStatus::Assigned if last_message > route.queued_at_ms => {
            Some(restarted(config, &route.skill_id, last_message, SlaKind::from_name(&route.sla)))
        }
        RouteStatus::Assigned => Some((route.response_due_ms, route.sla.clone())),
        RouteStatus::Closed | RouteStatus::Newer => None,
    }
}

/// R11.9: when the wait of a queued (or not yet answered) conversation began, if its due time
/// was counted from a start known now: the consumer's last message (R10.4), or the transfer
/// (R10.6) when later. The ETTR is then counted again under the hours as configured now, so a
/// switch to manual mode (or an edit of the hours) shows at once; the queue keeps ordering by
/// the due time it was placed with until the wait restarts. None: the stored due time stands
/// (a manual or urgent time, a return to the queue that kept an earlier wait's due time).
fn wait_start(route: &Route, last_message_ms: i64) -> Option<i64> {
    if route.sla == MANUAL_SLA || SlaKind::from_name(&route.sla) == SlaKind::Urgent {
        return None;
    }
    match route.queue_reason {
        QueueReason::New => Some(last_message_ms),
        QueueReason::Transfer => Some(last_message_ms.max(route.queued_at_ms)),
        _ => None,
    }
}

fn restarted(config: &RoutingConfig, skill_id: &str, started_ms: i64, kind: SlaKind) -> (i64, String) {
    let allowed = response_time_ms(config, skill_id, kind);
    (config.due_ms(skill_id, started_ms, allowed), kind.name().to_owned())
}

pub async fn get(platform: &Platform, req: GetResponseTimeRequest) -> Result<GetResponseTimeResponse, ServiceError> {
    validate::id("account_id", &req.account_id)?;
    validate::id("conversation_id", &req.conversation_id)?;
    let store = &platform.store;
    let (account, conversation) = (req.account_id.as_str(), req.conversation_id.as_str());
    let (record, route) =
        futures::try_join!(store.get_conversation(account, conversation), store.route(account, conversation))?;
    // Another account's conversation is not found either (invariant 7).
    let Some(record) = record else {
        return Err(RouterError::ConversationNotFound(req.conversation_id).into());
    };
    let config = platform.routing.get(account).await?;
    let now_ms = platform.clock.now_ms();
    let skill_id = route.as_ref().map_or_else(|| record.skill_id.clone(), |r| r.skill_id.clone());
    let mut reply = GetResponseTimeResponse { now_ms, skill_id, ..Default::default() };
    let Some((due_ms, sla)) = expected_response(&config, &record, route.as_ref()) else { return Ok(reply) };
    // R10.8: a manual response time overrides the delay; otherwise R11.12's closed period.
    if sla != MANUAL_SLA {
        let now = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        reply.delay = config.schedule(&reply.skill_id).closed_period(now).map(delay_to);
    }
    reply.due = true;
    reply.due_ms = due_ms;
    reply.due_at = Timestamp::from_millisecond(due_ms).map(rfc3339).unwrap_or_default();
    reply.remaining_ms = due_ms.saturating_sub(now_ms);
    reply.sla = sla;
    Ok(reply)
}

#[cfg(test)]
#[path = "response_time_tests.rs"]
mod tests;
