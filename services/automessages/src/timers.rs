//! The three timed messages (R14.10, R14.13-R14.15) on the durable timers, one timer per
//! conversation and event, sharded like the `conversations` partitions this member owns. A
//! timer is only a wake-up: when it fires, the rule reads the conversation again and works
//! out when the silence (or the queue stay) began, so a stale or early timer sends nothing
//! and a late one sends the message of the right start, once (the start is in its dedupe id).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchyard_kit::config::keys;
use switchyard_kit::timers::Timers;
use switchyard_kit::ServiceError;
use switchyard_platform::store::DueTimer;

use crate::catalogue::Event;
use crate::decide::{self, Facts};
use crate::engine::{plain, Engine};
use crate::settings::Settings;

/// The timed events.
pub const TIMED: [Event; 3] = [Event::AgentNonResponsive, Event::ConsumerNonResponsive, Event::WaitingInQueue];

#[derive(Serialize, Deserialize)]
struct Payload {
    account_id: String,
    conversation_id: String,
    event: Event,
}

pub struct MessageTimers {
    engine: Engine,
    timers: Timers,
}

fn timer_id(account_id: &str, conversation_id: &str, event: Event) -> String {
    format!("{}|{account_id}|{conversation_id}", event.name())
}

impl MessageTimers {
    pub fn new(engine: Engine) -> Self {
        let topic = engine.platform.topics.conversations.clone();
        let timers = Timers::new(engine.platform.clone(), "automessages", "automessages", topic);
        Self { engine, timers }
    }

    /// Wakes the event's rule for the conversation at `due_ms`: moving an existing wake-up,
    /// or with `no_later` only when that makes it sooner.
    pub async fn schedule(
        &self,
        account_id: &str,
        conversation_id: &str,
        event: Event,
        due_ms: i64,
        no_later: bool,
    ) -> Result<(), ServiceError> {
        let payload = Payload { account_id: account_id.into(), conversation_id: conversation_id.into(), event };
        let bytes = Bytes::from(serde_json::to_vec(&payload).map_err(|e| ServiceError::Internal(e.to_string()))?);
        let (key, id) = (keys::conversation(account_id, conversation_id), timer_id(account_id, conversation_id, event));
        if no_later {
            self.timers.schedule_no_later(&key, &id, due_ms, bytes).await
        } else {
            self.timers.schedule(&key, &id, due_ms, bytes).await
        }
    }

    pub async fn cancel(&self, account_id: &str, conversation_id: &str, event: Event) -> Result<(), ServiceError> {
        let key = keys::conversation(account_id, conversation_id);
        self.timers.cancel(&key, &timer_id(account_id, conversation_id, event)).await.map(|_| ())
    }

    pub async fn cancel_all(&self, account_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        for event in TIMED {
            self.cancel(account_id, conversation_id, event).await?;
        }
        Ok(())
    }

    pub async fn fire_due(&self, assignment: &[(String, i32)]) -> usize {
        self.timers.fire_due(assignment, |timer| self.fire(timer)).await
    }

    pub async fn stranded(&self, assignment: &[(String, i32)], older_than: std::time::Duration) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }

    /// The rule of the timer's event, read afresh: nothing when the silence (or stay) ended,
    /// a new wake-up when its message is not due yet, else the message for that start.
    async fn fire(&self, timer: DueTimer) -> Result<(), ServiceError> {
        let Ok(payload) = serde_json::from_slice::<Payload>(&timer.payload) else {
            tracing::warn!(timer = %timer.timer_id, "unreadable automatic-message timer dropped");
            return Ok(());
        };
        let (account, conversation, event) = (&payload.account_id, &payload.conversation_id, payload.event);
        let Some(settings) = self.engine.enabled(account).await? else { return Ok(()) };
        let Some(facts) = self.engine.facts(account, conversation).await? else { return Ok(()) };
        let Ok((trigger, start_ms)) = silence(&facts, event) else { return Ok(()) };
        let config = self.engine.platform.routing.get(account).await?;
        let due = due_ms(&settings, &config, event, &facts.skill_id, start_ms);
        if due > facts.now_ms {
            return self.schedule(account, conversation, event, due, false).await;
        }
        let outcome = match facts.closed_until_ms {
            // R14.13, R14.14: never in off hours (a manual switch to off hours after the
            // wake-up was set).
            Some(_) if event != Event::ConsumerNonResponsive => {
                decide::Outcome::Skip("the skill is in off hours (R14.13, R14.14)".into())
            }
            _ => plain(&settings, &facts, event),
        };
        self.engine.deliver(account, &facts, event, &trigger, outcome).await
    }
}

/// When the event's message is due for a silence or stay that began at `start_ms`:
/// `timer` later, counted in working hours for the two that never fire in off hours
/// (R14.13, R14.14), in plain time for the consumer's silence (R14.15).
pub fn due_ms(
    settings: &Settings,
    config: &switchyard_routing::RoutingConfig,
    event: Event,
    skill_id: &str,
    start_ms: i64,
) -> i64 {
    let timer = settings.timer(event, skill_id);
    let timer_ms = u64::try_from(timer.as_millis()).unwrap_or(u64::MAX);
    match event {
        Event::ConsumerNonResponsive => start_ms.saturating_add(i64::try_from(timer_ms).unwrap_or(i64::MAX)),
        _ => config.due_ms(skill_id, start_ms, timer_ms),
    }
}

/// When the event's silence (or queue stay) began, and the trigger naming it; Err when there
/// is none now.
pub fn silence(facts: &Facts, event: Event) -> Result<(String, i64), String> {
    match event {
        Event::AgentNonResponsive => {
            decide::agent_silence(facts).map(|(version, start)| (format!("{version}:{start}"), start))
        }
        Event::ConsumerNonResponsive => decide::consumer_silence(facts).map(|start| (start.to_string(), start)),
        Event::WaitingInQueue => decide::queue_wait(facts).map(|start| (start.to_string(), start)),
        _ => Err("not a timed event".into()),
    }
}
