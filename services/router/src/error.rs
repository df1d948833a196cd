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
    /// A skill actor's mailbox is closed (its thread is stopping): the caller retries.
    #[error("skill actor mailbox: {0}")]
    ActorGone(String),
}

impl From<RouterError> for ServiceError {
    fn from(err: RouterError) -> Self {
        let text = err.to_string();
        match err {
            RouterError::AccountNotFound(_) | RouterError::SkillNotFound(_) => ServiceError::not_found(text),
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
        ];
        for (err, code, text) in cases {
            assert_eq!(switchyard_kit::error::status_of(err.clone()), (code, text.to_owned()), "{err:?}");
        }
    }
}
