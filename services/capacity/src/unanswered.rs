//! Auto unassign (R8.23, R8.24, behind the account's `capacity.auto_unassign`): a conversation
//! whose consumer has waited `after` for the assigned agent's answer goes back to its queue
//! when the agent is in a state switched on (ONLINE but not answering, AWAY or BACK_SOON,
//! OFFLINE), through the router like a back-to-queue, avoiding that agent (R6.4); the consumer
//! sees nothing of it (R8.24). One durable timer per conversation, `unanswered:<account>/
//! <conversation>`, in the shard of its `conversations` partition:
//!
//! - the consumer's first message after the agent's answer starts it (later ones do not move
//!   it: the wait began with the first);
//! - an assignment of a conversation whose consumer waits starts it afresh for the new agent;
//! - the agent's answer, an unassignment or a close cancels it.
//!
//! When it fires while the agent's state is not switched on, it looks again one `after`
//! later, as long as the consumer waits.

use bytes::Bytes;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, Platform, ServiceError};
use switchyard_platform::store::{AgentState, ConversationStatus, DueTimer, PendingSide, RouteStatus};
use switchyard_proto::common::v1::Party;
use switchyard_routing::AutoUnassign;

use crate::{requeue, AUTO_UNASSIGNED_TOTAL};

pub(crate) struct UnansweredTimers {
    platform: Platform,
    timers: Timers,
}

fn timer_id(account_id: &str, conversation_id: &str) -> String {
    format!("unanswered:{}", keys::conversation(account_id, conversation_id))
}

fn payload(account_id: &str, conversation_id: &str, agent_id: &str) -> Bytes {
    Bytes::from(format!("{account_id}\n{conversation_id}\n{agent_id}"))
}

/// R8.24: whether the policy covers an agent in this session.
pub(crate) fn covers(policy: &AutoUnassign, logged_in: bool, state: AgentState) -> bool {
    match (logged_in, state) {
        (false, _) | (true, AgentState::Offline) => policy.offline,
        (true, AgentState::Online) => policy.online,
        (true, AgentState::Away | AgentState::BackSoon) => policy.away,
    }
}

impl UnansweredTimers {
    pub(crate) fn new(platform: Platform) -> Self {
        let timers =
            Timers::new(platform.clone(), "capacity", "capacity.unanswered", platform.topics.conversations.clone());
        Self { platform, timers }
    }

    async fn policy(&self, account_id: &str) -> Result<AutoUnassign, ServiceError> {
        Ok(self.platform.routing.get(account_id).await?.account.capacity.auto_unassign)
    }

    /// Whether the account unassigns at all (callers skip their reads otherwise).
    pub(crate) async fn enabled(&self, account_id: &str) -> Result<bool, ServiceError> {
        Ok(self.policy(account_id).await?.any())
    }

    /// A message in a conversation `agent_id` holds (none: not assigned).
    pub(crate) async fn message(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        party: i32,
        at_ms: i64,
    ) -> Result<(), ServiceError> {
        if agent_id.is_empty() {
            return Ok(());
        }
        let policy = self.policy(account_id).await?;
        if !policy.any() {
            return Ok(());
        }
        let key = keys::conversation(account_id, conversation_id);
        let id = timer_id(account_id, conversation_id);
        if party == Party::Consumer as i32 {
            let due = at_ms.saturating_add(policy.after_ms as i64);
            self.timers.schedule_no_later(&key, &id, due, payload(account_id, conversation_id, agent_id)).await
        } else if party == Party::Agent as i32 {
            self.timers.cancel(&key, &id).await.map(|_| ())
        } else {
            Ok(())
        }
    }

    /// A new assignment: when the consumer waits (`pending` agent), the new agent has `after`
    /// from now.
    pub(crate) async fn assigned(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        pending: Option<PendingSide>,
    ) -> Result<(), ServiceError> {
        let policy = self.policy(account_id).await?;
        let key = keys::conversation(account_id, conversation_id);
        let id = timer_id(account_id, conversation_id);
        if policy.any() && pending == Some(PendingSide::Agent) {
            let due = self.platform.clock.now_ms().saturating_add(policy.after_ms as i64);
            self.timers.schedule(&key, &id, due, payload(account_id, conversation_id, agent_id)).await
        } else {
            self.timers.cancel(&key, &id).await.map(|_| ())
        }
    }

    pub(crate) async fn forget(&self, account_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        let key = keys::conversation(account_id, conversation_id);
        self.timers.cancel(&key, &timer_id(account_id, conversation_id)).await.map(|_| ())
    }

    pub(crate) async fn fire_due(&self, assignment: &[(String, i32)]) {
        self.timers.fire_due(assignment, |timer| self.fire(timer)).await;
    }

    pub(crate) async fn stranded(
        &self,
        assignment: &[(String, i32)],
        older_than: std::time::Duration,
    ) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }

    async fn fire(&self, timer: DueTimer) -> Result<(), ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let parts: Vec<&str> = text.split('\n').collect();
        let [account_id, conversation_id, agent_id] = parts[..] else {
            tracing::error!(timer = %timer.timer_id, "malformed auto-unassign timer payload; dropped");
            return Ok(());
        };
        let store = &self.platform.store;
        let policy = self.policy(account_id).await?;
        let Some(record) = store.get_conversation(account_id, conversation_id).await? else { return Ok(()) };
        if !policy.any() || record.status != ConversationStatus::Open || record.pending != PendingSide::Agent {
            return Ok(());
        }
        let Some(route) = store.route(account_id, conversation_id).await? else { return Ok(()) };
        if route.status != RouteStatus::Assigned || route.agent_id != agent_id {
            return Ok(());
        }
        let Some(agent) = store.agent_presence(account_id, agent_id).await? else { return Ok(()) };
        if !covers(&policy, agent.logged_in, agent.state) {
            // Not for this state: look again later while the consumer waits.
            let due = self.platform.clock.now_ms().saturating_add(policy.after_ms as i64);
            let key = keys::conversation(account_id, conversation_id);
            let body = payload(account_id, conversation_id, agent_id);
            return self.timers.schedule(&key, &timer.timer_id, due, body).await;
        }
        let cmd = requeue::command(&route, self.platform.clock.now_ms(), "auto_unassigned");
        requeue::publish(&self.platform, account_id, "auto-unassign", cmd).await?;
        metrics::counter!(AUTO_UNASSIGNED_TOTAL, "service" => "capacity", "state" => agent.state.as_str()).increment(1);
        tracing::info!(account_id, conversation_id, agent_id, state = agent.state.as_str(), "auto unassigned");
        Ok(())
    }
}

#[cfg(test)]
#[path = "unanswered_tests.rs"]
mod flow_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_agent_state_has_its_own_switch_r8_24() {
        let online_only = AutoUnassign { online: true, ..Default::default() };
        assert!(covers(&online_only, true, AgentState::Online));
        assert!(!covers(&online_only, true, AgentState::Away));
        let away_only = AutoUnassign { away: true, ..Default::default() };
        assert!(covers(&away_only, true, AgentState::Away) && covers(&away_only, true, AgentState::BackSoon));
        assert!(!covers(&away_only, false, AgentState::Offline));
        let offline_only = AutoUnassign { offline: true, ..Default::default() };
        assert!(covers(&offline_only, false, AgentState::Online), "logged out counts as offline");
        assert!(covers(&offline_only, true, AgentState::Offline));
        assert!(!covers(&offline_only, true, AgentState::Online));
    }
}
