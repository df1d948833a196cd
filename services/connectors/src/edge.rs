//! What the partner and agent edges share: lookups with precise errors, and the
//! conversation operations whose effects must be the same whoever triggers them (a message,
//! a close), each durable before the caller hears OK.

use std::sync::Arc;

use prost::Message as _;
use switchyard_kit::{config::keys, envelope, validate, Platform, ServiceError};
use switchyard_platform::store::{
    AppendOutcome, CloseOutcome, ConversationRecord, ConversationStatus, NewMessage, OutboxAppend, OutboxWrite, Route,
    RouteStatus, StoredMessage,
};
use switchyard_proto::agent::v1::{agent_event, AgentEvent, Assignment};
use switchyard_proto::common::v1::{Channel, Message, Party};
use switchyard_proto::connectors::v1::{outbound_event, AgentJoined, ConversationClosedEvent, OutboundEvent};
use switchyard_proto::events::v1::{envelope::Body, ConversationClosed, MessagePublished};

use switchyard_kit::timers::Timers;

use crate::autoclose::AutoClose;
use crate::away_time::AwayTime;
use crate::error::ConnectorError;
use crate::hub::Hub;
use crate::Config;

/// The close reason of a conversation that closed by itself (R13.1, R13.9).
pub const AUTO_CLOSED: &str = "auto";

#[derive(Clone)]
pub struct Edge {
    pub platform: Platform,
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    /// True once this replica's fan-out reader is reading: an agent stream opened before
    /// would miss what is published between its snapshot and the reader's start.
    pub fanout_live: Arc<std::sync::atomic::AtomicBool>,
    opens: Arc<switchyard_auth::limits::PerMinute>,
    pub(crate) autoclose: Arc<AutoClose>,
    /// The agents' presence timers (crate::presence).
    pub(crate) presence: Arc<Timers>,
    /// Time per away reason (R7.3).
    pub(crate) away_time: Arc<AwayTime>,
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
    pub fn new(platform: Platform, hub: Arc<Hub>, config: Config) -> Self {
        let per_minute = platform.security.limits().opens_per_consumer_per_minute;
        let opens = Arc::new(switchyard_auth::limits::PerMinute::new(per_minute));
        let autoclose = Arc::new(AutoClose::new(&platform));
        let presence = Arc::new(crate::presence::timers(&platform));
        Self {
            platform,
            hub,
            config: Arc::new(config),
            fanout_live: Arc::default(),
            opens,
            autoclose,
            presence,
            away_time: Arc::default(),
        }
    }

    /// `limits.opens_per_consumer_per_minute` (per replica), before anything is written.
    pub fn admit_open(&self, account_id: &str, channel: i32, consumer_id: &str) -> Result<(), ServiceError> {
        self.opens.check(&format!("{account_id}|{channel}|{consumer_id}")).map_err(|delay| {
            ConnectorError::OpenRateLimited {
                consumer: consumer_id.to_owned(),
                per_minute: self.platform.security.limits().opens_per_consumer_per_minute,
                retry_after_ms: delay.as_millis().max(1) as i64,
            }
            .into()
        })
    }

    pub async fn require_account(&self, account_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        if self.platform.store.account_exists(account_id).await? {
            Ok(())
        } else {
            Err(ConnectorError::AccountNotFound(account_id.to_owned()).into())
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
            .ok_or_else(|| ConnectorError::ConversationNotFound(conversation_id.to_owned()).into())
    }

    pub async fn open_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<ConversationRecord, ServiceError> {
        let record = self.conversation(account_id, conversation_id).await?;
        if record.status == ConversationStatus::Closed {
            return Err(ConnectorError::ConversationClosed(conversation_id.to_owned()).into());
        }
        Ok(record)
    }

    /// The conversation's route while it is assigned.
    pub async fn assignment(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, ServiceError> {
        Ok(self.platform.store.route(account_id, conversation_id).await?.filter(|r| r.status == RouteStatus::Assigned))
    }

    /// The agent holding the conversation now, if any.
    pub async fn assigned_agent(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<String>, ServiceError> {
        Ok(self.assignment(account_id, conversation_id).await?.map(|r| r.agent_id))
    }

    /// The skill the conversation is on now: its route's once routed (transfers move it), the
    /// skill it was opened on before that. The one answer every edge gives.
    pub async fn current_skill(&self, account_id: &str, record: &ConversationRecord) -> Result<String, ServiceError> {
        let route = self.platform.store.route(account_id, &record.conversation_id).await?;
        Ok(route.map(|r| r.skill_id).filter(|s| !s.is_empty()).unwrap_or_else(|| record.skill_id.clone()))
    }

    /// A consumer message: limited per conversation, and (unless it opens its conversation)
    /// by the consumer's rate.
    pub fn consumer_message(
        &self,
        record: &ConversationRecord,
        text: String,
        dedupe_id: String,
        counted: bool,
    ) -> NewMessage {
        let rate = self.config.consumer_messages_per_minute;
        NewMessage {
            from: Party::Consumer as i32,
            sender_id: record.consumer_id.clone(),
            text,
            sent_at_ms: self.platform.clock.now_ms(),
            dedupe_id,
            max_messages: self.config.max_messages_per_conversation,
            consumer_rate_per_minute: (counted && rate > 0).then_some(rate),
        }
    }

    /// An agent's (or the system's) message: limited per conversation only.
    pub fn party_message(&self, from: Party, sender_id: &str, text: String) -> NewMessage {
        NewMessage {
            from: from as i32,
            sender_id: sender_id.to_owned(),
            text,
            sent_at_ms: self.platform.clock.now_ms(),
            dedupe_id: String::new(),
            max_messages: self.config.max_messages_per_conversation,
            consumer_rate_per_minute: None,
        }
    }

    /// Appends a message; a repeat of the same dedupe id returns the first one. An agent's or
    /// the system's message reaches the partner's outbox in the same store step, so it can
    /// never follow the close there. The event is published either way (same event id), so a
    /// crash between the two cannot lose it.
    /// `holder`: the conversation's assigned route when the caller read it (an agent writing
    /// to its own conversation); None: read after the append.
    pub async fn append_and_publish(
        &self,
        account_id: &str,
        record: &ConversationRecord,
        message: NewMessage,
        holder: Option<&Route>,
    ) -> Result<StoredMessage, ServiceError> {
        let to_partner = message.from != Party::Consumer as i32;
        let outbox = to_partner.then(|| {
            let event = OutboundEvent {
                sequence: 0,
                conversation_id: record.conversation_id.clone(),
                consumer_id: record.consumer_id.clone(),
                // The sequence is set when the stream reads the entry (OutboxEntry::message_sequence).
                event: Some(outbound_event::Event::Message(Message {
                    conversation_id: record.conversation_id.clone(),
                    sequence: 0,
                    from: message.from,
                    sender_id: message.sender_id.clone(),
                    text: message.text.clone(),
                    sent_at_ms: message.sent_at_ms,
                })),
            };
            OutboxWrite { channel: record.channel, payload: event.encode_to_vec().into() }
        });
        let store = &self.platform.store;
        let conversation = &record.conversation_id;
        if message.from == Party::Agent as i32 {
            let skill = holder.map_or(record.skill_id.as_str(), |route| route.skill_id.as_str());
            self.autoclose.agent_wrote(&self.platform, account_id, conversation, skill, message.sent_at_ms).await?;
        }
        let stored = match store.append_message(account_id, conversation, &message, outbox.as_ref()).await? {
            AppendOutcome::Appended(m) | AppendOutcome::Duplicate(m) => m,
            AppendOutcome::NotFound => return Err(ConnectorError::ConversationNotFound(conversation.clone()).into()),
            AppendOutcome::Closed => return Err(ConnectorError::ConversationClosed(conversation.clone()).into()),
            AppendOutcome::NewerState => return Err(ConnectorError::NewerState(conversation.clone()).into()),
            AppendOutcome::TooManyMessages { limit } => {
                metrics::counter!(crate::REFUSED_TOTAL, "service" => "connectors", "reason" => "limit").increment(1);
                return Err(ConnectorError::TooManyMessages { conversation: conversation.clone(), limit }.into());
            }
            AppendOutcome::RateLimited { retry_after_ms } => {
                metrics::counter!(crate::REFUSED_TOTAL, "service" => "connectors", "reason" => "rate").increment(1);
                return Err(ConnectorError::RateLimited {
                    consumer: record.consumer_id.clone(),
                    per_minute: self.config.consumer_messages_per_minute,
                    retry_after_ms,
                }
                .into());
            }
        };
        if to_partner {
            self.hub.wake_partners(account_id);
        }
        let assigned = match holder {
            Some(route) => Some((route.agent_id.clone(), route.skill_id.clone())),
            None => self.assignment(account_id, conversation).await?.map(|r| (r.agent_id, r.skill_id)),
        };
        let (agent_id, skill_id) = assigned.unwrap_or_default();
        let body = Body::MessagePublished(MessagePublished {
            message: Some(to_proto_message(conversation, &stored)),
            agent_id,
            skill_id,
        });
        let env =
            envelope::with_id(format!("msg:{conversation}:{}", stored.sequence), account_id, stored.sent_at_ms, body);
        envelope::publish(
            &*self.platform.bus,
            &self.platform.topics.conversations,
            keys::conversation(account_id, conversation),
            &env,
        )
        .await?;
        metrics::counter!(crate::MESSAGES_TOTAL, "service" => "connectors", "from" => party_label(message.from))
            .increment(1);
        Ok(stored)
    }

    /// Closes the conversation (idempotent) and announces it: capacity frees the agent or
    /// the queue, the agent's stream and the partner's outbox hear of it. The outbox entry is
    /// written with the close itself, so nothing for the conversation can follow it there.
    pub async fn close(&self, account_id: &str, record: &ConversationRecord, by: Party) -> Result<(), ServiceError> {
        self.close_as(account_id, record, by, false).await
    }

    /// R13.1, R13.5: the conversation closes by itself after a long silence: by the system,
    /// marked so that the partner shows the consumer nothing and no survey follows.
    pub async fn auto_close(&self, account_id: &str, record: &ConversationRecord) -> Result<(), ServiceError> {
        self.close_as(account_id, record, Party::System, true).await
    }

    async fn close_as(
        &self,
        account_id: &str,
        record: &ConversationRecord,
        by: Party,
        auto_closed: bool,
    ) -> Result<(), ServiceError> {
        let conversation_id = record.conversation_id.as_str();
        let now = self.platform.clock.now_ms();
        let closed = ConversationClosedEvent { closed_by: by as i32, auto_closed };
        let event = OutboundEvent {
            sequence: 0,
            conversation_id: conversation_id.to_owned(),
            consumer_id: record.consumer_id.clone(),
            event: Some(outbound_event::Event::Closed(closed)),
        };
        let outbox = OutboxWrite { channel: record.channel, payload: event.encode_to_vec().into() };
        let store = &self.platform.store;
        let (record, newly) = match store.close_conversation(account_id, conversation_id, now, Some(&outbox)).await? {
            CloseOutcome::Closed(r) => (r, true),
            CloseOutcome::AlreadyClosed(r) => (r, false),
            CloseOutcome::NotFound => {
                return Err(ConnectorError::ConversationNotFound(conversation_id.to_owned()).into())
            }
            CloseOutcome::NewerState => return Err(ConnectorError::NewerState(conversation_id.to_owned()).into()),
        };
        self.hub.wake_partners(account_id);
        let route = store.route(account_id, conversation_id).await?;
        let (agent_id, skill_id) = match route {
            Some(r) if r.status == RouteStatus::Queued => (String::new(), r.skill_id),
            Some(r) => (r.agent_id, r.skill_id),
            None => (String::new(), record.skill_id.clone()),
        };
        // A repeated close republishes the event under the same id (a crash may have come
        // between the store and the broker); consumers apply it once.
        let body = Body::ConversationClosed(ConversationClosed {
            conversation_id: conversation_id.to_owned(),
            closed_by: by as i32,
            skill_id,
            agent_id,
            reason: if auto_closed { AUTO_CLOSED.to_owned() } else { String::new() },
        });
        let env = envelope::with_id(format!("closed:{conversation_id}"), account_id, record.closed_at_ms, body);
        envelope::publish(
            &*self.platform.bus,
            &self.platform.topics.conversations,
            keys::conversation(account_id, conversation_id),
            &env,
        )
        .await?;
        if !auto_closed {
            self.autoclose.closed(account_id, conversation_id).await?;
        }
        if newly {
            let by = if auto_closed { AUTO_CLOSED } else { party_label(by as i32) };
            metrics::counter!(crate::CLOSED_TOTAL, "service" => "connectors", "by" => by).increment(1);
        }
        Ok(())
    }

    /// Tells the partner that `agent_id` joined (assignment `version`), once per assignment:
    /// from the assignment event, and first thing when the agent writes, so "joined" precedes
    /// the agent's first message even when the agent's stream saw the assignment before the
    /// outbox reader did. Nothing once the conversation closed.
    pub async fn announce_joined(
        &self,
        account_id: &str,
        record: &ConversationRecord,
        agent_id: &str,
        version: u64,
    ) -> Result<OutboxAppend, ServiceError> {
        let event = OutboundEvent {
            sequence: 0,
            conversation_id: record.conversation_id.clone(),
            consumer_id: record.consumer_id.clone(),
            event: Some(outbound_event::Event::AgentJoined(AgentJoined { agent_id: agent_id.to_owned() })),
        };
        let dedupe_id = format!("joined:{}:{version}", record.conversation_id);
        self.outbox_while_open(account_id, record, dedupe_id, event).await
    }

    /// Appends an entry about an open conversation to the partner's outbox (idempotent on
    /// `dedupe_id`) and wakes local streams. Nothing is written once the conversation closed.
    pub async fn outbox_while_open(
        &self,
        account_id: &str,
        record: &ConversationRecord,
        dedupe_id: String,
        event: OutboundEvent,
    ) -> Result<OutboxAppend, ServiceError> {
        let appended = self
            .platform
            .store
            .outbox_append(
                account_id,
                record.channel,
                &dedupe_id,
                &record.conversation_id,
                event.encode_to_vec().into(),
            )
            .await?;
        if matches!(appended, OutboxAppend::Appended(_)) {
            self.hub.wake_partners(account_id);
        }
        Ok(appended)
    }

    /// The assignment as the agent sees it: who, where, and the newest messages so far
    /// (`connectors.assignment_history`; `transcript_length` says how many exist).
    /// `route`: the conversation's route, as the caller just read it.
    pub async fn assignment_event(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        route: Option<&Route>,
    ) -> Result<Option<AgentEvent>, ServiceError> {
        let Some(record) = self.platform.store.get_conversation(account_id, conversation_id).await? else {
            return Ok(None);
        };
        if record.status == ConversationStatus::Closed {
            return Ok(None);
        }
        let store = &self.platform.store;
        let (history, transcript_length) =
            store.transcript_tail(account_id, conversation_id, self.config.assignment_history).await?;
        let skill_path = switchyard_kit::skill_path::of(&record, route);
        Ok(Some(AgentEvent {
            event: Some(agent_event::Event::Assigned(Assignment {
                conversation_id: conversation_id.to_owned(),
                skill_id: skill_id.to_owned(),
                consumer_id: record.consumer_id,
                channel: record.channel,
                history: history.iter().map(|m| to_proto_message(conversation_id, m)).collect(),
                transcript_length,
                profile: record.profile.into_iter().collect(),
                skill_path,
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
