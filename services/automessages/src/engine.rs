//! What the consumer and the timers do with [`crate::decide`]: read a conversation's facts,
//! ask the rules, and send what they say as a [`SystemMessageRequested`] command to
//! connectors, with a dedupe id naming the trigger so that no trigger puts its message twice
//! in a transcript (redeliveries, restarts, two replicas).

use std::sync::Arc;

use switchyard_hours::Timestamp;
use switchyard_kit::routing_config::Configs;
use switchyard_kit::{config::keys, envelope, response_time, Platform, ServiceError};
use switchyard_platform::store::ConversationStatus;
use switchyard_proto::events::v1::{envelope::Body, SystemMessageRequested};

use crate::catalogue::Event;
use crate::decide::{self, Facts, Outcome};
use crate::settings::Settings;
use crate::{SENT_TOTAL, SUPPRESSED_TOTAL};

#[derive(Clone)]
pub struct Engine {
    pub platform: Platform,
    pub settings: Arc<Configs<Settings>>,
}

impl Engine {
    pub fn new(platform: Platform, settings: Arc<Configs<Settings>>) -> Self {
        Self { platform, settings }
    }

    /// The account's settings when its feature is on.
    pub async fn enabled(&self, account_id: &str) -> Result<Option<Arc<Settings>>, ServiceError> {
        let settings = self.settings.get(account_id).await?;
        Ok(settings.enabled.then_some(settings))
    }

    /// What is true of the conversation now; None once it closed (or never existed).
    pub async fn facts(&self, account_id: &str, conversation_id: &str) -> Result<Option<Facts>, ServiceError> {
        let store = &self.platform.store;
        let (record, route) = futures::try_join!(
            store.get_conversation(account_id, conversation_id),
            store.route(account_id, conversation_id)
        )?;
        let Some(record) = record.filter(|r| r.status == ConversationStatus::Open) else { return Ok(None) };
        let config = self.platform.routing.get(account_id).await?;
        let skill_id = route.as_ref().map(|r| r.skill_id.clone()).filter(|s| !s.is_empty());
        let skill_id = skill_id.unwrap_or_else(|| record.skill_id.clone());
        let now_ms = self.platform.clock.now_ms();
        let closed_until_ms = self.closed_until(&config, &skill_id, now_ms);
        let due_ms = response_time::expected_response(&config, &record, route.as_ref()).map(|(due, _)| due);
        Ok(Some(Facts { now_ms, record, route, skill_id, closed_until_ms, due_ms, last_auto_close_ms: None }))
    }

    /// R11.12: when the skill opens again, if it is in off hours at `at_ms`.
    pub fn closed_until(&self, config: &switchyard_routing::RoutingConfig, skill_id: &str, at_ms: i64) -> Option<i64> {
        if config.hours.is_open_all_the_time() {
            return None;
        }
        let at = Timestamp::from_millisecond(at_ms).ok()?;
        config.schedule(skill_id).closed_period(at).map(|delay| delay.until.as_millisecond())
    }

    /// Sends `outcome` (or counts why not) for `event`, once per `trigger`.
    pub async fn deliver(
        &self,
        account_id: &str,
        facts: &Facts,
        event: Event,
        trigger: &str,
        outcome: Outcome,
    ) -> Result<(), ServiceError> {
        let text = match outcome {
            Outcome::Send { text, .. } => text,
            Outcome::Skip(why) => {
                tracing::debug!(event = event.name(), conversation = %facts.record.conversation_id, why, "automatic message not sent");
                metrics::counter!(SUPPRESSED_TOTAL, "event" => event.name()).increment(1);
                return Ok(());
            }
        };
        let conversation_id = facts.record.conversation_id.clone();
        // The welcome variants share one id: a conversation is welcomed once.
        let family = if is_welcome(event) { "welcome" } else { event.name() };
        let dedupe_id = format!("am:{family}:{trigger}");
        let body = Body::SystemMessageRequested(SystemMessageRequested {
            conversation_id: conversation_id.clone(),
            text,
            dedupe_id: dedupe_id.clone(),
            event: event.name().to_owned(),
        });
        let env = envelope::with_id(format!("{dedupe_id}:{conversation_id}"), account_id, facts.now_ms, body);
        let topic = &self.platform.topics.assignments;
        envelope::publish(&*self.platform.bus, topic, keys::conversation(account_id, &conversation_id), &env).await?;
        metrics::counter!(SENT_TOTAL, "event" => event.name()).increment(1);
        Ok(())
    }

    /// The nickname consumers see for `agent_id` (its id when it has none).
    pub async fn nickname(&self, account_id: &str, agent_id: &str) -> Result<String, ServiceError> {
        let agent = self.platform.store.get_agent(account_id, agent_id).await?;
        Ok(agent.map(|a| a.spec.nickname).filter(|n| !n.is_empty()).unwrap_or_else(|| agent_id.to_owned()))
    }
}

pub fn is_welcome(event: Event) -> bool {
    matches!(event, Event::FirstTimeWelcome | Event::Welcome | Event::FirstTimeOffHoursWelcome | Event::OffHoursWelcome)
}

/// `compose` for an event without overrides.
pub fn plain(settings: &Settings, facts: &Facts, event: Event) -> Outcome {
    decide::compose(settings, facts, event, None, false, None)
}
