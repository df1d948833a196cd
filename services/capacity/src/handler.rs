//! The capacity consumer: availability hints, load release on close, and the logout timers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_kit::consumer::Handler;
use switchyard_kit::{config::keys, envelope, Platform, ServiceError};
use switchyard_platform::bus::Delivery;
use switchyard_platform::store::{AgentState, ConversationStatus, ReleaseOutcome};
use switchyard_proto::events::v1::{envelope::Body, AgentAvailable, Envelope};
use tokio::sync::Semaphore;

use crate::gauges::LoadGauges;
use crate::logout::LogoutTimers;
use crate::unanswered::UnansweredTimers;
use crate::warmup::WarmupSteps;
use crate::weights::WeightTimers;
use crate::{admin, AVAILABLE_DROPPED_TOTAL, AVAILABLE_TOTAL, RELEASED_TOTAL};

/// AgentAvailable hints in flight at once; beyond, hints are dropped (and counted): the
/// router's periodic pass gives a freed agent work within one interval anyway.
const HINTS_IN_FLIGHT: usize = 256;

pub(crate) struct CapacityHandler {
    platform: Platform,
    hints: Arc<Semaphore>,
    logouts: LogoutTimers,
    weights: WeightTimers,
    warmup: WarmupSteps,
    unanswered: UnansweredTimers,
    gauges: LoadGauges,
}

impl CapacityHandler {
    pub(crate) fn new(platform: Platform, grace: Duration) -> Self {
        let logouts = LogoutTimers::new(platform.clone(), grace);
        let weights = WeightTimers::new(platform.clone());
        let warmup = WarmupSteps::new(platform.clone());
        let unanswered = UnansweredTimers::new(platform.clone());
        let hints = Arc::new(Semaphore::new(HINTS_IN_FLIGHT));
        let gauges = LoadGauges::new(platform.clone());
        Self { platform, hints, logouts, weights, warmup, unanswered, gauges }
    }

    /// Publishes AgentAvailable if the agent is logged in and ONLINE: its load just dropped (or
    /// it just came online), so it may have room. Whether it has (R8.6, with the router's
    /// headroom and the waiting conversation's weight) the router decides, with the one rule
    /// (`store::rules::has_room`); a spurious hint costs a lookup, a missing one a sweep's wait.
    /// The conversation left its agent: its inactivity and unanswered timers go, skipping the
    /// store when the account uses neither (a timer left from before a feature was switched
    /// off finds the conversation closed or moved when it fires, and does nothing).
    async fn forget_timers(&self, account_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        if self.platform.routing.get(account_id).await?.any_weights_decay() {
            self.weights.forget(account_id, conversation_id).await?;
        }
        if self.unanswered.enabled(account_id).await? {
            self.unanswered.forget(account_id, conversation_id).await?;
        }
        Ok(())
    }

    async fn announce_if_available(&self, account_id: &str, agent_id: &str, cause: &str) -> Result<(), ServiceError> {
        let Some(agent) = self.platform.store.agent_presence(account_id, agent_id).await? else { return Ok(()) };
        if !(agent.logged_in && agent.state == AgentState::Online) {
            return Ok(());
        }
        let body = Body::AgentAvailable(AgentAvailable {
            agent_id: agent_id.to_owned(),
            skill_ids: agent.skill_ids.iter().filter(|s| s.as_str() != admin::UNASSIGNED_SKILL).cloned().collect(),
        });
        let env = envelope::with_id(format!("available:{cause}"), account_id, self.platform.clock.now_ms(), body);
        // A hint, not a fact: the load change is already durable, and the router's sweep gives
        // a freed agent work within one interval even if this event is lost. So the consumer
        // does not wait for the broker's acknowledgement (tens of ms on Kafka, per event), and
        // while the broker is slow at most HINTS_IN_FLIGHT wait for it.
        let Ok(permit) = self.hints.clone().try_acquire_owned() else {
            metrics::counter!(AVAILABLE_DROPPED_TOTAL, "service" => "capacity").increment(1);
            return Ok(());
        };
        let (bus, topic, key) =
            (self.platform.bus.clone(), self.platform.topics.agents.clone(), keys::agent(account_id, agent_id));
        tokio::spawn(async move {
            let _permit = permit;
            match envelope::publish(&*bus, &topic, key, &env).await {
                Ok(()) => metrics::counter!(AVAILABLE_TOTAL, "service" => "capacity").increment(1),
                Err(err) => {
                    tracing::warn!(error = %err, event_id = %env.event_id, "AgentAvailable not published; the sweep covers it")
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl Handler for CapacityHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let account = env.account_id.as_str();
        self.gauges.saw(account);
        match env.body {
            // The agent edge wrote the session to the agent's record before announcing it.
            Some(Body::AgentSessionChanged(change)) => {
                if change.logged_in {
                    self.logouts.cancel(account, &change.agent_id).await?;
                    self.warmup.logged_in(account, &change.agent_id, env.occurred_at_ms).await?;
                    self.announce_if_available(account, &change.agent_id, &env.event_id).await
                } else {
                    self.logouts.schedule(account, &change.agent_id).await
                }
            }
            Some(Body::MessagePublished(published)) => {
                let Some(message) = published.message else { return Ok(()) };
                let holder = (published.agent_id.as_str(), published.skill_id.as_str());
                let at = message.sent_at_ms;
                let conversation = message.conversation_id.as_str();
                let relieved = self.weights.message(account, conversation, holder, message.from, at).await?;
                self.unanswered.message(account, conversation, holder.0, message.from, at).await?;
                match relieved {
                    Some(d) => self.announce_if_available(account, &d.agent_id, &env.event_id).await,
                    None => Ok(()),
                }
            }
            Some(Body::ResponseTimeChanged(change)) => {
                let Some(d) = self.weights.manual_response_time(account, &change, env.occurred_at_ms).await? else {
                    return Ok(());
                };
                // Non-actionable now (R8.15): the agent promised a later answer, so no
                // auto unassign for this wait.
                self.unanswered.forget(account, &change.conversation_id).await?;
                self.announce_if_available(account, &d.agent_id, &env.event_id).await
            }
            Some(Body::ConversationAssigned(assigned)) => {
                let (conversation, agent, skill) = (&assigned.conversation_id, &assigned.agent_id, &assigned.skill_id);
                // One read of the record serves both timers, and none when neither applies.
                let decays = self.weights.decays(account, skill).await?;
                let unassigns = self.unanswered.enabled(account).await?;
                let pending = if decays || unassigns {
                    let record = self.platform.store.get_conversation(account, conversation).await?;
                    record.filter(|r| r.status == ConversationStatus::Open).map(|r| r.pending)
                } else {
                    None
                };
                self.weights.assigned(account, conversation, (agent, skill), pending).await?;
                self.unanswered.assigned(account, conversation, agent, pending).await
            }
            Some(Body::ConversationClosed(closed)) => {
                self.forget_timers(account, &closed.conversation_id).await?;
                let now = self.platform.clock.now_ms();
                match self.platform.store.release(account, &closed.conversation_id, now).await? {
                    ReleaseOutcome::FreedAgent { agent_id, .. } => {
                        metrics::counter!(RELEASED_TOTAL, "service" => "capacity").increment(1);
                        self.announce_if_available(account, &agent_id, &env.event_id).await
                    }
                    // Redelivery: the release happened, but the announcement may not have.
                    ReleaseOutcome::Unchanged if !closed.agent_id.is_empty() => {
                        self.announce_if_available(account, &closed.agent_id, &env.event_id).await
                    }
                    _ => Ok(()),
                }
            }
            Some(Body::ConversationUnassigned(unassigned)) => {
                self.forget_timers(account, &unassigned.conversation_id).await?;
                self.announce_if_available(account, &unassigned.agent_id, &env.event_id).await
            }
            _ => Ok(()),
        }
    }

    /// Fires the logout timers due in the `agents` partitions this member owns, and the
    /// inactivity drops due in its `conversations` partitions (announcing the agents whose
    /// load fell).
    async fn tick(&mut self, assignment: &[(String, i32)]) {
        self.logouts.fire_due(assignment).await;
        self.unanswered.fire_due(assignment).await;
        self.gauges.refresh_if_due().await;
        let now = self.platform.clock.now_ms();
        let dropped =
            self.weights.fire_due(assignment).await.into_iter().map(|d| (d.account_id, d.agent_id, "inactive"));
        let steps = self.warmup.fire_due(assignment).await.into_iter().map(|s| (s.account_id, s.agent_id, "warmup"));
        for (account_id, agent_id, why) in dropped.chain(steps).collect::<Vec<_>>() {
            if let Err(err) = self.announce_if_available(&account_id, &agent_id, &format!("{why}:{now}")).await {
                tracing::warn!(error = %err, agent_id, "AgentAvailable not published; the sweep covers it");
            }
        }
    }

    async fn stranded(&mut self, assignment: &[(String, i32)], older_than: std::time::Duration) -> Option<String> {
        if let Some(stranded) = self.logouts.stranded(assignment, older_than).await {
            return Some(stranded);
        }
        if let Some(stranded) = self.weights.stranded(assignment, older_than).await {
            return Some(stranded);
        }
        if let Some(stranded) = self.unanswered.stranded(assignment, older_than).await {
            return Some(stranded);
        }
        self.warmup.stranded(assignment, older_than).await
    }
}
