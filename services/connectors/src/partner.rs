//! ConnectorService: the API connector partners call. Validates, then uses [`Edge`].

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use prost::Message as _;
use switchyard_kit::validate::UNASSIGNED_SKILL;
use switchyard_kit::{config::keys, envelope, validate, ServiceError, Shutdown};
use switchyard_platform::store::{AckOutcome, NewConversation, OpenOutcome};
use switchyard_proto::common::v1::Party;
use switchyard_proto::connectors::v1::connector_service_server::ConnectorService;
use switchyard_proto::connectors::v1::*;
use switchyard_proto::events::v1::{
    envelope::Body, ChatStateChanged, ConversationOpened, MessagesRead, RouteConversation,
};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::edge::{channel, Edge};
use crate::error::ConnectorError;
use switchyard_auth::Principal;
use switchyard_platform::store::ConversationRecord;

const MAX_PROFILE_ENTRIES: usize = 50;
const MAX_PROFILE_KEY: usize = 64;
const MAX_PROFILE_VALUE: usize = 1000;
const MAX_LANGUAGE: usize = 35;
const MAX_READ_SEQUENCES: usize = 1000;
const OUTBOX_PAGE: usize = 256;
/// Partner streams re-read their outbox at least this often, even without a wake-up.
const OUTBOX_POLL: Duration = Duration::from_millis(500);

pub struct Partner {
    pub edge: Edge,
    pub shutdown: Shutdown,
}

type OutboundStream = Pin<Box<dyn Stream<Item = Result<OutboundEvent, Status>> + Send>>;

/// A partner key scoped to channels touches only conversations of those channels (the auth
/// layer checks requests that name a channel; these name a conversation).
fn check_channel(principal: Option<&Principal>, record: &ConversationRecord) -> Result<(), ServiceError> {
    match principal {
        Some(p) if !p.may_use_channel(record.channel) => {
            Err(ConnectorError::ChannelNotAllowed(record.conversation_id.clone()).into())
        }
        _ => Ok(()),
    }
}

fn validate_open(req: &OpenConversationRequest) -> Result<(), ServiceError> {
    validate::id("account_id", &req.account_id)?;
    channel("channel", req.channel)?;
    validate::id("consumer_id", &req.consumer_id)?;
    if !req.skill_id.is_empty() {
        validate::skill_id("skill_id", &req.skill_id)?;
    }
    if let Some(c) = &req.campaign {
        validate::id("campaign.campaign_id", &c.campaign_id)?;
        validate::optional_id("campaign.engagement_id", &c.engagement_id)?;
    }
    if req.profile.len() > MAX_PROFILE_ENTRIES {
        return Err(ServiceError::invalid("profile", format!("at most {MAX_PROFILE_ENTRIES} attributes")));
    }
    for (k, v) in &req.profile {
        if k.is_empty() || k.len() > MAX_PROFILE_KEY {
            return Err(ServiceError::invalid("profile", format!("keys must be 1..={MAX_PROFILE_KEY} bytes")));
        }
        if v.len() > MAX_PROFILE_VALUE {
            return Err(ServiceError::invalid(format!("profile[{k}]"), format!("at most {MAX_PROFILE_VALUE} bytes")));
        }
    }
    if req.language.len() > MAX_LANGUAGE || req.language.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '-')) {
        return Err(ServiceError::invalid("language", "must be an IETF language tag such as en-US"));
    }
    validate::optional_id("partner_message_id", &req.partner_message_id)?;
    if !req.first_message.is_empty() {
        validate::text("first_message", &req.first_message)?;
    }
    Ok(())
}

#[tonic::async_trait]
impl ConnectorService for Partner {
    async fn open_conversation(
        &self,
        request: Request<OpenConversationRequest>,
    ) -> Result<Response<OpenConversationResponse>, Status> {
        let req = request.into_inner();
        validate_open(&req)?;
        let edge = &self.edge;
        edge.admit_open(&req.account_id, req.channel, &req.consumer_id)?;
        edge.require_account(&req.account_id).await?;
        // R4.2-R4.4: explicit skill, engagement, profile rules, account default, else -1.
        let routing = edge.platform.routing.get(&req.account_id).await?;
        let profile: BTreeMap<String, String> = req.profile.clone().into_iter().collect();
        let (campaign_id, engagement_id) =
            req.campaign.as_ref().map_or(("", ""), |c| (c.campaign_id.as_str(), c.engagement_id.as_str()));
        let selection = switchyard_routing::select_skill(
            &routing,
            &switchyard_routing::OpenRequest {
                explicit_skill: &req.skill_id,
                campaign_id,
                engagement_id,
                profile: &profile,
            },
        )
        .map_err(|switchyard_routing::SelectError::UnknownEngagement { key }| {
            ConnectorError::EngagementNotFound(key)
        })?;
        let skill_id = selection.skill_id;
        if skill_id != UNASSIGNED_SKILL
            && !edge.platform.store.skill_exists(&req.account_id, &skill_id).await.map_err(ServiceError::from)?
        {
            return Err(ConnectorError::SkillNotFound(skill_id.to_owned()).into());
        }
        let now = edge.platform.clock.now_ms();
        let new = NewConversation {
            conversation_id: uuid::Uuid::now_v7().to_string(),
            consumer_id: req.consumer_id.clone(),
            channel: req.channel,
            skill_id,
            language: req.language.clone(),
            partner_message_id: req.partner_message_id.clone(),
            opened_at_ms: now,
            profile,
            skill_reason: selection.reason.as_str().to_owned(),
            skill_detail: selection.detail,
        };
        let (record, created) =
            match edge.platform.store.open_conversation(&req.account_id, &new).await.map_err(ServiceError::from)? {
                OpenOutcome::Created(r) => (r, true),
                OpenOutcome::Existing(r) => (r, false),
            };
        if record.status == switchyard_platform::store::ConversationStatus::Open {
            // Published on every open, repeats included (same event ids): a crash between the
            // store write and these publishes is healed by the partner's retry.
            self.announce_open(&req.account_id, &record).await?;
            if !req.first_message.is_empty() {
                // Stored under the partner message id, so a retried open stores it once. Without
                // one every open's text is a new message: never dropped, never merged with
                // another open's. The text of the open that creates the conversation is part
                // of that open; into an existing conversation it counts against the rate.
                let message =
                    edge.consumer_message(&record, req.first_message.clone(), req.partner_message_id.clone(), !created);
                edge.append_and_publish(&req.account_id, &record, message, None).await?;
            }
        }
        if created {
            metrics::counter!(crate::OPENED_TOTAL, "service" => "connectors").increment(1);
        }
        let skill_id = edge.current_skill(&req.account_id, &record).await?;
        Ok(Response::new(OpenConversationResponse { conversation_id: record.conversation_id, created, skill_id }))
    }

    async fn publish_message(
        &self,
        request: Request<PublishMessageRequest>,
    ) -> Result<Response<PublishMessageResponse>, Status> {
        let principal = request.extensions().get::<Principal>().cloned();
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        validate::id("conversation_id", &req.conversation_id)?;
        validate::text("text", &req.text)?;
        validate::optional_id("partner_message_id", &req.partner_message_id)?;
        let record = self.edge.conversation(&req.account_id, &req.conversation_id).await?;
        check_channel(principal.as_ref(), &record)?;
        let message = self.edge.consumer_message(&record, req.text, req.partner_message_id, true);
        let stored = self.edge.append_and_publish(&req.account_id, &record, message, None).await?;
        Ok(Response::new(PublishMessageResponse { sequence: stored.sequence }))
    }

    async fn publish_event(
        &self,
        request: Request<PublishEventRequest>,
    ) -> Result<Response<PublishEventResponse>, Status> {
        let principal = request.extensions().get::<Principal>().cloned();
        let req = request.into_inner();
        let record = self.edge.open_conversation(&req.account_id, &req.conversation_id).await?;
        check_channel(principal.as_ref(), &record)?;
        let agent_id = self.edge.assigned_agent(&req.account_id, &req.conversation_id).await?.unwrap_or_default();
        let body = match req.event {
            Some(publish_event_request::Event::ChatState(state)) => {
                match switchyard_proto::common::v1::ChatState::try_from(state) {
                    Ok(switchyard_proto::common::v1::ChatState::Unspecified) | Err(_) => {
                        return Err(ServiceError::invalid("chat_state", format!("unknown chat state {state}")).into())
                    }
                    Ok(_) => {}
                }
                Body::ChatStateChanged(ChatStateChanged {
                    conversation_id: record.conversation_id.clone(),
                    chat_state: state,
                    agent_id,
                })
            }
            Some(publish_event_request::Event::Read(read)) => {
                if read.sequences.is_empty() || read.sequences.len() > MAX_READ_SEQUENCES {
                    return Err(ServiceError::invalid(
                        "read.sequences",
                        format!("must hold 1..={MAX_READ_SEQUENCES} sequences"),
                    )
                    .into());
                }
                Body::MessagesRead(MessagesRead {
                    conversation_id: record.conversation_id.clone(),
                    sequences: read.sequences,
                    agent_id,
                })
            }
            None => return Err(ServiceError::invalid("event", "is required").into()),
        };
        let env = envelope::new(&req.account_id, self.edge.platform.clock.now_ms(), body);
        envelope::publish(
            &*self.edge.platform.bus,
            &self.edge.platform.topics.conversations,
            keys::conversation(&req.account_id, &record.conversation_id),
            &env,
        )
        .await
        .map_err(ServiceError::from)?;
        Ok(Response::new(PublishEventResponse {}))
    }

    async fn close_conversation(
        &self,
        request: Request<CloseConversationRequest>,
    ) -> Result<Response<CloseConversationResponse>, Status> {
        let principal = request.extensions().get::<Principal>().cloned();
        let req = request.into_inner();
        let record = self.edge.conversation(&req.account_id, &req.conversation_id).await?;
        check_channel(principal.as_ref(), &record)?;
        self.edge.close(&req.account_id, &record, Party::Consumer).await?;
        Ok(Response::new(CloseConversationResponse {}))
    }

    async fn mark_urgent(&self, request: Request<MarkUrgentRequest>) -> Result<Response<MarkUrgentResponse>, Status> {
        let principal = request.extensions().get::<Principal>().cloned();
        let req = request.into_inner();
        let record = self.edge.open_conversation(&req.account_id, &req.conversation_id).await?;
        check_channel(principal.as_ref(), &record)?;
        let response_due_ms = self.edge.mark_urgent(&req.account_id, &record).await?;
        Ok(Response::new(MarkUrgentResponse { response_due_ms }))
    }

    async fn withdraw_urgent(
        &self,
        request: Request<WithdrawUrgentRequest>,
    ) -> Result<Response<WithdrawUrgentResponse>, Status> {
        let principal = request.extensions().get::<Principal>().cloned();
        let req = request.into_inner();
        let record = self.edge.open_conversation(&req.account_id, &req.conversation_id).await?;
        check_channel(principal.as_ref(), &record)?;
        let response_due_ms = self.edge.withdraw_urgent(&req.account_id, &record).await?;
        Ok(Response::new(WithdrawUrgentResponse { response_due_ms }))
    }

    type StreamOutboundStream = OutboundStream;

    async fn stream_outbound(
        &self,
        request: Request<StreamOutboundRequest>,
    ) -> Result<Response<OutboundStream>, Status> {
        let req = request.into_inner();
        self.edge.require_account(&req.account_id).await?;
        let ch = channel("channel", req.channel)? as i32;
        let store = self.edge.platform.store.clone();
        let mut cursor = match req.from_sequence {
            Some(seq) => seq,
            None => store.outbox_acked(&req.account_id, ch).await.map_err(ServiceError::from)?,
        };
        let (notify, permit) = self.edge.hub.register_partner(&req.account_id, ch)?;
        let shutdown = self.shutdown.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(OUTBOX_PAGE);
        let account = req.account_id;
        tokio::spawn(async move {
            let _permit = permit;
            loop {
                // Register for the wake-up before reading, so an append in between is not missed.
                let notified = notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let page = match store.outbox_read(&account, ch, cursor, OUTBOX_PAGE).await {
                    Ok(page) => page,
                    Err(err) => {
                        let _ = tx.send(Err(Status::from(ServiceError::from(err)))).await;
                        return;
                    }
                };
                let full = page.len() == OUTBOX_PAGE;
                // Recorded before the page goes out: an ack of what the partner received can
                // never find it "not delivered".
                if let Some(last) = page.last() {
                    if let Err(err) = store.outbox_delivered(&account, ch, last.sequence).await {
                        let _ = tx.send(Err(Status::from(ServiceError::from(err)))).await;
                        return;
                    }
                }
                for entry in page {
                    let mut event = match OutboundEvent::decode(entry.payload.as_ref()) {
                        Ok(e) => e,
                        Err(err) => {
                            tracing::error!(account_id = %account, sequence = entry.sequence, error = %err, "undecodable outbox entry");
                            cursor = entry.sequence;
                            continue;
                        }
                    };
                    event.sequence = entry.sequence;
                    if let (Some(outbound_event::Event::Message(m)), true) =
                        (&mut event.event, entry.message_sequence > 0)
                    {
                        m.sequence = entry.message_sequence;
                    }
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                    cursor = entry.sequence;
                }
                if full {
                    continue;
                }
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(OUTBOX_POLL) => {}
                    _ = tx.closed() => return,
                    _ = shutdown.wait() => {
                        let _ = tx.send(Err(Status::unavailable("server shutting down; open the stream again"))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn ack_outbound(
        &self,
        request: Request<AckOutboundRequest>,
    ) -> Result<Response<AckOutboundResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        let ch = channel("channel", req.channel)? as i32;
        if req.sequence == 0 {
            return Err(ServiceError::invalid("sequence", "must be at least 1").into());
        }
        self.edge.require_account(&req.account_id).await?;
        match self
            .edge
            .platform
            .store
            .outbox_ack(&req.account_id, ch, req.sequence)
            .await
            .map_err(ServiceError::from)?
        {
            AckOutcome::Acked => Ok(Response::new(AckOutboundResponse {})),
            // Acking what no stream delivered would drop it unseen.
            AckOutcome::NotDelivered { delivered } => {
                Err(ConnectorError::NotDelivered { sequence: req.sequence, delivered }.into())
            }
        }
    }
}

impl Partner {
    async fn announce_open(
        &self,
        account_id: &str,
        record: &switchyard_platform::store::ConversationRecord,
    ) -> Result<(), ServiceError> {
        let platform = &self.edge.platform;
        let opened = Body::ConversationOpened(ConversationOpened {
            conversation_id: record.conversation_id.clone(),
            consumer_id: record.consumer_id.clone(),
            channel: record.channel,
            skill_id: record.skill_id.clone(),
            language: record.language.clone(),
        });
        let opened =
            envelope::with_id(format!("opened:{}", record.conversation_id), account_id, record.opened_at_ms, opened);
        let route = Body::RouteConversation(RouteConversation {
            conversation_id: record.conversation_id.clone(),
            skill_id: record.skill_id.clone(),
            queued_at_ms: record.opened_at_ms,
            avoid_agent_id: String::new(),
            assignment_version: 0,
            reason: "new".into(),
            channel: record.channel,
            first_conversation: record.first_conversation,
            profile: record.profile.clone().into_iter().collect(),
            suggested_agent_id: String::new(),
        });
        let route =
            envelope::with_id(format!("route:{}", record.conversation_id), account_id, record.opened_at_ms, route);
        // Different topics, no order between them: wait for both acknowledgements at once.
        futures::try_join!(
            envelope::publish(
                &*platform.bus,
                &platform.topics.conversations,
                keys::conversation(account_id, &record.conversation_id),
                &opened,
            ),
            envelope::publish(
                &*platform.bus,
                &platform.topics.routing,
                keys::skill(account_id, &record.skill_id),
                &route
            ),
        )?;
        Ok(())
    }
}
