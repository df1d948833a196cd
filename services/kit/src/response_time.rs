//! A conversation's expected time to response (ETTR) as the consumer is told it (R10.4,
//! R10.8, R10.10-R10.12): one rule for the router's `GetResponseTime` and for automatic
//! messages' `{expectedResponseTime}` (R14.4). The due time is the one the queue orders by
//! while queued or offered; once assigned, a consumer message after the queue stay restarts
//! the count (R10.4) in working hours, except before a manual response time (R10.8).

use switchyard_platform::store::{
    ConversationRecord, ConversationStatus, PendingSide, QueueReason, Route, RouteStatus,
};
use switchyard_routing::{response_time_ms, sla_kind, RoutingConfig, SlaKind, MANUAL_SLA};

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

#[cfg(test)]
#[path = "response_time_tests.rs"]
mod tests;
