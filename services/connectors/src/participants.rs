//! Joining and leaving a conversation one is not assigned (R3.7): a manager joins so that the
//! consumer is told (automatic message PARTICIPANT_JOINS, R14 #15), a reader silently. The
//! record keeps who takes part (`readers`, `managers`); the change is announced on the
//! `conversations` topic as `ParticipantChanged`.

use switchyard_kit::{config::keys, envelope, validate, ServiceError};
use switchyard_platform::store::{ParticipantOutcome, ParticipantRole};
use switchyard_proto::agent::v1::ParticipantRole as ProtoRole;
use switchyard_proto::events::v1::{envelope::Body, ParticipantChanged};

use crate::desk::Desk;
use crate::error::ConnectorError;

fn role_of(value: i32) -> Result<ParticipantRole, ServiceError> {
    match ProtoRole::try_from(value) {
        Ok(ProtoRole::Manager) => Ok(ParticipantRole::Manager),
        Ok(ProtoRole::Reader) => Ok(ParticipantRole::Reader),
        _ => Err(ServiceError::invalid("role", "must be PARTICIPANT_ROLE_MANAGER or PARTICIPANT_ROLE_READER")),
    }
}

fn role_name(role: ParticipantRole) -> &'static str {
    match role {
        ParticipantRole::Manager => "manager",
        ParticipantRole::Reader => "reader",
    }
}

impl Desk {
    pub async fn join(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        role: i32,
    ) -> Result<(), ServiceError> {
        let role = role_of(role)?;
        validate::id("agent_id", agent_id)?;
        let record = self.edge.open_conversation(account_id, conversation_id).await?;
        let store = &self.edge.platform.store;
        if store.get_agent(account_id, agent_id).await?.is_none() {
            return Err(ConnectorError::AgentNotFound(agent_id.to_owned()).into());
        }
        if self.edge.assigned_agent(account_id, conversation_id).await?.as_deref() == Some(agent_id) {
            return Err(ConnectorError::JoinerAssigned(agent_id.to_owned()).into());
        }
        let outcome = store.set_participant(account_id, conversation_id, agent_id, Some(role)).await?;
        self.participant_changed(account_id, &record.conversation_id, agent_id, role, true, outcome).await
    }

    pub async fn leave(&self, account_id: &str, agent_id: &str, conversation_id: &str) -> Result<(), ServiceError> {
        validate::id("agent_id", agent_id)?;
        let record = self.edge.open_conversation(account_id, conversation_id).await?;
        let role = if record.managers.iter().any(|a| a == agent_id) {
            ParticipantRole::Manager
        } else if record.readers.iter().any(|a| a == agent_id) {
            ParticipantRole::Reader
        } else {
            return Ok(());
        };
        let outcome = self.edge.platform.store.set_participant(account_id, conversation_id, agent_id, None).await?;
        self.participant_changed(account_id, conversation_id, agent_id, role, false, outcome).await
    }

    /// Announces a change this call made. A repeat that changed nothing announces nothing (a
    /// crash between the write and the announcement loses the consumer's notice, not the
    /// change itself).
    async fn participant_changed(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        role: ParticipantRole,
        joined: bool,
        outcome: ParticipantOutcome,
    ) -> Result<(), ServiceError> {
        match outcome {
            ParticipantOutcome::Changed => {}
            ParticipantOutcome::Unchanged => return Ok(()),
            ParticipantOutcome::NotFound => {
                return Err(ConnectorError::ConversationNotFound(conversation_id.to_owned()).into())
            }
            ParticipantOutcome::NotOpen => {
                return Err(ConnectorError::ConversationClosed(conversation_id.to_owned()).into())
            }
        }
        let now = self.edge.platform.clock.now_ms();
        let body = Body::ParticipantChanged(ParticipantChanged {
            conversation_id: conversation_id.to_owned(),
            agent_id: agent_id.to_owned(),
            role: role_name(role).to_owned(),
            joined,
        });
        let verb = if joined { "joined" } else { "left" };
        let id = format!("participant:{conversation_id}:{agent_id}:{verb}:{now}");
        let env = envelope::with_id(id, account_id, now, body);
        let topic = &self.edge.platform.topics.conversations;
        envelope::publish(&*self.edge.platform.bus, topic, keys::conversation(account_id, conversation_id), &env)
            .await?;
        Ok(())
    }
}
