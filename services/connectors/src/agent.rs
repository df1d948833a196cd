//! AgentService: the API agent workspaces and bots call. Session changes (login, logout,
//! state) are written to the agent's record here, the one truth of "logged in", then
//! announced on the `agents` topic (capacity, the router and every replica's fan-out react);
//! conversation actions use [`Edge`].

use std::collections::HashSet;
use std::pin::Pin;

use switchyard_kit::validate::UNASSIGNED_SKILL;
use switchyard_kit::{config::keys, envelope, validate, ServiceError, Shutdown};
use switchyard_platform::store::{AgentSession, ConversationRecord, ConversationStatus, Route, RouteStatus};
use switchyard_proto::agent::v1::agent_service_server::AgentService;
use switchyard_proto::agent::v1::*;
use switchyard_proto::common::v1::{AgentState, Party};
use switchyard_proto::events::v1::{envelope::Body, AgentSessionChanged, RouteConversation};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::edge::{to_proto_message, Edge};
use crate::hub::HubEvent;

const MAX_AWAY_REASON: usize = 100;
const TRANSCRIPT_PAGE_DEFAULT: u32 = 100;
const TRANSCRIPT_PAGE_MAX: u32 = 500;

pub struct Agents {
    pub edge: Edge,
    pub shutdown: Shutdown,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<AgentEvent, Status>> + Send>>;

impl Agents {
    async fn require_agent(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        validate::id("agent_id", agent_id)?;
        if self.edge.platform.store.get_agent(account_id, agent_id).await?.is_none() {
            return Err(ServiceError::not_found(format!("agent {agent_id}")));
        }
        Ok(())
    }

    async fn require_session(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        validate::id("agent_id", agent_id)?;
        match self.edge.platform.store.get_agent(account_id, agent_id).await? {
            None => Err(ServiceError::not_found(format!("agent {agent_id}"))),
            Some(agent) if !agent.logged_in => {
                Err(ServiceError::precondition(format!("agent {agent_id} is not logged in")))
            }
            Some(_) => Ok(()),
        }
    }

    /// The conversation must be open and assigned to this agent; returns it and its route.
    async fn require_assigned(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
    ) -> Result<(ConversationRecord, Route), ServiceError> {
        self.require_session(account_id, agent_id).await?;
        let record = self.edge.open_conversation(account_id, conversation_id).await?;
        match self.edge.assignment(account_id, conversation_id).await? {
            Some(route) if route.agent_id == agent_id => Ok((record, route)),
            _ => Err(ServiceError::precondition(format!(
                "conversation {conversation_id} is not assigned to agent {agent_id}"
            ))),
        }
    }

    /// A conversation the agent may close: assigned to it, or already closed while it held it.
    /// A close is idempotent: a retry whose first attempt closed the conversation but lost its
    /// answer (or its event, to a broker or Redis outage) succeeds and publishes the close
    /// again, so that the agent's slot is released.
    async fn require_closable(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
    ) -> Result<ConversationRecord, ServiceError> {
        self.require_session(account_id, agent_id).await?;
        let record = self.edge.conversation(account_id, conversation_id).await?;
        let route = self.edge.platform.store.route(account_id, conversation_id).await?;
        let held = route
            .is_some_and(|r| r.agent_id == agent_id && matches!(r.status, RouteStatus::Assigned | RouteStatus::Closed));
        match (held, record.status) {
            (true, _) => Ok(record),
            (false, ConversationStatus::Closed) => {
                Err(ServiceError::precondition(format!("conversation {conversation_id} is closed")))
            }
            (false, _) => Err(ServiceError::precondition(format!(
                "conversation {conversation_id} is not assigned to agent {agent_id}"
            ))),
        }
    }

    /// Writes the session to the agent's record, then announces it. A failed announcement
    /// fails the call, and its retry writes and announces again (both are idempotent).
    async fn change_session(
        &self,
        account_id: &str,
        agent_id: &str,
        logged_in: bool,
        state: AgentState,
        away_reason: String,
    ) -> Result<(), ServiceError> {
        let session = AgentSession {
            logged_in,
            state: crate_state(state),
            away_reason: if state == AgentState::Away { away_reason.clone() } else { String::new() },
        };
        let now = self.edge.platform.clock.now_ms();
        if !self.edge.platform.store.set_agent_session(account_id, agent_id, &session, now).await? {
            return Err(ServiceError::not_found(format!("agent {agent_id}")));
        }
        let body = Body::AgentSessionChanged(AgentSessionChanged {
            agent_id: agent_id.to_owned(),
            logged_in,
            state: state as i32,
            away_reason,
        });
        let env = envelope::new(account_id, self.edge.platform.clock.now_ms(), body);
        envelope::publish(
            &*self.edge.platform.bus,
            &self.edge.platform.topics.agents,
            keys::agent(account_id, agent_id),
            &env,
        )
        .await?;
        Ok(())
    }

    /// Asks the target skill's router to return the conversation from this assignment to a
    /// queue; the version makes a redelivered command recognisable.
    async fn requeue(&self, account_id: &str, route: &Route, skill_id: &str, reason: &str) -> Result<(), ServiceError> {
        let body = Body::RouteConversation(RouteConversation {
            conversation_id: route.conversation_id.clone(),
            skill_id: skill_id.to_owned(),
            queued_at_ms: self.edge.platform.clock.now_ms(),
            avoid_agent_id: route.agent_id.clone(),
            assignment_version: route.version,
            reason: reason.to_owned(),
        });
        let env = envelope::new(account_id, self.edge.platform.clock.now_ms(), body);
        envelope::publish(
            &*self.edge.platform.bus,
            &self.edge.platform.topics.routing,
            keys::skill(account_id, skill_id),
            &env,
        )
        .await?;
        Ok(())
    }
}

fn crate_state(state: AgentState) -> switchyard_platform::store::AgentState {
    use switchyard_platform::store::AgentState as Stored;
    match state {
        AgentState::Online => Stored::Online,
        AgentState::BackSoon => Stored::BackSoon,
        AgentState::Away => Stored::Away,
        AgentState::Offline | AgentState::Unspecified => Stored::Offline,
    }
}

fn state(field: &str, value: i32) -> Result<AgentState, ServiceError> {
    AgentState::try_from(value).map_err(|_| ServiceError::invalid(field, format!("unknown agent state {value}")))
}

#[tonic::async_trait]
impl AgentService for Agents {
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let req = request.into_inner();
        let initial = match state("initial_state", req.initial_state)? {
            AgentState::Unspecified => AgentState::Offline,
            s => s,
        };
        self.require_agent(&req.account_id, &req.agent_id).await?;
        self.change_session(&req.account_id, &req.agent_id, true, initial, String::new()).await?;
        Ok(Response::new(LoginResponse {}))
    }

    /// Idempotent: logging out a logged-out agent (or retrying a logout whose announcement
    /// failed) writes and announces the same again.
    async fn logout(&self, request: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let req = request.into_inner();
        self.require_agent(&req.account_id, &req.agent_id).await?;
        self.change_session(&req.account_id, &req.agent_id, false, AgentState::Offline, String::new()).await?;
        Ok(Response::new(LogoutResponse {}))
    }

    async fn set_state(&self, request: Request<SetStateRequest>) -> Result<Response<SetStateResponse>, Status> {
        let req = request.into_inner();
        let new_state = state("state", req.state)?;
        if new_state == AgentState::Unspecified {
            return Err(ServiceError::invalid("state", "must be set").into());
        }
        if !req.away_reason.is_empty() && new_state != AgentState::Away {
            return Err(ServiceError::invalid("away_reason", "only allowed with AWAY").into());
        }
        if req.away_reason.len() > MAX_AWAY_REASON {
            return Err(ServiceError::invalid("away_reason", format!("at most {MAX_AWAY_REASON} bytes")).into());
        }
        self.require_session(&req.account_id, &req.agent_id).await?;
        self.change_session(&req.account_id, &req.agent_id, true, new_state, req.away_reason).await?;
        Ok(Response::new(SetStateResponse {}))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let req = request.into_inner();
        self.require_session(&req.account_id, &req.agent_id).await?;
        if !self.edge.fanout_live.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ServiceError::Unavailable(
                "this replica is starting: its event reader has not joined yet; subscribe again".into(),
            )
            .into());
        }
        // Register first, then read the snapshot: an assignment in between shows up in both
        // and is sent once (deduplicated below).
        let (mut live, permit) = self.edge.hub.register_agent(&req.account_id, &req.agent_id)?;
        let store = &self.edge.platform.store;
        let agent = store.get_agent(&req.account_id, &req.agent_id).await.map_err(ServiceError::from)?;
        let mut snapshot = Vec::new();
        for (conversation_id, _) in agent.map(|a| a.load).unwrap_or_default() {
            let route = store.route(&req.account_id, &conversation_id).await.map_err(ServiceError::from)?;
            let skill = route.map(|r| r.skill_id).unwrap_or_default();
            if let Some(event) = self.edge.assignment_event(&req.account_id, &conversation_id, &skill).await? {
                snapshot.push(event);
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel(crate::hub::AGENT_STREAM_BUFFER);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut sent: HashSet<String> = HashSet::new();
            let mut forward = |event: AgentEvent| -> Option<AgentEvent> {
                match &event.event {
                    Some(agent_event::Event::Assigned(a)) => sent.insert(a.conversation_id.clone()).then_some(event),
                    Some(agent_event::Event::Closed(c)) => {
                        sent.remove(&c.conversation_id);
                        Some(event)
                    }
                    Some(agent_event::Event::Unassigned(u)) => {
                        sent.remove(&u.conversation_id);
                        Some(event)
                    }
                    _ => Some(event),
                }
            };
            for event in snapshot {
                if let Some(e) = forward(event) {
                    if tx.send(Ok(e)).await.is_err() {
                        return;
                    }
                }
            }
            loop {
                tokio::select! {
                    event = live.recv() => match event {
                        Some(HubEvent::Event(event)) => {
                            if let Some(e) = forward(event) {
                                if tx.send(Ok(e)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Some(HubEvent::End(status)) => {
                            let _ = tx.send(Err(status)).await;
                            return;
                        }
                        None => {
                            let _ = tx.send(Err(Status::resource_exhausted("agent stream fell behind; subscribe again"))).await;
                            return;
                        }
                    },
                    _ = tx.closed() => return,
                    _ = shutdown.wait() => {
                        let _ = tx.send(Err(Status::unavailable("server shutting down; subscribe again"))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn accept_offer(
        &self,
        request: Request<AcceptOfferRequest>,
    ) -> Result<Response<AcceptOfferResponse>, Status> {
        let req = request.into_inner();
        validate::id("offer_id", &req.offer_id)?;
        self.require_session(&req.account_id, &req.agent_id).await?;
        // Auto-accept mode (R6.5): conversations are assigned, never offered, so any offer id
        // is one that is gone.
        Err(ServiceError::not_found(format!("offer {}", req.offer_id)).into())
    }

    async fn reject_offer(
        &self,
        request: Request<RejectOfferRequest>,
    ) -> Result<Response<RejectOfferResponse>, Status> {
        let req = request.into_inner();
        validate::id("offer_id", &req.offer_id)?;
        self.require_session(&req.account_id, &req.agent_id).await?;
        Err(ServiceError::not_found(format!("offer {}", req.offer_id)).into())
    }

    async fn send_message(
        &self,
        request: Request<SendMessageRequest>,
    ) -> Result<Response<SendMessageResponse>, Status> {
        let req = request.into_inner();
        validate::text("text", &req.text)?;
        let (record, route) = self.require_assigned(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        self.edge.announce_joined(&req.account_id, &record, &req.agent_id, route.version).await?;
        let message = self.edge.party_message(Party::Agent, &req.agent_id, req.text);
        let stored = self.edge.append_and_publish(&req.account_id, &record, message).await?;
        Ok(Response::new(SendMessageResponse { sequence: stored.sequence }))
    }

    async fn close_conversation(
        &self,
        request: Request<CloseConversationRequest>,
    ) -> Result<Response<CloseConversationResponse>, Status> {
        let req = request.into_inner();
        let record = self.require_closable(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        self.edge.close(&req.account_id, &record, Party::Agent).await?;
        Ok(Response::new(CloseConversationResponse {}))
    }

    async fn get_transcript(
        &self,
        request: Request<GetTranscriptRequest>,
    ) -> Result<Response<GetTranscriptResponse>, Status> {
        let req = request.into_inner();
        let page_size = match req.page_size {
            0 => TRANSCRIPT_PAGE_DEFAULT,
            n if n <= TRANSCRIPT_PAGE_MAX => n,
            n => {
                return Err(ServiceError::invalid(
                    "page_size",
                    format!("must be within 1..={TRANSCRIPT_PAGE_MAX}, got {n}"),
                )
                .into())
            }
        };
        self.require_assigned(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        let store = &self.edge.platform.store;
        // One more than asked tells whether another page follows.
        let mut messages = store
            .transcript_page(&req.account_id, &req.conversation_id, req.after_sequence, page_size as usize + 1)
            .await
            .map_err(ServiceError::from)?;
        let more = messages.len() > page_size as usize;
        messages.truncate(page_size as usize);
        let (_, transcript_length) =
            store.transcript_tail(&req.account_id, &req.conversation_id, 0).await.map_err(ServiceError::from)?;
        let next_after_sequence = if more { messages.last().map_or(0, |m| m.sequence) } else { 0 };
        Ok(Response::new(GetTranscriptResponse {
            messages: messages.iter().map(|m| to_proto_message(&req.conversation_id, m)).collect(),
            next_after_sequence,
            transcript_length,
        }))
    }

    async fn back_to_queue(
        &self,
        request: Request<BackToQueueRequest>,
    ) -> Result<Response<BackToQueueResponse>, Status> {
        let req = request.into_inner();
        let (_, route) = self.require_assigned(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        let skill = if route.skill_id.is_empty() { UNASSIGNED_SKILL.to_owned() } else { route.skill_id.clone() };
        self.requeue(&req.account_id, &route, &skill, "back_to_queue").await?;
        Ok(Response::new(BackToQueueResponse {}))
    }

    async fn transfer_to_skill(
        &self,
        request: Request<TransferToSkillRequest>,
    ) -> Result<Response<TransferToSkillResponse>, Status> {
        let req = request.into_inner();
        validate::skill_id("skill_id", &req.skill_id)?;
        let (_, route) = self.require_assigned(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        if req.skill_id != UNASSIGNED_SKILL
            && !self
                .edge
                .platform
                .store
                .skill_exists(&req.account_id, &req.skill_id)
                .await
                .map_err(ServiceError::from)?
        {
            return Err(ServiceError::not_found(format!("skill {}", req.skill_id)).into());
        }
        self.requeue(&req.account_id, &route, &req.skill_id, "transfer").await?;
        Ok(Response::new(TransferToSkillResponse {}))
    }
}
