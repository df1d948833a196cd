//! Moves within a queue without a requeue: a consumer message restarting the due time
//! (R10.4), an urgent mark (R10.3), a manual response time (R10.8). Each is one store write.

use switchyard_kit::ServiceError;
use switchyard_platform::store::{Replacement, RouteStatus};
use switchyard_proto::events::v1::ResponseTimeChanged;
use switchyard_routing::SlaKind;

use super::Engine;
use crate::placement;

impl Engine {
    /// R10.4: the consumer wrote at `at_ms` while the conversation waits in a queue: its due
    /// time restarts and it moves in its queue (one sorted-set write). Nothing happens when it
    /// is not queued (assigned: its agent answers; closed) or the message is older than its
    /// queue entry (the placement at entry already counted it).
    pub async fn consumer_wrote(
        &self,
        account_id: &str,
        conversation_id: &str,
        at_ms: i64,
    ) -> Result<bool, ServiceError> {
        let store = &self.platform.store;
        let Some(route) = store.route(account_id, conversation_id).await? else { return Ok(false) };
        if route.status != RouteStatus::Queued || at_ms <= route.queued_at_ms {
            return Ok(false);
        }
        let config = self.platform.routing.get(account_id).await?;
        let Some(placement) = placement::after_consumer_message(&config, &route, at_ms) else { return Ok(false) };
        if placement.due_ms == route.response_due_ms && placement.actionable == route.actionable {
            return Ok(false);
        }
        let why = Replacement::ConsumerMessage;
        Ok(store.replace_in_queue(account_id, conversation_id, &route.skill_id, &placement, why, at_ms).await?)
    }

    /// R10.3, R10.8: the consumer marked the conversation urgent, or its agent set a manual
    /// response time, while it was on `skill_id`: it takes its new place (in its queue, or
    /// for when it returns to one). Nothing when it moved to another skill or closed since,
    /// or when it is placed so already (a redelivery).
    pub async fn response_time_changed(
        &self,
        account_id: &str,
        change: &ResponseTimeChanged,
        at_ms: i64,
    ) -> Result<bool, ServiceError> {
        let store = &self.platform.store;
        let conversation_id = change.conversation_id.as_str();
        let Some(route) = store.route(account_id, conversation_id).await? else { return Ok(false) };
        if route.skill_id != change.skill_id {
            return Ok(false);
        }
        let (placement, why) = if change.sla == placement::MANUAL {
            (placement::manual(&route, at_ms, change.from_ms), Replacement::ManualSla)
        } else {
            let config = self.platform.routing.get(account_id).await?;
            match SlaKind::from_name(&change.sla) {
                SlaKind::Urgent => (placement::marked_urgent(&config, &route, change.from_ms), Replacement::Urgent),
                // A withdrawn mark, for the route it was made on.
                kind if route.sla == SlaKind::Urgent.name() => {
                    (placement::urgent_withdrawn(&config, &route, kind, change.from_ms), Replacement::NotUrgent)
                }
                _ => return Ok(false),
            }
        };
        if placement.due_ms == route.response_due_ms && placement.sla == route.sla {
            return Ok(false);
        }
        Ok(store.replace_in_queue(account_id, conversation_id, &route.skill_id, &placement, why, at_ms).await?)
    }

    /// R8.17: the threshold before its manual due time has come for a conversation returned to
    /// the queue under a far manual response time: it becomes actionable now and takes its
    /// place in the top section. Returns the skill to run a pass on; None when it was assigned,
    /// moved or placed otherwise since.
    pub async fn manual_time_actionable(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<String>, ServiceError> {
        let store = &self.platform.store;
        let Some(route) = store.route(account_id, conversation_id).await? else { return Ok(None) };
        if route.status != RouteStatus::Queued || route.sla != placement::MANUAL || route.actionable {
            return Ok(None);
        }
        let now = self.platform.clock.now_ms();
        let placement = placement::manual(&route, now, route.response_due_ms);
        let why = Replacement::ManualSla;
        let moved = store.replace_in_queue(account_id, conversation_id, &route.skill_id, &placement, why, now).await?;
        Ok(moved.then_some(route.skill_id))
    }
}
