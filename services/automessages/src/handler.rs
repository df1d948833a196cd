//! The automessages consumer (group `automessages`, on `conversations` and `assignments`):
//! each event that triggers a catalogue message asks the rules and sends what they say; each
//! event that starts, restarts or ends a silence or a queue stay moves its timer. Nothing is
//! read for an account whose feature is off.

use async_trait::async_trait;
use switchyard_kit::consumer::Handler;
use switchyard_kit::ServiceError;
use switchyard_platform::bus::Delivery;
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{
    envelope::Body, Envelope, MessagePublished, ParticipantChanged, ResponseTimeChanged,
};
use switchyard_routing::{response_time_ms, urgent_due_ms, SlaKind, MANUAL_SLA};

use crate::catalogue::Event;
use crate::decide::{self, Facts, Outcome};
use crate::engine::{plain, Engine};
use crate::settings::Settings;
use crate::timers::MessageTimers;

/// R14.16: how long a consumer's last auto close is remembered.
const AUTO_CLOSE_MEMORY_MS: i64 = decide::WELCOME_AFTER_AUTO_CLOSE_MS;

pub struct AutoMessageHandler {
    engine: Engine,
    timers: MessageTimers,
}

impl AutoMessageHandler {
    pub fn new(engine: Engine) -> Self {
        let timers = MessageTimers::new(engine.clone());
        Self { engine, timers }
    }

    /// Wakes the timed event's rule when its silence (or stay) that began at `start_ms` will
    /// be due, when the event is on for the conversation's skill.
    async fn arm(
        &self,
        settings: &Settings,
        account: &str,
        facts: &Facts,
        event: Event,
        start_ms: i64,
        no_later: bool,
    ) -> Result<(), ServiceError> {
        if settings.off_reason(event, &facts.skill_id).is_some() {
            return Ok(());
        }
        let config = self.engine.platform.routing.get(account).await?;
        let due = crate::timers::due_ms(settings, &config, event, &facts.skill_id, start_ms);
        let conversation = facts.record.conversation_id.as_str();
        self.timers.schedule(account, conversation, event, due, no_later).await
    }

    async fn opened(&self, settings: &Settings, account: &str, conversation: &str) -> Result<(), ServiceError> {
        let Some(mut facts) = self.engine.facts(account, conversation).await? else { return Ok(()) };
        let store = &self.engine.platform.store;
        facts.last_auto_close_ms = store.last_auto_close(account, &facts.record.consumer_id).await?;
        let (event, outcome) = match decide::welcome(&facts) {
            Ok(event) => (event, plain(settings, &facts, event)),
            Err(why) => (Event::Welcome, Outcome::Skip(why)),
        };
        self.engine.deliver(account, &facts, event, conversation, outcome).await?;
        let opened_at = facts.record.opened_at_ms;
        self.arm(settings, account, &facts, Event::WaitingInQueue, opened_at, false).await
    }

    async fn message(
        &self,
        settings: &Settings,
        account: &str,
        published: &MessagePublished,
    ) -> Result<(), ServiceError> {
        let Some(message) = &published.message else { return Ok(()) };
        let conversation = message.conversation_id.as_str();
        let from_agent = message.from == Party::Agent as i32;
        if !from_agent && message.from != Party::Consumer as i32 {
            return Ok(());
        }
        // R14.13 ends and R14.15 (re)starts with an agent's message; the other way round with
        // a consumer's.
        let (ends, starts) = if from_agent {
            (Event::AgentNonResponsive, Event::ConsumerNonResponsive)
        } else {
            (Event::ConsumerNonResponsive, Event::AgentNonResponsive)
        };
        self.timers.cancel(account, conversation, ends).await?;
        let Some(facts) = self.engine.facts(account, conversation).await? else { return Ok(()) };
        if from_agent {
            return self.arm(settings, account, &facts, starts, message.sent_at_ms, false).await;
        }
        if !published.agent_id.is_empty() {
            // R14.13 (b): the first consumer message after the agent's reply starts it; later
            // ones do not move it.
            self.arm(settings, account, &facts, starts, message.sent_at_ms, true).await?;
        }
        if facts.closed_until_ms.is_none() {
            return Ok(());
        }
        let config = self.engine.platform.routing.get(account).await?;
        let opened_in = self.engine.closed_until(&config, &facts.skill_id, facts.record.opened_at_ms);
        let (trigger, outcome) = match decide::off_hours_mid_conversation(&facts, opened_in) {
            Ok(until) => (format!("{until}"), plain(settings, &facts, Event::OffHoursMidConversation)),
            Err(why) => (String::new(), Outcome::Skip(why)),
        };
        self.engine.deliver(account, &facts, Event::OffHoursMidConversation, &trigger, outcome).await
    }

    /// R10.3, R10.8: the new response time is told with the due time the change sets (the
    /// router may not have placed the conversation anew yet).
    async fn response_time(
        &self,
        settings: &Settings,
        account: &str,
        change: &ResponseTimeChanged,
        event_id: &str,
    ) -> Result<(), ServiceError> {
        let Some(facts) = self.engine.facts(account, &change.conversation_id).await? else { return Ok(()) };
        let config = self.engine.platform.routing.get(account).await?;
        let skill = change.skill_id.as_str();
        let (event, due) = if change.sla == MANUAL_SLA {
            (Event::ManualResponseTime, change.from_ms)
        } else {
            match SlaKind::from_name(&change.sla) {
                SlaKind::Urgent => (Event::MarkedUrgent, urgent_due_ms(&config, skill, change.from_ms, facts.due_ms)),
                kind => {
                    let allowed = response_time_ms(&config, skill, kind);
                    (Event::NoLongerUrgent, config.due_ms(skill, change.from_ms, allowed))
                }
            }
        };
        let outcome = decide::compose(settings, &facts, event, None, false, Some(due));
        self.engine.deliver(account, &facts, event, event_id, outcome).await
    }

    async fn assigned(
        &self,
        settings: &Settings,
        account: &str,
        conversation: &str,
        agent: &str,
        at_ms: i64,
        event_id: &str,
    ) -> Result<(), ServiceError> {
        self.timers.cancel(account, conversation, Event::WaitingInQueue).await?;
        let Some(facts) = self.engine.facts(account, conversation).await? else { return Ok(()) };
        let nickname = self.engine.nickname(account, agent).await?;
        let outcome = decide::compose(settings, &facts, Event::AgentAccepts, Some(&nickname), false, None);
        self.engine.deliver(account, &facts, Event::AgentAccepts, event_id, outcome).await?;
        // R14.13 (a): the new assignment restarts the agent's timer.
        self.arm(settings, account, &facts, Event::AgentNonResponsive, at_ms, false).await
    }

    /// R3.7: a manager's joining and leaving are told to the consumer; a reader's are silent.
    async fn participant(
        &self,
        settings: &Settings,
        account: &str,
        change: &ParticipantChanged,
        event_id: &str,
    ) -> Result<(), ServiceError> {
        if change.role != "manager" {
            return Ok(());
        }
        let Some(facts) = self.engine.facts(account, &change.conversation_id).await? else { return Ok(()) };
        let event = if change.joined { Event::ParticipantJoins } else { Event::ParticipantLeaves };
        let nickname = self.engine.nickname(account, &change.agent_id).await?;
        let outcome = decide::compose(settings, &facts, event, Some(&nickname), false, None);
        self.engine.deliver(account, &facts, event, event_id, outcome).await
    }

    async fn unassigned(
        &self,
        settings: &Settings,
        account: &str,
        conversation: &str,
        reason: &str,
        at_ms: i64,
        event_id: &str,
    ) -> Result<(), ServiceError> {
        self.timers.cancel(account, conversation, Event::AgentNonResponsive).await?;
        let Some(facts) = self.engine.facts(account, conversation).await? else { return Ok(()) };
        let to_agent = reason == "transfer_to_agent";
        let event = match reason {
            "transfer" | "transfer_to_agent" => Some(Event::Transferred),
            "back_to_queue" => Some(Event::ReturnedToQueue),
            // A logout's or auto unassign's requeue is seamless for the consumer (R8.24).
            _ => None,
        };
        if let Some(event) = event {
            let outcome = decide::compose(settings, &facts, event, None, to_agent, None);
            self.engine.deliver(account, &facts, event, event_id, outcome).await?;
        }
        // R14.14: a new queue stay; R14.15: the consumer's silence goes on.
        self.arm(settings, account, &facts, Event::WaitingInQueue, at_ms, false).await
    }
}

#[async_trait]
impl Handler for AutoMessageHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let account = env.account_id.as_str();
        let Some(body) = &env.body else { return Ok(()) };
        if let Body::ConversationClosed(closed) = body {
            // R14.16 remembers auto closes whatever the settings (they may be turned on within
            // the 48 h). The timers go when the feature is on; with it off a timer armed before
            // finds the conversation closed when it fires, and sends nothing: no store writes
            // per close for accounts that do not use automatic messages.
            if self.engine.enabled(account).await?.is_some() {
                self.timers.cancel_all(account, &closed.conversation_id).await?;
            }
            if closed.reason == "auto" {
                let store = &self.engine.platform.store;
                if let Some(record) = store.get_conversation(account, &closed.conversation_id).await? {
                    store
                        .note_auto_close(account, &record.consumer_id, env.occurred_at_ms, AUTO_CLOSE_MEMORY_MS)
                        .await?;
                }
            }
            return Ok(());
        }
        let Some(settings) = self.engine.enabled(account).await? else { return Ok(()) };
        match body {
            Body::ConversationOpened(opened) => self.opened(&settings, account, &opened.conversation_id).await,
            Body::MessagePublished(published) => self.message(&settings, account, published).await,
            Body::ResponseTimeChanged(change) => self.response_time(&settings, account, change, &env.event_id).await,
            Body::ConversationAssigned(a) => {
                self.assigned(&settings, account, &a.conversation_id, &a.agent_id, env.occurred_at_ms, &env.event_id)
                    .await
            }
            Body::ConversationUnassigned(u) => {
                self.unassigned(&settings, account, &u.conversation_id, &u.reason, env.occurred_at_ms, &env.event_id)
                    .await
            }
            Body::ParticipantChanged(p) => self.participant(&settings, account, p, &env.event_id).await,
            _ => Ok(()),
        }
    }

    async fn tick(&mut self, assignment: &[(String, i32)]) {
        self.timers.fire_due(assignment).await;
    }

    async fn stranded(&mut self, assignment: &[(String, i32)], older_than: std::time::Duration) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
