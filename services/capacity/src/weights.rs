//! Dynamic capacity (R8.2, R8.3, R8.10): a conversation weighs its skill's active weight while
//! the consumer waits for the agent, and the inactive weight once it has been pending consumer
//! for the skill's time to inactive. Capacity is the writer of those weights, on the durable
//! timers: one timer per conversation, `inactive:<account>/<conversation>`, in the shard of
//! the conversation's `conversations` partition, so the member that handles the
//! conversation's events also fires it, and a restarted member fires what came due meanwhile.
//!
//! - An agent's message schedules the drop at its time plus the time to inactive (a later
//!   message moves it).
//! - A consumer's message restores the active weight at once and cancels the drop.
//! - An assignment (or a transfer's new assignment) starts at the active weight (the router's
//!   claim); when the consumer is not waiting, the drop is scheduled from then.
//! - An unassignment or a close cancels it.
//!
//! Firing checks the record: only a conversation still open and pending consumer drops, and
//! only while its agent still holds it (`set_load_weight` checks that in the same step). A
//! drop that frees room announces the agent (AgentAvailable), so the router assigns the best
//! waiting conversation within one cycle (invariant 5).

use bytes::Bytes;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, Platform, ServiceError};
use switchyard_platform::store::{ConversationStatus, DueTimer, Milli, PendingSide};
use switchyard_proto::common::v1::Party;

use crate::WEIGHT_CHANGES_TOTAL;

/// A drop that came due and took effect: the agent may have room now.
pub(crate) struct Dropped {
    pub account_id: String,
    pub agent_id: String,
}

pub(crate) struct WeightTimers {
    platform: Platform,
    /// Sharded like `conversations`, by the conversation's key.
    timers: Timers,
}

fn timer_id(account_id: &str, conversation_id: &str) -> String {
    format!("inactive:{}", keys::conversation(account_id, conversation_id))
}

/// `account\nconversation\nagent\nskill`.
fn payload(account_id: &str, conversation_id: &str, agent_id: &str, skill_id: &str) -> Bytes {
    Bytes::from(format!("{account_id}\n{conversation_id}\n{agent_id}\n{skill_id}"))
}

impl WeightTimers {
    pub(crate) fn new(platform: Platform) -> Self {
        let timers =
            Timers::new(platform.clone(), "capacity", "capacity.conversations", platform.topics.conversations.clone());
        Self { platform, timers }
    }

    /// A message of `party` in a conversation `agent_id` holds on `skill_id` (none: not
    /// assigned), written at `at_ms`. Some when the agent's load dropped at once (R8.19).
    pub(crate) async fn message(
        &self,
        account_id: &str,
        conversation_id: &str,
        (agent_id, skill_id): (&str, &str),
        party: i32,
        at_ms: i64,
    ) -> Result<Option<Dropped>, ServiceError> {
        if agent_id.is_empty() {
            return Ok(None);
        }
        let config = self.platform.routing.get(account_id).await?;
        let weights = config.weights(skill_id);
        if !weights.decays() {
            return Ok(None);
        }
        let key = keys::conversation(account_id, conversation_id);
        if party == Party::Consumer as i32 {
            // R8.2 (and R8.16): the consumer waits for the agent: full weight, nothing to drop.
            self.timers.cancel(&key, &timer_id(account_id, conversation_id)).await?;
            self.restore(account_id, agent_id, conversation_id, weights.active).await?;
        } else if party == Party::Agent as i32 {
            if self.answered_backlog(&config, account_id, conversation_id, at_ms).await? {
                return self.reduce(account_id, conversation_id, agent_id, weights.inactive, "backlog").await;
            }
            self.agent_wrote_under_manual_time(&config, account_id, conversation_id, agent_id, weights.active).await?;
            // R8.3: pending consumer from now; inactive after the time to inactive.
            let due = at_ms.saturating_add(weights.time_to_inactive_ms as i64);
            let body = payload(account_id, conversation_id, agent_id, skill_id);
            self.timers.schedule(&key, &timer_id(account_id, conversation_id), due, body).await?;
        }
        Ok(None)
    }

    /// Back to the active weight, if it weighed less.
    async fn restore(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        active: Milli,
    ) -> Result<(), ServiceError> {
        let before = self.platform.store.set_load_weight(account_id, agent_id, conversation_id, active).await?;
        if before.is_some_and(|w| w != active) {
            metrics::counter!(WEIGHT_CHANGES_TOTAL, "service" => "capacity", "to" => "active").increment(1);
        }
        Ok(())
    }

    /// Down to the inactive weight at once (no drop left to schedule); Some when it weighed
    /// more, so the agent may have room.
    async fn reduce(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        inactive: Milli,
        why: &'static str,
    ) -> Result<Option<Dropped>, ServiceError> {
        let key = keys::conversation(account_id, conversation_id);
        self.timers.cancel(&key, &timer_id(account_id, conversation_id)).await?;
        match self.platform.store.set_load_weight(account_id, agent_id, conversation_id, inactive).await? {
            Some(before) if before > inactive => {
                metrics::counter!(WEIGHT_CHANGES_TOTAL, "service" => "capacity", "to" => "inactive").increment(1);
                tracing::debug!(account_id, conversation_id, agent_id, before, inactive, why, "conversation relieved");
                Ok(Some(Dropped { account_id: account_id.to_owned(), agent_id: agent_id.to_owned() }))
            }
            _ => Ok(None),
        }
    }

    /// Whether conversations of `skill_id` ever drop (callers skip their reads otherwise).
    pub(crate) async fn decays(&self, account_id: &str, skill_id: &str) -> Result<bool, ServiceError> {
        Ok(self.platform.routing.get(account_id).await?.weights(skill_id).decays())
    }

    /// R8.10: a new assignment weighs the active weight (the claim wrote it); when the
    /// consumer is not the one waiting (`pending` consumer; None: closed or gone), the drop
    /// counts from now.
    pub(crate) async fn assigned(
        &self,
        account_id: &str,
        conversation_id: &str,
        (agent_id, skill_id): (&str, &str),
        pending: Option<PendingSide>,
    ) -> Result<(), ServiceError> {
        let weights = self.platform.routing.get(account_id).await?.weights(skill_id);
        let key = keys::conversation(account_id, conversation_id);
        let id = timer_id(account_id, conversation_id);
        if !weights.decays() {
            return Ok(());
        }
        match pending {
            Some(PendingSide::Consumer) => {
                let due = self.platform.clock.now_ms().saturating_add(weights.time_to_inactive_ms as i64);
                let body = payload(account_id, conversation_id, agent_id, skill_id);
                self.timers.schedule(&key, &id, due, body).await
            }
            _ => {
                self.timers.cancel(&key, &id).await?;
                Ok(())
            }
        }
    }

    /// Unassigned or closed: nothing of it weighs on the agent any more.
    pub(crate) async fn forget(&self, account_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        let key = keys::conversation(account_id, conversation_id);
        self.timers.cancel(&key, &timer_id(account_id, conversation_id)).await?;
        Ok(())
    }

    /// Fires the drops due in the shards of the owned `conversations` partitions; returns the
    /// agents whose load dropped.
    pub(crate) async fn fire_due(&self, assignment: &[(String, i32)]) -> Vec<Dropped> {
        let dropped = std::sync::Mutex::new(Vec::new());
        let sink = &dropped;
        self.timers
            .fire_due(assignment, |timer| async move {
                if let Some(d) = self.fire(timer).await? {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(d);
                }
                Ok(())
            })
            .await;
        dropped.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    /// Drop timers of partitions this member does not own, overdue by more than `older_than`.
    pub(crate) async fn stranded(
        &self,
        assignment: &[(String, i32)],
        older_than: std::time::Duration,
    ) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }

    async fn fire(&self, timer: DueTimer) -> Result<Option<Dropped>, ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let parts: Vec<&str> = text.split('\n').collect();
        let [account_id, conversation_id, agent_id, skill_id] = parts[..] else {
            tracing::error!(timer = %timer.timer_id, "malformed inactivity timer payload; dropped");
            return Ok(None);
        };
        let store = &self.platform.store;
        let Some(record) = store.get_conversation(account_id, conversation_id).await? else { return Ok(None) };
        if record.status != ConversationStatus::Open || record.pending != PendingSide::Consumer {
            return Ok(None);
        }
        let inactive: Milli = self.platform.routing.get(account_id).await?.weights(skill_id).inactive;
        match store.set_load_weight(account_id, agent_id, conversation_id, inactive).await? {
            Some(before) if before > inactive => {
                metrics::counter!(WEIGHT_CHANGES_TOTAL, "service" => "capacity", "to" => "inactive").increment(1);
                tracing::debug!(account_id, conversation_id, agent_id, before, inactive, "conversation inactive");
                Ok(Some(Dropped { account_id: account_id.to_owned(), agent_id: agent_id.to_owned() }))
            }
            _ => Ok(None),
        }
    }
}

#[path = "relief.rs"]
mod relief;

#[cfg(test)]
#[path = "weights_tests.rs"]
mod tests;
