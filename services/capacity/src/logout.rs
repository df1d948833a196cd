//! A logout's grace (`capacity.logout_requeue_grace`): when it runs out and the agent is still
//! logged out, each conversation still assigned to it goes back to its skill's queue, avoiding
//! that agent (R6.4), through the router like a back-to-queue. One durable timer per agent,
//! `logout:<account>/<agent>`, in the shard of the agent's `agents` partition: a later logout
//! moves it, a login cancels it, and a member that owns the partition after a crash fires it.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, Platform, ServiceError};
use switchyard_platform::store::{DueTimer, RouteStatus};
use switchyard_proto::events::v1::RouteConversation;

use crate::{requeue, LOGOUT_REQUEUED_TOTAL};

pub(crate) struct LogoutTimers {
    platform: Platform,
    grace: Duration,
    /// Sharded like `agents`, by the agent's key (shards `capacity.agents.<partition>`).
    timers: Timers,
}

impl LogoutTimers {
    pub(crate) fn new(platform: Platform, grace: Duration) -> Self {
        let timers = Timers::new(platform.clone(), "capacity", "capacity.agents", platform.topics.agents.clone());
        Self { platform, grace, timers }
    }

    pub(crate) async fn schedule(&mut self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        let due = self.platform.clock.now_ms() + self.grace.as_millis() as i64;
        let payload = Bytes::from(format!("{account_id}\n{agent_id}"));
        let key = keys::agent(account_id, agent_id);
        self.timers.schedule(&key, &timer_id(account_id, agent_id), due, payload).await
    }

    pub(crate) async fn cancel(&mut self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        self.timers.cancel(&keys::agent(account_id, agent_id), &timer_id(account_id, agent_id)).await?;
        Ok(())
    }

    /// Fires what is due in the shards of the owned `agents` partitions. A timer whose effect
    /// failed comes due again after its lease.
    pub(crate) async fn fire_due(&mut self, assignment: &[(String, i32)]) {
        self.timers.fire_due(assignment, |timer| self.fire(timer)).await;
    }

    /// Logout timers of `agents` partitions this member does not own, overdue by more than
    /// `older_than`: nobody fires them (see `Handler::stranded`).
    pub(crate) async fn stranded(&self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }

    async fn fire(&self, timer: DueTimer) -> Result<(), ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let Some((account_id, agent_id)) = text.split_once('\n') else {
            tracing::error!(timer = %timer.timer_id, "malformed logout timer payload; dropped");
            return Ok(());
        };
        let store = &self.platform.store;
        let Some(agent) = store.get_agent(account_id, agent_id).await? else { return Ok(()) };
        if agent.logged_in {
            return Ok(());
        }
        // Commands to the same skill go to the same partition: publish them concurrently.
        let mut commands: HashMap<String, Vec<RouteConversation>> = HashMap::new();
        for (conversation_id, _) in &agent.load {
            let Some(route) = store.route(account_id, conversation_id).await? else { continue };
            if route.status != RouteStatus::Assigned || route.agent_id != agent_id {
                continue;
            }
            let cmd = requeue::command(&route, self.platform.clock.now_ms(), "agent_logged_out");
            commands.entry(route.skill_id.clone()).or_default().push(cmd);
        }
        let platform = &self.platform;
        let publishes = commands
            .into_values()
            .flatten()
            .map(|cmd| async move { requeue::publish(platform, account_id, "logout-requeue", cmd).await });
        let sent = futures::future::try_join_all(publishes).await?;
        if !sent.is_empty() {
            tracing::info!(
                account_id,
                agent_id,
                conversations = sent.len(),
                "logged-out agent's conversations requeued"
            );
            metrics::counter!(LOGOUT_REQUEUED_TOTAL, "service" => "capacity").increment(sent.len() as u64);
        }
        Ok(())
    }
}

fn timer_id(account_id: &str, agent_id: &str) -> String {
    format!("logout:{}", keys::agent(account_id, agent_id))
}
