//! Agent presence from its streams (peer lesson 22: mobile agents flagged offline the moment the
//! app went to the background lost every conversation). An ONLINE agent with no open stream for
//! `connectors.agent_presence_grace` is set AWAY with the reserved reason `disconnected`: it
//! gets no new conversations (R7.1) and keeps the ones it holds (R7.2; auto unassign for AWAY,
//! R8.24, returns unanswered ones if the account switched it on). A stream opening again puts
//! an agent AWAY for that reason back ONLINE; any other state it set itself stands.
//!
//! One durable timer per agent, `presence:<account>/<agent>`: a stream's end schedules it, a
//! stream's start cancels it, and every open stream cancels it again every half grace, so an
//! agent with a stream on another replica (or a second device) is never taken for
//! disconnected. The timers are sharded like the `assignments` partitions (by the agent's key)
//! and fired by the member of the `connectors` group that owns the partition.

use std::time::Duration;

use bytes::Bytes;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, Platform, ServiceError};
use switchyard_platform::store::{AgentState as StoredState, DueTimer};
use switchyard_proto::common::v1::AgentState;
use switchyard_routing::DISCONNECTED_AWAY_REASON;

use crate::desk::Desk;

pub const DISCONNECTED_TOTAL: &str = "switchyard_connectors_agents_disconnected_total";

/// The presence timers (one set per process, kept by the edge).
pub(crate) fn timers(platform: &Platform) -> Timers {
    Timers::new(platform.clone(), "connectors", "connectors.presence", platform.topics.assignments.clone())
}

fn timer_id(account_id: &str, agent_id: &str) -> String {
    format!("presence:{}", keys::agent(account_id, agent_id))
}

impl Desk {
    fn presence_grace(&self) -> Duration {
        self.edge.config.agent_presence_grace
    }

    /// How often an open stream tells that its agent is there: half the grace (at least 1 s).
    pub(crate) fn presence_beat(&self) -> Option<Duration> {
        let grace = self.presence_grace();
        (!grace.is_zero()).then(|| (grace / 2).max(Duration::from_secs(1)))
    }

    /// A stream of the agent opened: no disconnect pending, and an agent AWAY because it was
    /// disconnected is ONLINE again.
    pub(crate) async fn stream_opened(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        if self.presence_grace().is_zero() {
            return Ok(());
        }
        self.stream_alive(account_id, agent_id).await?;
        let Some(agent) = self.edge.platform.store.get_agent(account_id, agent_id).await? else { return Ok(()) };
        if agent.logged_in && agent.state == StoredState::Away && agent.away_reason == DISCONNECTED_AWAY_REASON {
            self.change_session(account_id, agent_id, true, AgentState::Online, String::new()).await?;
        }
        Ok(())
    }

    /// An open stream's beat: whatever disconnect is pending for its agent is cancelled.
    pub(crate) async fn stream_alive(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        let key = keys::agent(account_id, agent_id);
        self.edge.presence.cancel(&key, &timer_id(account_id, agent_id)).await?;
        Ok(())
    }

    /// A stream of the agent ended: unless one is open (its beat cancels this) or opens within
    /// the grace, the agent is taken for disconnected.
    pub(crate) async fn stream_ended(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        let grace = self.presence_grace();
        if grace.is_zero() {
            return Ok(());
        }
        let due = self.edge.platform.clock.now_ms().saturating_add(i64::try_from(grace.as_millis()).unwrap_or(0));
        let key = keys::agent(account_id, agent_id);
        let payload = Bytes::from(format!("{account_id}\n{agent_id}"));
        self.edge.presence.schedule(&key, &timer_id(account_id, agent_id), due, payload).await
    }

    async fn disconnect_due(&self, timer: DueTimer) -> Result<(), ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let Some((account_id, agent_id)) = text.split_once('\n') else {
            tracing::error!(timer = %timer.timer_id, "malformed presence timer payload; dropped");
            return Ok(());
        };
        let Some(agent) = self.edge.platform.store.agent_presence(account_id, agent_id).await? else { return Ok(()) };
        // Only ONLINE: an agent that logged out, or chose AWAY or BACK_SOON, keeps its state.
        if !(agent.logged_in && agent.state == StoredState::Online) {
            return Ok(());
        }
        let reason = DISCONNECTED_AWAY_REASON.to_owned();
        self.change_session(account_id, agent_id, true, AgentState::Away, reason).await?;
        metrics::counter!(DISCONNECTED_TOTAL, "service" => "connectors").increment(1);
        tracing::info!(account_id, agent_id, "agent without a stream past the presence grace; set AWAY");
        Ok(())
    }

    /// Sets AWAY the agents whose grace ended, in the shards of the owned `assignments`
    /// partitions.
    pub(crate) async fn fire_presence_due(&self, assignment: &[(String, i32)]) {
        self.edge.presence.fire_due(assignment, |timer| self.disconnect_due(timer)).await;
    }
}
