//! AgentService: the API agent workspaces and bots call. The handlers validate the request
//! and call the [`Desk`], where what an agent may do and its rules live; the agent's event
//! stream (a snapshot of its assignments, then the live events of its hub) is built here.

use std::collections::HashSet;
use std::pin::Pin;
use std::time::Duration;

use switchyard_kit::{validate, ServiceError, Shutdown};
use switchyard_platform::store::RouteStatus;
use switchyard_proto::agent::v1::agent_service_server::AgentService;
use switchyard_proto::agent::v1::*;
use switchyard_proto::common::v1::AgentState;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::desk::Desk;
use crate::edge::to_proto_message;
use crate::error::ConnectorError;
use crate::hub::HubEvent;

const MAX_AWAY_REASON: usize = 100;
const TRANSCRIPT_PAGE_DEFAULT: u32 = 100;
const TRANSCRIPT_PAGE_MAX: u32 = 500;

pub struct Agents {
    pub desk: Desk,
    pub shutdown: Shutdown,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<AgentEvent, Status>> + Send>>;

fn state(field: &str, value: i32) -> Result<AgentState, ServiceError> {
    AgentState::try_from(value).map_err(|_| ServiceError::invalid(field, format!("unknown agent state {value}")))
}

#[tonic::async_trait]
impl AgentService for Agents {
    async fn login(&self, request: Request<LoginRequest>) -> Result<Response<LoginResponse>, Status> {
        let req = request.into_inner();
        let initial = state("initial_state", req.initial_state)?;
        self.desk.login(&req.account_id, &req.agent_id, initial).await?;
        Ok(Response::new(LoginResponse {}))
    }

    async fn logout(&self, request: Request<LogoutRequest>) -> Result<Response<LogoutResponse>, Status> {
        let req = request.into_inner();
        self.desk.logout(&req.account_id, &req.agent_id).await?;
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
        self.desk.set_state(&req.account_id, &req.agent_id, new_state, req.away_reason).await?;
        Ok(Response::new(SetStateResponse {}))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(&self, request: Request<SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let req = request.into_inner();
        self.desk.require_session(&req.account_id, &req.agent_id).await?;
        let edge = &self.desk.edge;
        if !edge.fanout_live.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ConnectorError::Starting.into());
        }
        // Register first, then read the snapshot: an assignment in between shows up in both
        // and is sent once (deduplicated below).
        let (mut live, permit) = edge.hub.register_agent(&req.account_id, &req.agent_id)?;
        let store = &edge.platform.store;
        let agent = store.get_agent(&req.account_id, &req.agent_id).await.map_err(ServiceError::from)?;
        let mut snapshot = Vec::new();
        for (conversation_id, _) in agent.map(|a| a.load).unwrap_or_default() {
            let route = store.route(&req.account_id, &conversation_id).await.map_err(ServiceError::from)?;
            // The load also holds offers ringing for the agent (their reserved capacity, R6.5).
            if let Some(r) = route.as_ref().filter(|r| r.status == RouteStatus::Offered) {
                if r.offer_agents.contains(&req.agent_id) {
                    let offer = Offer {
                        offer_id: r.offer_id.clone(),
                        conversation_id: conversation_id.clone(),
                        skill_id: r.skill_id.clone(),
                        expires_at_ms: r.offer_expires_ms,
                    };
                    snapshot.push(AgentEvent { event: Some(agent_event::Event::Offer(offer)) });
                }
                continue;
            }
            let skill = route.as_ref().map(|r| r.skill_id.clone()).unwrap_or_default();
            if let Some(event) =
                edge.assignment_event(&req.account_id, &conversation_id, &skill, route.as_ref()).await?
            {
                snapshot.push(event);
            }
        }
        // Presence (peer lesson 22): the stream is the agent's; a failure here must not keep
        // the agent from its work, so it is logged (the next beat tries again).
        if let Err(err) = self.desk.stream_opened(&req.account_id, &req.agent_id).await {
            tracing::warn!(error = %err, agent_id = %req.agent_id, "presence not updated on stream open");
        }
        let (tx, rx) = tokio::sync::mpsc::channel(crate::hub::AGENT_STREAM_BUFFER);
        let shutdown = self.shutdown.clone();
        let desk = Desk { edge: self.desk.edge.clone() };
        tokio::spawn(async move {
            let (account_id, agent_id) = (req.account_id, req.agent_id);
            let beat_every = desk.presence_beat();
            let mut beat = tokio::time::interval(beat_every.unwrap_or(Duration::from_secs(3600)));
            beat.tick().await;
            let run = async {
                let _permit = permit;
                let mut sent: HashSet<String> = HashSet::new();
                let mut forward = |event: AgentEvent| -> Option<AgentEvent> {
                    match &event.event {
                        Some(agent_event::Event::Assigned(a)) => {
                            sent.insert(a.conversation_id.clone()).then_some(event)
                        }
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
                        _ = beat.tick(), if beat_every.is_some() => {
                            if let Err(err) = desk.stream_alive(&account_id, &agent_id).await {
                                tracing::warn!(error = %err, agent_id, "presence beat failed");
                            }
                        }
                    }
                }
            };
            run.await;
            if let Err(err) = desk.stream_ended(&account_id, &agent_id).await {
                tracing::warn!(error = %err, agent_id, "presence not updated on stream end");
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
        self.desk.accept_offer(&req.account_id, &req.agent_id, &req.offer_id).await?;
        Ok(Response::new(AcceptOfferResponse {}))
    }

    async fn reject_offer(
        &self,
        request: Request<RejectOfferRequest>,
    ) -> Result<Response<RejectOfferResponse>, Status> {
        let req = request.into_inner();
        validate::id("offer_id", &req.offer_id)?;
        self.desk.reject_offer(&req.account_id, &req.agent_id, &req.offer_id).await?;
        Ok(Response::new(RejectOfferResponse {}))
    }

    async fn send_message(
        &self,
        request: Request<SendMessageRequest>,
    ) -> Result<Response<SendMessageResponse>, Status> {
        let req = request.into_inner();
        validate::text("text", &req.text)?;
        let stored = self.desk.send_message(&req.account_id, &req.agent_id, &req.conversation_id, req.text).await?;
        Ok(Response::new(SendMessageResponse { sequence: stored.sequence }))
    }

    async fn close_conversation(
        &self,
        request: Request<CloseConversationRequest>,
    ) -> Result<Response<CloseConversationResponse>, Status> {
        let req = request.into_inner();
        self.desk.close(&req.account_id, &req.agent_id, &req.conversation_id).await?;
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
        let page = self
            .desk
            .transcript(&req.account_id, &req.agent_id, &req.conversation_id, req.after_sequence, page_size as usize)
            .await?;
        Ok(Response::new(GetTranscriptResponse {
            messages: page.messages.iter().map(|m| to_proto_message(&req.conversation_id, m)).collect(),
            next_after_sequence: page.next_after_sequence,
            transcript_length: page.transcript_length,
        }))
    }

    async fn join_conversation(
        &self,
        request: Request<JoinConversationRequest>,
    ) -> Result<Response<JoinConversationResponse>, Status> {
        let req = request.into_inner();
        self.desk.join(&req.account_id, &req.agent_id, &req.conversation_id, req.role).await?;
        Ok(Response::new(JoinConversationResponse {}))
    }

    async fn leave_conversation(
        &self,
        request: Request<LeaveConversationRequest>,
    ) -> Result<Response<LeaveConversationResponse>, Status> {
        let req = request.into_inner();
        self.desk.leave(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        Ok(Response::new(LeaveConversationResponse {}))
    }

    async fn back_to_queue(
        &self,
        request: Request<BackToQueueRequest>,
    ) -> Result<Response<BackToQueueResponse>, Status> {
        let req = request.into_inner();
        self.desk.back_to_queue(&req.account_id, &req.agent_id, &req.conversation_id).await?;
        Ok(Response::new(BackToQueueResponse {}))
    }

    async fn transfer_to_skill(
        &self,
        request: Request<TransferToSkillRequest>,
    ) -> Result<Response<TransferToSkillResponse>, Status> {
        let req = request.into_inner();
        validate::skill_id("skill_id", &req.skill_id)?;
        self.desk.transfer_to_skill(&req.account_id, &req.agent_id, &req.conversation_id, &req.skill_id).await?;
        Ok(Response::new(TransferToSkillResponse {}))
    }

    async fn transfer_to_agent(
        &self,
        request: Request<TransferToAgentRequest>,
    ) -> Result<Response<TransferToAgentResponse>, Status> {
        // R12.3: managers and admins may also reach AWAY agents. Without an auth layer (unit
        // tests of the handler) no principal: the agent's own reach.
        let manager = request
            .extensions()
            .get::<switchyard_auth::Principal>()
            .is_some_and(|p| p.has(switchyard_auth::Role::AgentManager) || p.has(switchyard_auth::Role::Admin));
        let req = request.into_inner();
        self.desk
            .transfer_to_agent(
                &req.account_id,
                &req.agent_id,
                &req.conversation_id,
                &req.target_agent_id,
                &req.skill_id,
                manager,
            )
            .await?;
        Ok(Response::new(TransferToAgentResponse {}))
    }

    async fn set_manual_response_time(
        &self,
        request: Request<SetManualResponseTimeRequest>,
    ) -> Result<Response<SetManualResponseTimeResponse>, Status> {
        let req = request.into_inner();
        self.desk
            .set_manual_response_time(&req.account_id, &req.agent_id, &req.conversation_id, req.respond_by_ms)
            .await?;
        Ok(Response::new(SetManualResponseTimeResponse {}))
    }
}
