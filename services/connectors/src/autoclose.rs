//! Auto close (R13.1-R13.7): a conversation pending consumer closes by itself after its skill's
//! auto-close time without activity, silently (R13.5). Connectors closes it, as the one writer
//! of conversation records, on the durable timers: one timer per conversation,
//! `autoclose:<account>/<conversation>`, in the shard of its `conversations` partition (the
//! group `connectors.autoclose` reads that topic only for this), so closing is on time and
//! costs nothing while nothing is due.
//!
//! - An agent's message (the conversation becomes pending consumer) schedules the close at its
//!   time plus the auto-close time; a later one moves it.
//! - A consumer's message (pending agent: never auto-closed, R13.2) or a close cancels it.
//! - System (automatic) messages do not count as activity (R13.6).
//!
//! When it fires, the record decides: open, pending consumer, silent for the auto-close time of
//! its current skill (a transfer to a skill with a longer time moves it on), and no manual
//! response time set by the agent (R13.3: those are never auto-closed). The consumer's next
//! message opens a new conversation (R13.5).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use switchyard_kit::consumer::Handler;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, ServiceError};
use switchyard_platform::bus::Delivery;
use switchyard_platform::store::{ConversationStatus, DueTimer, PendingSide};
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{envelope::Body, Envelope};
use switchyard_routing::MANUAL_SLA;

use crate::edge::Edge;
use crate::AUTO_CLOSED_TOTAL;

pub(crate) struct AutoCloseHandler {
    edge: Edge,
    timers: Timers,
}

fn timer_id(account_id: &str, conversation_id: &str) -> String {
    format!("autoclose:{}", keys::conversation(account_id, conversation_id))
}

impl AutoCloseHandler {
    pub(crate) fn new(edge: Edge) -> Self {
        let platform = edge.platform.clone();
        let timers =
            Timers::new(platform.clone(), "connectors", "connectors.autoclose", platform.topics.conversations.clone());
        Self { edge, timers }
    }

    async fn schedule(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        at_ms: i64,
    ) -> Result<(), ServiceError> {
        let after = self.edge.platform.routing.get(account_id).await?.auto_close_ms(skill_id);
        let due = at_ms.saturating_add(i64::try_from(after).unwrap_or(i64::MAX));
        let key = keys::conversation(account_id, conversation_id);
        let payload = Bytes::from(format!("{account_id}\n{conversation_id}"));
        self.timers.schedule(&key, &timer_id(account_id, conversation_id), due, payload).await
    }

    async fn cancel(&self, account_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        let key = keys::conversation(account_id, conversation_id);
        self.timers.cancel(&key, &timer_id(account_id, conversation_id)).await.map(|_| ())
    }

    async fn fire(&self, timer: DueTimer) -> Result<(), ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let Some((account_id, conversation_id)) = text.split_once('\n') else {
            tracing::error!(timer = %timer.timer_id, "malformed auto-close timer payload; dropped");
            return Ok(());
        };
        let store = &self.edge.platform.store;
        let Some(record) = store.get_conversation(account_id, conversation_id).await? else { return Ok(()) };
        if record.status != ConversationStatus::Open || record.pending != PendingSide::Consumer {
            return Ok(());
        }
        let route = store.route(account_id, conversation_id).await?;
        let config = self.edge.platform.routing.get(account_id).await?;
        // R13.3: an agent's manual response time keeps it open; with manual-SLA capacity
        // reduction on, until the agent wrote after its due time (R8.18).
        let manual = route.as_ref().filter(|r| r.sla == MANUAL_SLA);
        if manual.is_some_and(|r| !config.manual_sla_auto_closes(r.response_due_ms, record.last_agent_message_ms)) {
            return Ok(());
        }
        let skill = route.map(|r| r.skill_id).filter(|s| !s.is_empty()).unwrap_or_else(|| record.skill_id.clone());
        let after = config.auto_close_ms(&skill);
        let silent_since = record.last_agent_message_ms.max(record.last_consumer_message_ms).max(record.opened_at_ms);
        let due = silent_since.saturating_add(i64::try_from(after).unwrap_or(i64::MAX));
        if due > self.edge.platform.clock.now_ms() {
            let payload = Bytes::from(format!("{account_id}\n{conversation_id}"));
            let key = keys::conversation(account_id, conversation_id);
            return self.timers.schedule(&key, &timer.timer_id, due, payload).await;
        }
        self.edge.auto_close(account_id, &record).await?;
        metrics::counter!(AUTO_CLOSED_TOTAL, "service" => "connectors").increment(1);
        tracing::info!(account_id, conversation_id, silent_since, "auto closed");
        Ok(())
    }
}

#[async_trait]
impl Handler for AutoCloseHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let account = env.account_id.as_str();
        match env.body {
            Some(Body::MessagePublished(published)) => {
                let Some(message) = published.message else { return Ok(()) };
                let conversation = message.conversation_id.as_str();
                if message.from == Party::Agent as i32 {
                    self.schedule(account, conversation, &published.skill_id, message.sent_at_ms).await
                } else if message.from == Party::Consumer as i32 {
                    self.cancel(account, conversation).await
                } else {
                    Ok(())
                }
            }
            Some(Body::ConversationClosed(closed)) => self.cancel(account, &closed.conversation_id).await,
            _ => Ok(()),
        }
    }

    async fn tick(&mut self, assignment: &[(String, i32)]) {
        self.timers.fire_due(assignment, |timer| self.fire(timer)).await;
    }

    async fn stranded(&mut self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }
}

#[cfg(test)]
#[path = "autoclose_tests.rs"]
mod tests;
