//! librdkafka in this crate's terms: its logs and client errors to `tracing`, its error codes
//! to [`BusError`]s (unavailable: retry; other: do not).

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use super::BusError;

/// Sends librdkafka's logs and errors to `tracing`.
pub(super) struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_to_tracing(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", %error, reason, "kafka client error");
    }
}

/// A consumer outside any group (`tail`) has no rebalances to handle.
impl ConsumerContext for LogContext {}

/// The most detailed librdkafka level the `tracing` subscriber wants now.
pub(super) fn librdkafka_log_level() -> RDKafkaLogLevel {
    if tracing::enabled!(target: "librdkafka", tracing::Level::DEBUG) {
        RDKafkaLogLevel::Debug
    } else if tracing::enabled!(target: "librdkafka", tracing::Level::INFO) {
        RDKafkaLogLevel::Info
    } else {
        RDKafkaLogLevel::Warning
    }
}

pub(super) fn log_to_tracing(level: RDKafkaLogLevel, fac: &str, message: &str) {
    // `extra` goes to every client, so consumer settings reach the producer and vice versa.
    if fac == "CONFWARN" && message.contains("will be ignored by this") {
        tracing::debug!(target: "librdkafka", fac, "{message}");
        return;
    }
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", fac, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Notice => tracing::info!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
    }
}

pub(super) fn is_unavailable(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::QueueFull
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::BrokerNotAvailable
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::CoordinatorLoadInProgress
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::WaitingForCoordinator
            | RDKafkaErrorCode::KafkaStorageError
            | RDKafkaErrorCode::ThrottlingQuotaExceeded
    )
}

pub(super) fn code_error(what: &str, code: RDKafkaErrorCode) -> BusError {
    if is_unavailable(code) {
        BusError::Unavailable(format!("{what}: {code}"))
    } else {
        BusError::Other(format!("{what}: {code}"))
    }
}

pub(super) fn produce_error(topic: &str, err: KafkaError) -> BusError {
    match err.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownPartition,
        ) => BusError::UnknownTopic(topic.to_owned()),
        Some(code) => code_error(&format!("publishing to {topic}"), code),
        None => BusError::Other(format!("publishing to {topic}: {err}")),
    }
}

pub(super) fn admin_error(err: KafkaError) -> BusError {
    match err.rdkafka_error_code() {
        Some(code) => code_error("admin request", code),
        None => BusError::Other(format!("admin request: {err}")),
    }
}

pub(super) fn unavailable(err: KafkaError) -> BusError {
    BusError::Unavailable(err.to_string())
}

pub(super) fn config_error(err: KafkaError) -> BusError {
    BusError::Other(format!("kafka client configuration: {err}"))
}

pub(super) fn join_error(err: tokio::task::JoinError) -> BusError {
    BusError::Other(format!("kafka worker task failed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_errors_map_to_bus_errors() {
        let unknown = produce_error("t", KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopicOrPartition));
        assert!(matches!(unknown, BusError::UnknownTopic(t) if t == "t"));
        let timeout = produce_error("t", KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut));
        assert!(matches!(timeout, BusError::Unavailable(_)));
        let too_big = produce_error("t", KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(matches!(too_big, BusError::Other(_)));
    }
}
