//! What the partner and agent edges share: lookups with precise errors, and the
//! conversation operations whose effects must be the same whoever triggers them (a message,
//! a close), each durable before the caller hears OK.

use std::sync::Arc;

use prost::Message as _;
use switchyard_kit::{config::keys, envelope, validate, Platform, ServiceError};
use switchyard_platform::store::{
    CloseOutcome, ConversationRecord, ConversationStatus, NewMessage, RouteStatus, StoredMessage,
};
use switchyard_proto::agent::v1::{agent_event, AgentEvent, Assignment};
use switchyard_proto::common::v1::{Channel, Message, Party};
use switchyard_proto::connectors::v1::{outbound_event, ConversationClosedEvent, OutboundEvent};
use switchyard_proto::events::v1::{envelope::Body, ConversationClosed, MessagePublished};

use crate::hub::Hub;

#[derive(Clone)]
pub struct Edge {
    pub platform: Platform,
    pub hub: Arc<Hub>,
}

pub fn channel(field: &str, value: i32) -> Result<Channel, ServiceError> {
    match Channel::try_from(value) {
        Ok(Channel::Unspecified) => Err(ServiceError::invalid(field, "must be set")),
        Ok(c) => Ok(c),
        Err(_) => Err(ServiceError::invalid(field, format!("unknown channel {value}"))),
    }
}

pub fn to_proto_message(conversation_id: &str, m: &StoredMessage) -> Message {
    Message {
        conversation_id: conversation_id.to_owned(),
        sequence: m.sequence,
        from: m.from,
        sender_id: m.sender_id.clone(),
        text: m.text.clone(),
        sent_at_ms: m.sent_at_ms,
    }
}

impl Edge {
    pub async fn require_account(&self, account_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        if self.platform.store.account_exists(account_id).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!("account {account_id}")))
        }
    }

    /// The conversation, scoped by account: another account's id is simply not found.
    pub async fn conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<ConversationRecord, ServiceError> {
        validate::id("account_id", account_id)?;
        validate::id("conversation_id", conversation_id)?;
        self.platform
            .store
            .get_conversation(account_id, conversation_id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("conversation {conversation_id}")))
    }

    pub async fn open_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<ConversationRecord, ServiceError> {
        let record = self.conversation(account_id, conversation_id).await?;
        if record.status == ConversationStatus::Closed {
            return Err(ServiceError::precondition(format!("conversation {conversation_id} is closed")));
        }
        Ok(record)
    }

    /// The agent holding the conversation now, if any.
    pub async fn assigned_agent(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<String>, ServiceError> {
        Ok(self
            .platform
            .store
            .route(account_id, conversation_id)
            .await?
            .filter(|r| r.status == RouteStatus::Assigned)
            .map(|r| r.agent_id))
    }

    /// Appends a message; a repeat of the same dedupe id returns the first one. The event is
    /// published either way (same event id), so a crash between the two cannot lose it.
    pub async fn append_and_publish(
        &self,
        account_id: &str,
        record: &ConversationRecord,
        message: NewMessage,
    ) -> Result<StoredMessage, ServiceError> {
        use switchyard_platform::store::AppendOutcome;
        let stored = match self.platform.store.append_message(account_id, &record.conversation_id, &message).await? {
            AppendOutcome::Appended(m) | AppendOutcome::Duplicate(m) => m,
            AppendOutcome::NotFound => {
                return Err(ServiceError::not_found(format!("conversation {}", record.conversation_id)))
            }
            AppendOutcome::Closed => {
                return Err(ServiceError::precondition(format!("conversation {} is closed", record.conversation_id)))
            }
        };
        if message.from == Party::Agent as i32 || message.from == Party::System as i32 {
            let event = OutboundEvent {
                sequence: 0,
                conversation_id: record.conversation_id.clone(),
                consumer_id: record.consumer_id.clone(),
                event: Some(outbound_event::Event::Message(to_proto_message(&record.conversation_id, &stored))),
            };
            self.outbox(
                account_id,
                record.channel,
                format!("msg:{}:{}", record.conversation_id, stored.sequence),
                event,
            )
            .await?;
        }
        let agent_id = self.assigned_agent(account_id, &record.conversation_id).await?.unwrap_or_default();
        let body = Body::MessagePublished(MessagePublished {
            message: Some(to_proto_message(&record.conversation_id, &stored)),
            agent_id,
        });
        let env = envelope::with_id(
            format!("msg:{}:{}", record.conversation_id, stored.sequence),
            account_id,
            stored.sent_at_ms,
            body,
        );
        envelope::publish(
            &*self.platform.bus,
            &self.platform.topics.conversations,
            keys::conversation(account_id, &record.conversation_id),
            &env,
        )
        .await?;
        metrics::counter!(crate::MESSAGES_TOTAL, "from" => party_label(message.from)).increment(1);
        Ok(stored)
    }

    /// Closes the conversation (idempotent) and announces it: capacity frees the agent or
    /// the queue, the agent's stream and the partner's outbox hear of it.
    pub async fn close(&self, account_id: &str, conversation_id: &str, by: Party) -> Result<(), ServiceError> {
        let now = self.platform.clock.now_ms();
        let record = match self.platform.store.close_conversation(account_id, conversation_id, now).await? {
            CloseOutcome::Closed(r) | CloseOutcome::AlreadyClosed(r) => r,
            CloseOutcome::NotFound => return Err(ServiceError::not_found(format!("conversation {conversation_id}"))),
        };
        let route = self.platform.store.route(account_id, conversation_id).await?;
        let (agent_id, skill_id) = match route {
            Some(r) if r.status == RouteStatus::Queued => (String::new(), r.skill_id),
            Some(r) => (r.agent_id, r.skill_id),
            None => (String::new(), record.skill_id.clone()),
        };
        let event = OutboundEvent {
            sequence: 0,
            conversation_id: conversation_id.to_owned(),
            consumer_id: record.consumer_id.clone(),
            event: Some(outbound_event::Event::Closed(ConversationClosedEvent { closed_by: by as i32 })),
        };
        self.outbox(account_id, record.channel, format!("closed:{conversation_id}"), event).await?;
        let body = Body::ConversationClosed(ConversationClosed {
            conversation_id: conversation_id.to_owned(),
            closed_by: by as i32,
            skill_id,
            agent_id,
        });
        let env = envelope::with_id(format!("closed:{conversation_id}"), account_id, now, body);
        envelope::publish(
            &*self.platform.bus,
            &self.platform.topics.conversations,
            keys::conversation(account_id, conversation_id),
            &env,
        )
        .await?;
        metrics::counter!(crate::CLOSED_TOTAL, "by" => party_label(by as i32)).increment(1);
        Ok(())
    }

    /// Appends to the partner's outbox (idempotent on `dedupe_id`) and wakes local streams.
    pub async fn outbox(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: String,
        event: OutboundEvent,
    ) -> Result<u64, ServiceError> {
        let seq =
            self.platform.store.outbox_append(account_id, channel, &dedupe_id, event.encode_to_vec().into()).await?;
        self.hub.wake_partners(account_id);
        Ok(seq)
    }

    /// The assignment as the agent sees it: who, where, and the transcript so far.
    pub async fn assignment_event(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
    ) -> Result<Option<AgentEvent>, ServiceError> {
        let Some(record) = self.platform.store.get_conversation(account_id, conversation_id).await? else {
            return Ok(None);
        };
        if record.status == ConversationStatus::Closed {
            return Ok(None);
        }
        let history = self.platform.store.transcript(account_id, conversation_id).await?;
        Ok(Some(AgentEvent {
            event: Some(agent_event::Event::Assigned(Assignment {
                conversation_id: conversation_id.to_owned(),
                skill_id: skill_id.to_owned(),
                consumer_id: record.consumer_id,
                channel: record.channel,
                history: history.iter().map(|m| to_proto_message(conversation_id, m)).collect(),
            })),
        }))
    }
}

pub fn party_label(party: i32) -> &'static str {
    match Party::try_from(party) {
        Ok(Party::Consumer) => "consumer",
        Ok(Party::Agent) => "agent",
        Ok(Party::System) => "system",
        _ => "unknown",
    }
}
