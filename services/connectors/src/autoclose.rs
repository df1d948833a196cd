//! Auto close (R13.1-R13.7): a conversation pending consumer closes by itself after its skill's
//! auto-close time without activity, silently (R13.5). Connectors closes it, as the one writer
//! of conversation records, on the durable timers: one timer per conversation,
//! `autoclose:<account>/<conversation>`, so closing is on time and costs nothing while nothing
//! is due.
//!
//! The writes schedule it where they happen (no consumer reads the events back for this):
//! - An agent's message schedules the close at its time plus the auto-close time, before the
//!   message is stored, so no crash can leave a stored answer without its timer (a timer whose
//!   message was not stored finds nothing to close); a later answer moves it.
//! - A close cancels it, so timers do not outlive their conversations.
//! - A consumer's message (pending agent: never auto-closed, R13.2) and system (automatic)
//!   messages (not activity, R13.6) leave it: the record decides when it fires.
//!
//! The timers are sharded like the `assignments` partitions and fired by the member of the
//! `connectors` group that owns the partition. When one fires, the record decides: open,
//! pending consumer, silent for the auto-close time of its current skill (a transfer to a
//! skill with a longer time moves it on), and no manual response time set by the agent (R13.3:
//! those are never auto-closed). The consumer's next message opens a new conversation (R13.5).

use std::time::Duration;

use bytes::Bytes;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, Platform, ServiceError};
use switchyard_platform::store::{ConversationStatus, DueTimer, PendingSide};
use switchyard_routing::MANUAL_SLA;

use crate::edge::Edge;
use crate::AUTO_CLOSED_TOTAL;

/// The auto-close timers of the conversations.
pub(crate) struct AutoClose {
    timers: Timers,
}

fn timer_id(account_id: &str, conversation_id: &str) -> String {
    format!("autoclose:{}", keys::conversation(account_id, conversation_id))
}

fn payload(account_id: &str, conversation_id: &str) -> Bytes {
    Bytes::from(format!("{account_id}\n{conversation_id}"))
}

impl AutoClose {
    pub(crate) fn new(platform: &Platform) -> Self {
        let topic = platform.topics.assignments.clone();
        Self { timers: Timers::new(platform.clone(), "connectors", "connectors.autoclose", topic) }
    }

    /// An agent wrote at `at_ms` in a conversation of `skill_id`: it closes after the skill's
    /// auto-close time of silence (R13.4).
    pub(crate) async fn agent_wrote(
        &self,
        platform: &Platform,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        at_ms: i64,
    ) -> Result<(), ServiceError> {
        let after = platform.routing.get(account_id).await?.auto_close_ms(skill_id);
        let due = at_ms.saturating_add(i64::try_from(after).unwrap_or(i64::MAX));
        let key = keys::conversation(account_id, conversation_id);
        let id = timer_id(account_id, conversation_id);
        self.timers.schedule(&key, &id, due, payload(account_id, conversation_id)).await
    }

    /// The conversation closed (not by its own timer): nothing left to close.
    pub(crate) async fn closed(&self, account_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        let key = keys::conversation(account_id, conversation_id);
        self.timers.cancel(&key, &timer_id(account_id, conversation_id)).await.map(|_| ())
    }

    /// Fires the closes due in the shards of the owned `assignments` partitions.
    pub(crate) async fn fire_due(&self, edge: &Edge, assignment: &[(String, i32)]) {
        self.timers.fire_due(assignment, |timer| self.fire(edge, timer)).await;
    }

    pub(crate) async fn stranded(&self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }

    async fn fire(&self, edge: &Edge, timer: DueTimer) -> Result<(), ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let Some((account_id, conversation_id)) = text.split_once('\n') else {
            tracing::error!(timer = %timer.timer_id, "malformed auto-close timer payload; dropped");
            return Ok(());
        };
        let store = &edge.platform.store;
        let Some(record) = store.get_conversation(account_id, conversation_id).await? else { return Ok(()) };
        if record.status != ConversationStatus::Open || record.pending != PendingSide::Consumer {
            return Ok(());
        }
        let route = store.route(account_id, conversation_id).await?;
        let config = edge.platform.routing.get(account_id).await?;
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
        if due > edge.platform.clock.now_ms() {
            let key = keys::conversation(account_id, conversation_id);
            return self.timers.schedule(&key, &timer.timer_id, due, payload(account_id, conversation_id)).await;
        }
        edge.auto_close(account_id, &record).await?;
        metrics::counter!(AUTO_CLOSED_TOTAL, "service" => "connectors").increment(1);
        tracing::info!(account_id, conversation_id, silent_since, "auto closed");
        Ok(())
    }
}

#[cfg(test)]
#[path = "autoclose_tests.rs"]
mod tests;
