//! Capacity relief behind the account's flags (`switchyard_routing::relief`): a manual
//! response time far away weighs the conversation inactive at once until either party writes
//! (R8.15, R8.16), and so does an agent's answer to a consumer who waited past the backlog
//! threshold (R8.19). Both go through the same atomic weight update as the inactivity drop,
//! and a drop announces the agent, so the router assigns the next conversation within a cycle.

use switchyard_kit::ServiceError;
use switchyard_platform::store::{ConversationStatus, Milli, PendingSide, RouteStatus};
use switchyard_proto::events::v1::ResponseTimeChanged;
use switchyard_routing::{RoutingConfig, MANUAL_SLA};

use super::{Dropped, WeightTimers};

impl WeightTimers {
    /// R8.15: the agent set, at `set_at_ms`, a manual response time (`change.from_ms`). Beyond
    /// the threshold the conversation weighs the inactive weight at once, unless a message was
    /// written since (R8.16: that restored the active weight for good) or it moved on.
    pub(crate) async fn manual_response_time(
        &self,
        account_id: &str,
        change: &ResponseTimeChanged,
        set_at_ms: i64,
    ) -> Result<Option<Dropped>, ServiceError> {
        let config = self.platform.routing.get(account_id).await?;
        if change.sla != MANUAL_SLA || !config.manual_sla_reduces(set_at_ms, change.from_ms) {
            return Ok(None);
        }
        let store = &self.platform.store;
        let conversation_id = change.conversation_id.as_str();
        let Some(route) = store.route(account_id, conversation_id).await? else { return Ok(None) };
        if route.status != RouteStatus::Assigned || route.skill_id != change.skill_id {
            return Ok(None);
        }
        let Some(record) = store.get_conversation(account_id, conversation_id).await? else { return Ok(None) };
        let last_message = record.last_consumer_message_ms.max(record.last_agent_message_ms);
        if record.status != ConversationStatus::Open || last_message > set_at_ms {
            return Ok(None);
        }
        let inactive = config.weights(&route.skill_id).inactive;
        self.reduce(account_id, conversation_id, &route.agent_id, inactive, "manual_sla").await
    }

    /// R8.19: whether the agent's message at `at_ms` answered a consumer who had waited past
    /// the backlog threshold (and the consumer has not written since).
    pub(super) async fn answered_backlog(
        &self,
        config: &RoutingConfig,
        account_id: &str,
        conversation_id: &str,
        at_ms: i64,
    ) -> Result<bool, ServiceError> {
        if !config.account.capacity.backlog_relief.enabled {
            return Ok(false);
        }
        let Some(record) = self.platform.store.get_conversation(account_id, conversation_id).await? else {
            return Ok(false);
        };
        let answered = record.status == ConversationStatus::Open
            && record.pending == PendingSide::Consumer
            && record.waiting_since_ms > 0
            && record.waiting_since_ms <= at_ms;
        Ok(answered && config.backlog_relieves(at_ms - record.waiting_since_ms))
    }

    /// R8.16: an agent's message in a conversation reduced for its manual response time
    /// restores the active weight (the drop after the time to inactive follows as usual).
    pub(super) async fn agent_wrote_under_manual_time(
        &self,
        config: &RoutingConfig,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        active: Milli,
    ) -> Result<(), ServiceError> {
        if !config.account.capacity.manual_sla_reduction.enabled {
            return Ok(());
        }
        let route = self.platform.store.route(account_id, conversation_id).await?;
        if route.is_some_and(|r| r.sla == MANUAL_SLA) {
            self.restore(account_id, agent_id, conversation_id, active).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "relief_tests.rs"]
mod tests;
