//! Response times set by the people in a conversation rather than by configuration: the
//! consumer's urgent mark (R10.3) and the agent's manual response time (R10.8). Connectors
//! checks who may set what and announces the change on the `conversations` topic; the router,
//! owner of the queues, places the conversation anew.

use switchyard_kit::{config::keys, envelope, ServiceError};
use switchyard_platform::store::{ConversationRecord, PendingSide, Route, RouteStatus};
use switchyard_proto::common::v1::Channel;
use switchyard_proto::events::v1::{envelope::Body, ResponseTimeChanged};
use switchyard_routing::{response_time_ms, urgent_due_ms, SlaKind, MAX_MANUAL_RESPONSE_MS};

use crate::desk::Desk;
use crate::edge::Edge;
use crate::error::ConnectorError;

const URGENT: &str = SlaKind::Urgent.name();
const MANUAL: &str = switchyard_routing::MANUAL_SLA;

/// R10.3: why a conversation may not be marked urgent now, if it may not.
pub fn urgent_refusal(record: &ConversationRecord) -> Option<&'static str> {
    if record.channel != Channel::Web as i32 {
        Some("only web messaging conversations can be marked urgent (R10.3)")
    } else if record.first_conversation {
        Some("urgent is available from the consumer's second conversation on (R10.3)")
    } else if record.pending != PendingSide::Agent {
        Some("it waits for the consumer, not for an agent (R10.3)")
    } else {
        None
    }
}

/// When the consumer's current wait began: its last message, else the open.
fn wait_started_ms(record: &ConversationRecord) -> i64 {
    if record.last_consumer_message_ms > 0 {
        record.last_consumer_message_ms
    } else {
        record.opened_at_ms
    }
}

impl Edge {
    /// R10.3: marks the conversation urgent and returns when its response is now due.
    /// Idempotent: a conversation marked already answers its due time again.
    pub async fn mark_urgent(&self, account_id: &str, record: &ConversationRecord) -> Result<i64, ServiceError> {
        let conversation_id = record.conversation_id.as_str();
        if let Some(why) = urgent_refusal(record) {
            return Err(ConnectorError::ResponseTimeRefused { conversation: conversation_id.to_owned(), why }.into());
        }
        let route = self.platform.store.route(account_id, conversation_id).await?;
        if route.is_none() {
            // The router places the mark on the route; one made before the conversation is
            // queued would be lost. A moment after the open, a retry finds it queued.
            return Err(ServiceError::Unavailable(format!(
                "conversation {conversation_id} is being routed; mark it urgent again in a moment"
            )));
        }
        let skill = route.as_ref().map(|r| r.skill_id.clone()).filter(|s| !s.is_empty());
        let skill = skill.unwrap_or_else(|| record.skill_id.clone());
        let config = self.platform.routing.get(account_id).await?;
        let started = wait_started_ms(record);
        // The queue's due time is current while queued; a manual one stands; otherwise it
        // counts from the wait (a returning consumer's: the default response time).
        let queued_due = route.as_ref().filter(|r| r.status == RouteStatus::Queued).map(|r| r.response_due_ms);
        let current_due = match route.as_ref() {
            Some(r) if r.sla == MANUAL || r.status == RouteStatus::Queued => r.response_due_ms,
            _ => started.saturating_add(response_time_ms(&config, &skill, SlaKind::Default) as i64),
        };
        let already = route.as_ref().is_some_and(|r| r.sla == URGENT);
        let now = self.platform.clock.now_ms();
        if !already && now >= current_due {
            let why = "its response is overdue already (R10.3)";
            return Err(ConnectorError::ResponseTimeRefused { conversation: conversation_id.to_owned(), why }.into());
        }
        let due = urgent_due_ms(&config, &skill, started, queued_due);
        let change = ResponseTimeChanged {
            conversation_id: conversation_id.to_owned(),
            sla: URGENT.into(),
            from_ms: started,
            skill_id: skill,
        };
        self.publish_response_time(account_id, format!("urgent:{conversation_id}:{started}"), now, change).await?;
        Ok(due)
    }

    /// R10.3: the consumer withdraws its urgent mark; returns when its response is now due:
    /// the default (or first-time) response time from its wait, in working hours.
    pub async fn withdraw_urgent(&self, account_id: &str, record: &ConversationRecord) -> Result<i64, ServiceError> {
        let conversation_id = record.conversation_id.as_str();
        let refused = |why| ConnectorError::UrgentNotWithdrawn { conversation: conversation_id.to_owned(), why };
        let route = self.platform.store.route(account_id, conversation_id).await?;
        let Some(route) = route.filter(|r| r.sla == URGENT) else {
            return Err(refused("it is not marked urgent (R10.3)").into());
        };
        if record.pending != PendingSide::Agent {
            return Err(refused("it waits for the consumer, not for an agent (R10.3)").into());
        }
        let config = self.platform.routing.get(account_id).await?;
        let started = wait_started_ms(record);
        let kind = switchyard_routing::sla_kind(record.first_conversation, "");
        let due = config.due_ms(&route.skill_id, started, response_time_ms(&config, &route.skill_id, kind));
        let change = ResponseTimeChanged {
            conversation_id: conversation_id.to_owned(),
            sla: kind.name().into(),
            from_ms: started,
            skill_id: route.skill_id,
        };
        let now = self.platform.clock.now_ms();
        self.publish_response_time(account_id, format!("not_urgent:{conversation_id}:{started}"), now, change).await?;
        Ok(due)
    }

    async fn publish_response_time(
        &self,
        account_id: &str,
        id: String,
        now: i64,
        change: ResponseTimeChanged,
    ) -> Result<(), ServiceError> {
        let key = keys::conversation(account_id, &change.conversation_id);
        let env = envelope::with_id(id, account_id, now, Body::ResponseTimeChanged(change));
        envelope::publish(&*self.platform.bus, &self.platform.topics.conversations, key, &env).await?;
        Ok(())
    }
}

impl Desk {
    /// R10.8: the agent holding the conversation responds by `respond_by_ms`.
    pub async fn set_manual_response_time(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        respond_by_ms: i64,
    ) -> Result<(), ServiceError> {
        let now = self.edge.platform.clock.now_ms();
        if respond_by_ms <= now {
            return Err(ServiceError::invalid("respond_by_ms", "must be in the future"));
        }
        if respond_by_ms - now > MAX_MANUAL_RESPONSE_MS {
            return Err(ServiceError::invalid("respond_by_ms", "must be at most 30 days ahead"));
        }
        let (_, route): (_, Route) = self.require_assigned(account_id, agent_id, conversation_id).await?;
        let change = ResponseTimeChanged {
            conversation_id: conversation_id.to_owned(),
            sla: MANUAL.into(),
            from_ms: respond_by_ms,
            skill_id: route.skill_id,
        };
        let id = format!("manual:{conversation_id}:{}:{respond_by_ms}", route.version);
        self.edge.publish_response_time(account_id, id, now, change).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use switchyard_kit::{Platform, Topics};
    use switchyard_platform::bus::MemoryBus;
    use switchyard_platform::store::prelude::*;
    use switchyard_platform::store::{MemoryStore, NewConversation, OpenOutcome};
    use switchyard_platform::ManualClock;

    use super::*;
    use crate::hub::Hub;

    #[tokio::test]
    async fn a_mark_before_the_conversation_is_queued_is_refused_for_a_retry_not_lost_r10_3() {
        let store = Arc::new(MemoryStore::new());
        let bus = Arc::new(MemoryBus::new());
        let clock = Arc::new(ManualClock::new(1_000));
        let platform = Platform::without_auth(bus, store.clone(), clock, Topics::with_prefix("t."), "test");
        let edge = Edge::new(platform, Hub::new(crate::hub::StreamLimits::total(10)), crate::Config::default());
        let new = |id: &str| NewConversation {
            conversation_id: id.into(),
            consumer_id: "kim".into(),
            channel: Channel::Web as i32,
            skill_id: "sales".into(),
            language: String::new(),
            partner_message_id: String::new(),
            opened_at_ms: 1_000,
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        // A returning web consumer (the first conversation closed), not routed yet.
        store.open_conversation("acme", &new("c0")).await.unwrap();
        store.close_conversation("acme", "c0", 1_000, None).await.unwrap();
        let OpenOutcome::Created(record) = store.open_conversation("acme", &new("c1")).await.unwrap() else { panic!() };
        assert!(!record.first_conversation);
        let err = edge.mark_urgent("acme", &record).await.unwrap_err();
        assert!(matches!(err, ServiceError::Unavailable(_)), "{err:?}");
    }
}
