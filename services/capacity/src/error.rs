//! What the capacity manager refuses, by name, and the one place that maps each refusal to a
//! gRPC status (through the platform's [`ServiceError`]). Bad request fields are not here:
//! `switchyard_kit::validate` and the admin's own checks name the field.

use switchyard_kit::ServiceError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapacityError {
    #[error("account {0}")]
    AccountNotFound(String),
    #[error("skill {0}")]
    SkillNotFound(String),
    #[error("agent {0}")]
    AgentNotFound(String),
    #[error("agent {0}")]
    AgentExists(String),
}

impl From<CapacityError> for ServiceError {
    fn from(err: CapacityError) -> Self {
        let text = err.to_string();
        match err {
            CapacityError::AccountNotFound(_) | CapacityError::SkillNotFound(_) | CapacityError::AgentNotFound(_) => {
                ServiceError::not_found(text)
            }
            CapacityError::AgentExists(_) => ServiceError::already_exists(text),
        }
    }
}

switchyard_kit::status_from_service_error!(CapacityError);

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    #[test]
    fn each_refusal_has_its_status() {
        let cases = [
            (CapacityError::AccountNotFound("acme".into()), Code::NotFound, "account acme not found"),
            (CapacityError::SkillNotFound("sales".into()), Code::NotFound, "skill sales not found"),
            (CapacityError::AgentNotFound("ann".into()), Code::NotFound, "agent ann not found"),
            (CapacityError::AgentExists("ann".into()), Code::AlreadyExists, "agent ann already exists"),
        ];
        for (err, code, text) in cases {
            assert_eq!(switchyard_kit::error::status_of(err.clone()), (code, text.to_owned()), "{err:?}");
        }
    }
}
