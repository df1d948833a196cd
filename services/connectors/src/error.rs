//! What the connectors refuse, by name, and the one place that maps each refusal to a gRPC
//! status (through the platform's [`ServiceError`], which carries the code and details). Bad
//! request fields are not here: `switchyard_kit::validate` names the field itself.

use switchyard_kit::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error("account {0}")]
    AccountNotFound(String),
    #[error("skill {0}")]
    SkillNotFound(String),
    #[error("agent {0}")]
    AgentNotFound(String),
    /// R4.7, R4.8: the conversation's skill may not transfer there.
    #[error("skill {from} may not transfer to skill {to} (its transfer list)")]
    TransferNotAllowed { from: String, to: String },
    /// R12.7: the transfer's target already takes part in the conversation.
    #[error("agent {0} already takes part in the conversation")]
    TargetParticipates(String),
    /// R3.7: the agent holds the conversation; it cannot join it besides.
    #[error("agent {0} is assigned to the conversation; only others join it")]
    JoinerAssigned(String),
    /// R12.3: the target is not in a state the caller may transfer to.
    #[error("agent {0} is not in a state this caller may transfer to (R12.3)")]
    TargetUnreachable(String),
    /// A campaign/engagement pair the account did not configure (R4.2).
    #[error("engagement {0}")]
    EngagementNotFound(String),
    #[error("conversation {0}")]
    ConversationNotFound(String),
    /// An offer id that names no offer.
    #[error("offer {0}")]
    OfferNotFound(String),
    /// R6.5: the offer no longer rings for this agent (another accepted it first, it was
    /// rejected, it expired, or the conversation closed).
    #[error("offer {0} is no longer available")]
    OfferGone(String),
    /// R10.3: the consumer may not mark this conversation urgent now.
    #[error("conversation {conversation} cannot be marked urgent: {why}")]
    ResponseTimeRefused { conversation: String, why: &'static str },
    /// R10.3: the consumer may not withdraw an urgent mark now.
    #[error("conversation {conversation} cannot have its urgent mark withdrawn: {why}")]
    UrgentNotWithdrawn { conversation: String, why: &'static str },
    #[error("agent {0} is not logged in")]
    NotLoggedIn(String),
    #[error("conversation {0} is closed")]
    ConversationClosed(String),
    #[error("conversation {conversation} is not assigned to agent {agent}")]
    NotAssigned { conversation: String, agent: String },
    /// Acking what no stream delivered would drop it unseen.
    #[error("sequence {sequence} has not been delivered (delivered up to {delivered})")]
    NotDelivered { sequence: u64, delivered: u64 },
    #[error(
        "conversation {conversation} holds {limit} messages, the most one may hold \
         (connectors.max_messages_per_conversation)"
    )]
    TooManyMessages { conversation: String, limit: u64 },
    #[error("consumer {consumer} sends more than {per_minute} messages per minute (connectors.consumer_messages_per_minute)")]
    RateLimited { consumer: String, per_minute: u32, retry_after_ms: i64 },
    #[error("this replica serves {0} streams already (connectors.max_streams); retry on another")]
    TooManyStreams(usize),
    #[error("agent {agent} holds {limit} streams already (limits.streams_per_agent); close one first")]
    TooManyAgentStreams { agent: String, limit: u32 },
    #[error(
        "this partner channel holds {limit} streams already (limits.streams_per_partner_channel); close one first"
    )]
    TooManyPartnerStreams { limit: u32 },
    #[error("consumer {consumer} opens more than {per_minute} conversations per minute (limits.opens_per_consumer_per_minute)")]
    OpenRateLimited { consumer: String, per_minute: u32, retry_after_ms: i64 },
    /// A partner key scoped to other channels.
    #[error("this partner key is not allowed on the channel of conversation {0}")]
    ChannelNotAllowed(String),
    /// A rolling upgrade is under way: a newer version handles the conversation, so the caller
    /// retries and reaches it.
    #[error("conversation {0} is in a state a newer Switchyard version handles; retry")]
    NewerState(String),
    #[error("this replica is starting: its event reader has not joined yet; subscribe again")]
    Starting,
}

/// The retry delay a refused stream is told.
const STREAM_RETRY_MS: i64 = 1_000;

impl From<ConnectorError> for ServiceError {
    fn from(err: ConnectorError) -> Self {
        use ConnectorError::*;
        let text = err.to_string();
        match err {
            AccountNotFound(_)
            | SkillNotFound(_)
            | AgentNotFound(_)
            | EngagementNotFound(_)
            | ConversationNotFound(_)
            | OfferNotFound(_) => ServiceError::not_found(text),
            NotLoggedIn(_)
            | ConversationClosed(_)
            | NotAssigned { .. }
            | NotDelivered { .. }
            | TransferNotAllowed { .. }
            | TargetParticipates(_)
            | JoinerAssigned(_)
            | TargetUnreachable(_)
            | OfferGone(_)
            | ResponseTimeRefused { .. }
            | UrgentNotWithdrawn { .. } => ServiceError::precondition(text),
            TooManyMessages { .. } => ServiceError::ResourceExhausted(text),
            // A stream limit frees up when a stream ends: the client may retry after a moment.
            TooManyStreams(_) | TooManyAgentStreams { .. } | TooManyPartnerStreams { .. } => {
                ServiceError::RateLimited { what: text, retry_after_ms: STREAM_RETRY_MS }
            }
            RateLimited { retry_after_ms, .. } | OpenRateLimited { retry_after_ms, .. } => {
                ServiceError::RateLimited { what: text, retry_after_ms }
            }
            ChannelNotAllowed(_) => ServiceError::PermissionDenied(text),
            NewerState(_) | Starting => ServiceError::Unavailable(text),
        }
    }
}

switchyard_kit::status_from_service_error!(ConnectorError);

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_refusal_has_its_status() {
        let s = |x: &str| x.to_owned();
        let cases = [
            (ConnectorError::AccountNotFound(s("acme")), Code::NotFound, "account acme not found"),
            (ConnectorError::OfferNotFound(s("o1")), Code::NotFound, "offer o1 not found"),
            (ConnectorError::NotLoggedIn(s("ann")), Code::FailedPrecondition, "agent ann is not logged in"),
            (
                ConnectorError::NotAssigned { conversation: s("c1"), agent: s("ann") },
                Code::FailedPrecondition,
                "conversation c1 is not assigned to agent ann",
            ),
            (ConnectorError::NotDelivered { sequence: 5, delivered: 3 }, Code::FailedPrecondition, "delivered up to 3"),
            (
                ConnectorError::TransferNotAllowed { from: s("sales"), to: s("vip") },
                Code::FailedPrecondition,
                "skill sales may not transfer to skill vip",
            ),
            (ConnectorError::OfferGone(s("c1:2")), Code::FailedPrecondition, "offer c1:2 is no longer available"),
            (
                ConnectorError::TooManyMessages { conversation: s("c1"), limit: 10 },
                Code::ResourceExhausted,
                "holds 10 messages",
            ),
            (ConnectorError::TooManyStreams(2), Code::ResourceExhausted, "serves 2 streams"),
            (
                ConnectorError::RateLimited { consumer: s("+1555"), per_minute: 30, retry_after_ms: 2_000 },
                Code::ResourceExhausted,
                "more than 30 messages per minute",
            ),
            (
                ConnectorError::TooManyAgentStreams { agent: s("ann"), limit: 4 },
                Code::ResourceExhausted,
                "limits.streams_per_agent",
            ),
            (
                ConnectorError::TooManyPartnerStreams { limit: 16 },
                Code::ResourceExhausted,
                "streams_per_partner_channel",
            ),
            (
                ConnectorError::OpenRateLimited { consumer: s("+1555"), per_minute: 10, retry_after_ms: 6_000 },
                Code::ResourceExhausted,
                "opens more than 10 conversations per minute",
            ),
            (ConnectorError::ChannelNotAllowed(s("c1")), Code::PermissionDenied, "not allowed on the channel"),
            (ConnectorError::NewerState(s("c1")), Code::Unavailable, "newer Switchyard version"),
            (ConnectorError::Starting, Code::Unavailable, "subscribe again"),
        ];
        for (err, code, text) in cases {
            let (got, message) = switchyard_kit::error::status_of(err.clone());
            assert_eq!(got, code, "{err:?}");
            assert!(message.contains(text), "{err:?}: {message}");
        }
    }
}
