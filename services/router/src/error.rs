//! What the router refuses, by name, and the one place that maps each refusal to a gRPC
//! status (through the platform's [`ServiceError`]). Bad request fields are not here:
//! `switchyard_kit::validate` and the admin's own checks name the field.

use switchyard_kit::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("account {0}")]
    AccountNotFound(String),
    #[error("account {0}")]
    AccountExists(String),
    #[error("skill {0}")]
    SkillNotFound(String),
    #[error("skill {0}")]
    SkillExists(String),
    #[error("engagement {0}")]
    EngagementNotFound(String),
    #[error("conversation {0}")]
    ConversationNotFound(String),
    /// An expected revision that is not the stored one: the caller re-reads.
    #[error("routing configuration is at revision {current}, not {expected}; read it again")]
    StaleRevision { expected: u64, current: u64 },
    /// Saves kept losing to concurrent changes.
    #[error("routing configuration changed concurrently; try again")]
    ConfigContended,
    /// A skill actor's mailbox is closed (its thread is stopping): the caller retries.
    #[error("skill actor mailbox: {0}")]
    ActorGone(String),
}

impl From<RouterError> for ServiceError {
    fn from(err: RouterError) -> Self {
        let text = err.to_string();
        match err {
            RouterError::AccountNotFound(_)
            | RouterError::SkillNotFound(_)
            | RouterError::EngagementNotFound(_)
            | RouterError::ConversationNotFound(_) => ServiceError::not_found(text),
            RouterError::StaleRevision { .. } => ServiceError::FailedPrecondition(text),
            RouterError::ConfigContended => ServiceError::Unavailable(text),
            RouterError::AccountExists(_) | RouterError::SkillExists(_) => ServiceError::already_exists(text),
            RouterError::ActorGone(_) => ServiceError::Unavailable(text),
        }
    }
}

switchyard_kit::status_from_service_error!(RouterError);

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_refusal_has_its_status() {
        let cases = [
            (RouterError::AccountNotFound("acme".into()), Code::NotFound, "account acme not found"),
            (RouterError::AccountExists("acme".into()), Code::AlreadyExists, "account acme already exists"),
            (RouterError::SkillNotFound("sales".into()), Code::NotFound, "skill sales not found"),
            (RouterError::SkillExists("sales".into()), Code::AlreadyExists, "skill sales already exists"),
            (RouterError::ActorGone("closed".into()), Code::Unavailable, "unavailable: skill actor mailbox: closed"),
            (RouterError::EngagementNotFound("c/e".into()), Code::NotFound, "engagement c/e not found"),
            (
                RouterError::StaleRevision { expected: 3, current: 4 },
                Code::FailedPrecondition,
                "routing configuration is at revision 4, not 3; read it again",
            ),
            (
                RouterError::ConfigContended,
                Code::Unavailable,
                "unavailable: routing configuration changed concurrently; try again",
            ),
        ];
        for (err, code, text) in cases {
            assert_eq!(switchyard_kit::error::status_of(err.clone()), (code, text.to_owned()), "{err:?}");
        }
    }
}
