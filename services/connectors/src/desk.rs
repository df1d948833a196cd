//! The agent desk: what an agent may do, and the rules of who may do it, with no gRPC in
//! sight (the AgentService handlers validate the request and call this). Session changes
//! (login, logout, state) are written to the agent's record here, the one truth of "logged
//! in", then announced on the `agents` topic; an agent acts only on conversations assigned to
//! it; a return to a queue is a command to the target skill's router.

use switchyard_kit::validate::UNASSIGNED_SKILL;
use switchyard_kit::{config::keys, envelope, validate, ServiceError};
use switchyard_platform::store::{
    AcceptOutcome, AgentSession, ConversationRecord, ConversationStatus, OfferAnswer, QueueReason, RejectOutcome,
    Route, RouteStatus, StoredMessage,
};
use switchyard_proto::common::v1::{AgentState, Party};
use switchyard_proto::events::v1::{
    envelope::Body, AgentSessionChanged, ConversationAssigned, OfferEnded, RouteConversation,
};

use crate::edge::Edge;
use crate::error::ConnectorError;

pub struct Desk {
    pub edge: Edge,
}

/// One page of a transcript and what follows it.
pub struct TranscriptPage {
    pub messages: Vec<StoredMessage>,
    /// The `after_sequence` of the next page; 0 when this is the last.
    pub next_after_sequence: u64,
    pub transcript_length: u64,
}

impl Desk {
    pub async fn login(&self, account_id: &str, agent_id: &str, initial: AgentState) -> Result<(), ServiceError> {
        self.require_agent(account_id, agent_id).await?;
        let initial = if initial == AgentState::Unspecified { AgentState::Offline } else { initial };
        self.change_session(account_id, agent_id, true, initial, String::new()).await
    }

    /// Idempotent: logging out a logged-out agent (or retrying a logout whose announcement
    /// failed) writes and announces the same again.
    pub async fn logout(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        self.require_agent(account_id, agent_id).await?;
        self.change_session(account_id, agent_id, false, AgentState::Offline, String::new()).await
    }

    pub async fn set_state(
        &self,
        account_id: &str,
        agent_id: &str,
        state: AgentState,
        away_reason: String,
    ) -> Result<(), ServiceError> {
        self.require_session(account_id, agent_id).await?;
        // R7.3: one of the account's away reasons; none is the system default.
        let away_reason = if state == AgentState::Away {
            let config = self.edge.platform.routing.get(account_id).await?;
            let Some(id) = config.away_reason_id(&away_reason) else {
                let known: Vec<String> = config.away_reasons().into_iter().map(|r| r.id).collect();
                let message =
                    format!("{away_reason} is not one of the account's away reasons (R7.3): {}", known.join(", "));
                return Err(ServiceError::invalid("away_reason", message));
            };
            id.to_owned()
        } else {
            away_reason
        };
        self.change_session(account_id, agent_id, true, state, away_reason).await
    }

    /// The agent's first message of an assignment follows "agent joined" on the partner's
    /// stream.
    pub async fn send_message(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        text: String,
    ) -> Result<StoredMessage, ServiceError> {
        let (record, route) = self.require_assigned(account_id, agent_id, conversation_id).await?;
        self.edge.announce_joined(account_id, &record, agent_id, route.version).await?;
        let message = self.edge.party_message(Party::Agent, agent_id, text);
        self.edge.append_and_publish(account_id, &record, message, Some(&route)).await
    }

    pub async fn close(&self, account_id: &str, agent_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        let record = self.require_closable(account_id, agent_id, conversation_id).await?;
        self.edge.close(account_id, &record, Party::Agent).await
    }

    pub async fn transcript(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        after_sequence: u64,
        page_size: usize,
    ) -> Result<TranscriptPage, ServiceError> {
        self.require_assigned(account_id, agent_id, conversation_id).await?;
        let store = &self.edge.platform.store;
        // One more than asked tells whether another page follows.
        let mut messages = store.transcript_page(account_id, conversation_id, after_sequence, page_size + 1).await?;
        let more = messages.len() > page_size;
        messages.truncate(page_size);
        let (_, transcript_length) = store.transcript_tail(account_id, conversation_id, 0).await?;
        let next_after_sequence = if more { messages.last().map_or(0, |m| m.sequence) } else { 0 };
        Ok(TranscriptPage { messages, next_after_sequence, transcript_length })
    }

    /// R12.1: back to the queue of the skill it was assigned from.
    pub async fn back_to_queue(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
    ) -> Result<(), ServiceError> {
        let (_, route) = self.require_assigned(account_id, agent_id, conversation_id).await?;
        let skill = if route.skill_id.is_empty() { UNASSIGNED_SKILL.to_owned() } else { route.skill_id.clone() };
        self.requeue(account_id, &route, &skill, QueueReason::BackToQueue).await
    }

    /// R12.2: to the queue of an existing skill (or the unassigned skill).
    pub async fn transfer_to_skill(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        skill_id: &str,
    ) -> Result<(), ServiceError> {
        let (_, route) = self.require_assigned(account_id, agent_id, conversation_id).await?;
        if skill_id != UNASSIGNED_SKILL && !self.edge.platform.store.skill_exists(account_id, skill_id).await? {
            return Err(ConnectorError::SkillNotFound(skill_id.to_owned()).into());
        }
        // R4.7, R4.8: the current skill's transfer list (itself always allowed).
        let routing = self.edge.platform.routing.get(account_id).await?;
        if !switchyard_routing::may_transfer(&routing, &route.skill_id, skill_id) {
            return Err(
                ConnectorError::TransferNotAllowed { from: route.skill_id.clone(), to: skill_id.to_owned() }.into()
            );
        }
        self.requeue(account_id, &route, skill_id, QueueReason::Transfer).await
    }

    /// R12.2-R12.7: transfers the conversation assigned to `agent_id` to `target`, who alone
    /// may take it from its skill's queue (until R12.6's maximum wait, the router's timer).
    /// `may_reach_away`: the caller is a manager or admin (R12.3: agents transfer to ONLINE or
    /// BACK_SOON agents only, managers also to AWAY ones, nobody to OFFLINE or logged-out ones).
    pub async fn transfer_to_agent(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        target: &str,
        skill_id: &str,
        may_reach_away: bool,
    ) -> Result<(), ServiceError> {
        validate::id("target_agent_id", target)?;
        if !skill_id.is_empty() {
            validate::skill_id("skill_id", skill_id)?;
        }
        let (record, route) = self.require_assigned(account_id, agent_id, conversation_id).await?;
        let store = &self.edge.platform.store;
        let Some(target_agent) = store.get_agent(account_id, target).await? else {
            return Err(ConnectorError::AgentNotFound(target.to_owned()).into());
        };
        // R12.7: not to an agent already in the conversation.
        if target == route.agent_id || record.readers.iter().chain(&record.managers).any(|a| a == target) {
            return Err(ConnectorError::TargetParticipates(target.to_owned()).into());
        }
        use switchyard_platform::store::AgentState as Stored;
        let reachable = target_agent.logged_in
            && match target_agent.state {
                Stored::Online | Stored::BackSoon => true,
                Stored::Away => may_reach_away,
                Stored::Offline => false,
            };
        if !reachable {
            return Err(ConnectorError::TargetUnreachable(target.to_owned()).into());
        }
        // R12.5: the skill it goes to.
        let held: Vec<&String> =
            target_agent.spec.skill_ids.iter().filter(|s| s.as_str() != UNASSIGNED_SKILL).collect();
        let skill = if !skill_id.is_empty() {
            skill_id.to_owned()
        } else if held.iter().any(|s| **s == route.skill_id) {
            route.skill_id.clone()
        } else {
            held.iter().min().map_or(UNASSIGNED_SKILL.to_owned(), |s| (*s).clone())
        };
        if skill != UNASSIGNED_SKILL && !store.skill_exists(account_id, &skill).await? {
            return Err(ConnectorError::SkillNotFound(skill).into());
        }
        let routing = self.edge.platform.routing.get(account_id).await?;
        if !switchyard_routing::may_transfer(&routing, &route.skill_id, &skill) {
            return Err(ConnectorError::TransferNotAllowed { from: route.skill_id.clone(), to: skill }.into());
        }
        self.requeue_to(account_id, &route, &skill, QueueReason::Transfer, target).await
    }

    /// R6.5: the agent accepts an offer ringing for it. The store's accept is the arbiter (the
    /// first accept of a ring-all offer wins); the assignment is announced like the router's,
    /// and the agents that lost it are told. A retry of a winning accept answers OK again.
    pub async fn accept_offer(&self, account_id: &str, agent_id: &str, offer_id: &str) -> Result<(), ServiceError> {
        self.require_session(account_id, agent_id).await?;
        let answer = self.answer(account_id, agent_id, offer_id)?;
        let platform = &self.edge.platform;
        match platform.store.accept_offer(&answer).await? {
            AcceptOutcome::Accepted { version, skill_id, rescinded } => {
                self.announce_assigned(&answer, &skill_id, version).await?;
                for other in &rescinded {
                    self.offer_ended(&answer.account_id, &answer.conversation_id, offer_id, other, "rescinded").await?;
                }
                Ok(())
            }
            // The accept happened; its announcement may not have.
            AcceptOutcome::AlreadyAccepted { version, skill_id } => {
                self.announce_assigned(&answer, &skill_id, version).await
            }
            AcceptOutcome::Gone => Err(ConnectorError::OfferGone(offer_id.to_owned()).into()),
        }
    }

    /// R6.5: the agent rejects an offer; it is not offered the conversation again for the
    /// account's `reject_cooldown`, and when nobody else is ringing its skill's router is asked
    /// to route it again (to the next best agent).
    pub async fn reject_offer(&self, account_id: &str, agent_id: &str, offer_id: &str) -> Result<(), ServiceError> {
        self.require_session(account_id, agent_id).await?;
        let answer = self.answer(account_id, agent_id, offer_id)?;
        let platform = &self.edge.platform;
        let cooldown = platform.routing.get(account_id).await?.account.reject_cooldown_ms as i64;
        match platform.store.reject_offer(&answer, cooldown).await? {
            RejectOutcome::Requeued { skill_id } => {
                let route = Body::RouteConversation(RouteConversation {
                    conversation_id: answer.conversation_id.clone(),
                    skill_id: skill_id.clone(),
                    queued_at_ms: answer.now_ms,
                    reason: "new".into(),
                    ..Default::default()
                });
                let env = envelope::new(account_id, answer.now_ms, route);
                let key = keys::skill(account_id, &skill_id);
                envelope::publish(&*platform.bus, &platform.topics.routing, key, &env).await?;
            }
            RejectOutcome::StillRinging => {}
            RejectOutcome::Gone => return Err(ConnectorError::OfferGone(offer_id.to_owned()).into()),
        }
        self.offer_ended(account_id, &answer.conversation_id, offer_id, agent_id, "rejected").await
    }

    /// An offer id is `<conversation>:<n>`.
    fn answer(&self, account_id: &str, agent_id: &str, offer_id: &str) -> Result<OfferAnswer, ServiceError> {
        let Some((conversation_id, _)) = offer_id.rsplit_once(':') else {
            return Err(ConnectorError::OfferNotFound(offer_id.to_owned()).into());
        };
        Ok(OfferAnswer {
            account_id: account_id.to_owned(),
            conversation_id: conversation_id.to_owned(),
            offer_id: offer_id.to_owned(),
            agent_id: agent_id.to_owned(),
            now_ms: self.edge.platform.clock.now_ms(),
        })
    }

    async fn announce_assigned(&self, answer: &OfferAnswer, skill_id: &str, version: u64) -> Result<(), ServiceError> {
        let platform = &self.edge.platform;
        let (account, conversation) = (answer.account_id.as_str(), answer.conversation_id.as_str());
        let body = Body::ConversationAssigned(ConversationAssigned {
            conversation_id: conversation.to_owned(),
            agent_id: answer.agent_id.clone(),
            skill_id: skill_id.to_owned(),
            assignment_version: version,
        });
        // The same event id as the router's announcement of this assignment version.
        let env = envelope::with_id(format!("assigned:{conversation}:{version}"), account, answer.now_ms, body);
        let key = keys::conversation(account, conversation);
        envelope::publish(&*platform.bus, &platform.topics.assignments, key, &env).await?;
        platform.store.announced(account, conversation, version).await?;
        Ok(())
    }

    async fn offer_ended(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        agent_id: &str,
        outcome: &str,
    ) -> Result<(), ServiceError> {
        let platform = &self.edge.platform;
        let body = Body::OfferEnded(OfferEnded {
            conversation_id: conversation_id.to_owned(),
            offer_id: offer_id.to_owned(),
            agent_id: agent_id.to_owned(),
            outcome: outcome.to_owned(),
        });
        let env =
            envelope::with_id(format!("offer-ended:{offer_id}:{agent_id}"), account_id, platform.clock.now_ms(), body);
        let key = keys::conversation(account_id, conversation_id);
        envelope::publish(&*platform.bus, &platform.topics.assignments, key, &env).await?;
        Ok(())
    }

    async fn require_agent(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        validate::id("agent_id", agent_id)?;
        if self.edge.platform.store.agent_presence(account_id, agent_id).await?.is_none() {
            return Err(ConnectorError::AgentNotFound(agent_id.to_owned()).into());
        }
        Ok(())
    }

    pub async fn require_session(&self, account_id: &str, agent_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        validate::id("agent_id", agent_id)?;
        match self.edge.platform.store.agent_presence(account_id, agent_id).await? {
            None => Err(ConnectorError::AgentNotFound(agent_id.to_owned()).into()),
            Some(agent) if !agent.logged_in => Err(ConnectorError::NotLoggedIn(agent_id.to_owned()).into()),
            Some(_) => Ok(()),
        }
    }

    /// The conversation must be open and assigned to this agent; returns it and its route.
    pub(crate) async fn require_assigned(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
    ) -> Result<(ConversationRecord, Route), ServiceError> {
        self.require_session(account_id, agent_id).await?;
        let record = self.edge.open_conversation(account_id, conversation_id).await?;
        match self.edge.assignment(account_id, conversation_id).await? {
            Some(route) if route.agent_id == agent_id => Ok((record, route)),
            _ => Err(not_assigned(conversation_id, agent_id)),
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
                Err(ConnectorError::ConversationClosed(conversation_id.to_owned()).into())
            }
            (false, _) => Err(not_assigned(conversation_id, agent_id)),
        }
    }

    /// Writes the session to the agent's record, then announces it. A failed announcement
    /// fails the call, and its retry writes and announces again (both are idempotent).
    pub(crate) async fn change_session(
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
        let store = &self.edge.platform.store;
        // R7.3: the record before the change tells how long an AWAY spell lasted.
        let before = store.get_agent(account_id, agent_id).await?;
        let now = self.edge.platform.clock.now_ms();
        if !store.set_agent_session(account_id, agent_id, &session, now).await? {
            return Err(ConnectorError::AgentNotFound(agent_id.to_owned()).into());
        }
        if let Some(before) = before {
            self.edge.away_time.record(&before, &session, now);
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
    async fn requeue(
        &self,
        account_id: &str,
        route: &Route,
        skill_id: &str,
        reason: QueueReason,
    ) -> Result<(), ServiceError> {
        self.requeue_to(account_id, route, skill_id, reason, "").await
    }

    /// `requeue` with a suggested agent (R12.2; empty: none).
    async fn requeue_to(
        &self,
        account_id: &str,
        route: &Route,
        skill_id: &str,
        reason: QueueReason,
        suggested_agent: &str,
    ) -> Result<(), ServiceError> {
        let body = Body::RouteConversation(RouteConversation {
            conversation_id: route.conversation_id.clone(),
            skill_id: skill_id.to_owned(),
            queued_at_ms: self.edge.platform.clock.now_ms(),
            avoid_agent_id: route.agent_id.clone(),
            assignment_version: route.version,
            reason: reason.as_str().to_owned(),
            suggested_agent_id: suggested_agent.to_owned(),
            ..Default::default()
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

fn not_assigned(conversation_id: &str, agent_id: &str) -> ServiceError {
    ConnectorError::NotAssigned { conversation: conversation_id.to_owned(), agent: agent_id.to_owned() }.into()
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
