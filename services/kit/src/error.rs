//! The one mapping from service errors to gRPC statuses. Every service returns
//! [`ServiceError`]; handlers convert with `?` into a `tonic::Status` that carries the
//! standard code and, for bad input, a `google.rpc.BadRequest` naming the field.

use switchyard_platform::bus::BusError;
use switchyard_platform::store::StoreError;
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// The caller is authenticated but may not do this (most refusals come from the auth layer;
    /// this is for the ones only a handler can decide, like a partner key's channel scope).
    #[error("{0}")]
    PermissionDenied(String),
    /// A rate limit: RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` saying when to retry.
    #[error("{what}; retry after {retry_after_ms} ms")]
    RateLimited { what: String, retry_after_ms: i64 },
    /// Stored data that cannot be read (never fixed by retrying).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), reason: reason.into() }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub fn already_exists(what: impl Into<String>) -> Self {
        Self::AlreadyExists { what: what.into() }
    }

    pub fn precondition(msg: impl Into<String>) -> Self {
        Self::FailedPrecondition(msg.into())
    }

    pub fn code(&self) -> tonic::Code {
        match self {
            Self::InvalidArgument { .. } => tonic::Code::InvalidArgument,
            Self::NotFound { .. } => tonic::Code::NotFound,
            Self::AlreadyExists { .. } => tonic::Code::AlreadyExists,
            Self::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            Self::ResourceExhausted(_) | Self::RateLimited { .. } => tonic::Code::ResourceExhausted,
            Self::PermissionDenied(_) => tonic::Code::PermissionDenied,
            Self::Corrupt(_) => tonic::Code::Internal,
            Self::Unavailable(_) => tonic::Code::Unavailable,
            Self::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(err: ServiceError) -> Self {
        let code = err.code();
        let message = err.to_string();
        match &err {
            ServiceError::InvalidArgument { field, reason } => {
                let details = ErrorDetails::with_bad_request_violation(field.clone(), reason.clone());
                tonic::Status::with_error_details(code, message, details)
            }
            // One builder of rate-limit statuses, shared with the auth layer's limits.
            ServiceError::RateLimited { what, retry_after_ms } => {
                let delay = std::time::Duration::from_millis(u64::try_from(*retry_after_ms).unwrap_or(0));
                switchyard_auth::limits::rate_limited(what, delay)
            }
            ServiceError::Internal(_) | ServiceError::Corrupt(_) => {
                tracing::error!(error = %message, "internal error");
                tonic::Status::new(code, message)
            }
            _ => tonic::Status::new(code, message),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => Self::Unavailable(format!("state store: {e}")),
            StoreError::Corrupt(e) => Self::Corrupt(format!("state store: {e}")),
        }
    }
}

impl From<BusError> for ServiceError {
    fn from(err: BusError) -> Self {
        match err {
            BusError::Unavailable(e) => Self::Unavailable(format!("event bus: {e}")),
            other => Self::Internal(format!("event bus: {other}")),
        }
    }
}

/// For a service's own error type that converts into [`ServiceError`] (the one mapping of its
/// refusals to codes): lets handlers return it as a `tonic::Status` with `?` or `.into()`.
#[macro_export]
macro_rules! status_from_service_error {
    ($error:ty) => {
        impl From<$error> for tonic::Status {
            fn from(err: $error) -> Self {
                $crate::ServiceError::from(err).into()
            }
        }
    };
}

/// The code and message a service error reaches the caller with (for the services' tables of
/// refusals and their statuses).
pub fn status_of(err: impl Into<ServiceError>) -> (tonic::Code, String) {
    let status = tonic::Status::from(err.into());
    (status.code(), status.message().to_owned())
}

/// The field named in a status's BadRequest details, if any (for tests and clients).
pub fn bad_request_field(status: &tonic::Status) -> Option<String> {
    status.get_details_bad_request().and_then(|b| b.field_violations.first().map(|v| v.field.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_the_field() {
        let status: tonic::Status = ServiceError::invalid("consumer_id", "must not be empty").into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(bad_request_field(&status).as_deref(), Some("consumer_id"));
        assert!(status.message().contains("consumer_id"));
    }

    #[test]
    fn codes_follow_the_variant() {
        assert_eq!(tonic::Status::from(ServiceError::not_found("skill s")).code(), tonic::Code::NotFound);
        assert_eq!(tonic::Status::from(ServiceError::already_exists("agent a")).code(), tonic::Code::AlreadyExists);
        assert_eq!(tonic::Status::from(ServiceError::precondition("closed")).code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            tonic::Status::from(ServiceError::from(StoreError::Unavailable("down".into()))).code(),
            tonic::Code::Unavailable
        );
        let limited: tonic::Status = ServiceError::RateLimited { what: "too fast".into(), retry_after_ms: 1500 }.into();
        assert_eq!(limited.code(), tonic::Code::ResourceExhausted);
        let retry = limited.get_details_retry_info().and_then(|r| r.retry_delay);
        assert_eq!(retry, Some(std::time::Duration::from_millis(1500)));
    }
}
