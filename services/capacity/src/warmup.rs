//! Warm-up steps (R8.12-R8.14). The allowance itself is the claim's arithmetic
//! (`rules::warm_check`: one conversation per step begun since the warm-up started), so a step
//! can never be granted twice or lost; what capacity adds is the announcement at each step, so
//! the router hands the next conversation over at once instead of at its next pass. One
//! durable timer per agent, `warmup:<account>/<agent>`, in the shard of the agent's `agents`
//! partition: a login schedules the first step, each step the next, until the warm-up is over.

use bytes::Bytes;
use switchyard_kit::timers::Timers;
use switchyard_kit::{config::keys, Platform, ServiceError};
use switchyard_platform::store::DueTimer;

/// A step that came due: the agent may take one more conversation now.
pub(crate) struct Step {
    pub account_id: String,
    pub agent_id: String,
}

pub(crate) struct WarmupSteps {
    platform: Platform,
    timers: Timers,
}

fn timer_id(account_id: &str, agent_id: &str) -> String {
    format!("warmup:{}", keys::agent(account_id, agent_id))
}

impl WarmupSteps {
    pub(crate) fn new(platform: Platform) -> Self {
        let timers = Timers::new(platform.clone(), "capacity", "capacity.warmup", platform.topics.agents.clone());
        Self { platform, timers }
    }

    /// The interval and period of the warm-up the agent's skills apply (the longest of them);
    /// None when none of its skills warms up.
    async fn terms(&self, account_id: &str, skills: &[String]) -> Result<Option<(u64, u64)>, ServiceError> {
        let config = self.platform.routing.get(account_id).await?;
        let mut terms = skills.iter().filter_map(|s| config.warmup(s));
        Ok(terms.next().map(|first| terms.fold(first, |a, b| (a.0.min(b.0), a.1.max(b.1)))))
    }

    /// R8.12: a login at `login_ms` arms a warm-up (the agent edge wrote it with the session;
    /// a state change of a logged-in agent does not); the first step's announcement is one
    /// interval after the warm-up began (the first conversation needs none: the login
    /// announces the agent). The first claim may have started it before this event is read
    /// (or, after a restart, long before): a warm-up started since the login counts too.
    pub(crate) async fn logged_in(&self, account_id: &str, agent_id: &str, login_ms: i64) -> Result<(), ServiceError> {
        if !self.platform.routing.get(account_id).await?.any_warmup() {
            return Ok(());
        }
        let Some(agent) = self.platform.store.get_agent(account_id, agent_id).await? else { return Ok(()) };
        let started_since_login = agent.warmup.from_ms >= login_ms;
        if !(agent.warmup.armed || started_since_login) {
            return Ok(());
        }
        let Some((interval, _)) = self.terms(account_id, &agent.spec.skill_ids).await? else { return Ok(()) };
        let began = if started_since_login { agent.warmup.from_ms } else { login_ms };
        let payload = Bytes::from(format!("{account_id}\n{agent_id}\n{login_ms}"));
        let key = keys::agent(account_id, agent_id);
        self.timers.schedule(&key, &timer_id(account_id, agent_id), began + interval as i64, payload).await
    }

    pub(crate) async fn fire_due(&self, assignment: &[(String, i32)]) -> Vec<Step> {
        let steps = std::sync::Mutex::new(Vec::new());
        let sink = &steps;
        self.timers
            .fire_due(assignment, |timer| async move {
                if let Some(step) = self.fire(timer).await? {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(step);
                }
                Ok(())
            })
            .await;
        steps.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) async fn stranded(
        &self,
        assignment: &[(String, i32)],
        older_than: std::time::Duration,
    ) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }

    /// Announces the step and schedules the next one while the warm-up lasts: from its start
    /// (the first claim after the login), or while it has not started, from the login.
    async fn fire(&self, timer: DueTimer) -> Result<Option<Step>, ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let parts: Vec<&str> = text.split('\n').collect();
        let [account_id, agent_id, login] = parts[..] else {
            tracing::error!(timer = %timer.timer_id, "malformed warm-up timer payload; dropped");
            return Ok(None);
        };
        let login: i64 = login.parse().unwrap_or(0);
        let Some(agent) = self.platform.store.get_agent(account_id, agent_id).await? else { return Ok(None) };
        let Some((interval, period)) = self.terms(account_id, &agent.spec.skill_ids).await? else { return Ok(None) };
        if !agent.logged_in {
            return Ok(None);
        }
        let (interval, period) = (interval as i64, period as i64);
        let now = self.platform.clock.now_ms();
        let started = if agent.warmup.from_ms >= login { agent.warmup.from_ms } else { login };
        if now >= started + period {
            return Ok(None);
        }
        let next = started + ((now - started) / interval + 1) * interval;
        if next < started + period {
            let payload = Bytes::from(format!("{account_id}\n{agent_id}\n{login}"));
            let key = keys::agent(account_id, agent_id);
            self.timers.schedule(&key, &timer_id(account_id, agent_id), next, payload).await?;
        }
        Ok(Some(Step { account_id: account_id.to_owned(), agent_id: agent_id.to_owned() }))
    }
}

#[cfg(test)]
#[path = "warmup_tests.rs"]
mod tests;
