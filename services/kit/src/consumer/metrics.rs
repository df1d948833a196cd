//! One consumer's metric handles, registered once so the per-event path allocates no labels.

/// Events by service, consumer group and outcome (applied, retried, unknown_type, skipped,
/// dead_lettered).
pub const EVENTS: &str = "switchyard_consumer_events_total";
/// Records sent to the dead-letter topic, by service and consumer group.
pub const DEAD_LETTERS: &str = "switchyard_consumer_dead_letters_total";
/// Subscriptions that failed and were replaced, by service and consumer group.
pub const FAILED_SUBSCRIPTIONS: &str = "switchyard_consumer_failed_subscriptions_total";
/// Times a member left and rejoined its group because partitions it does not own had records
/// nobody read, by service and consumer group.
pub const REJOINS: &str = "switchyard_consumer_rejoins_total";
/// Wall time from an event's `occurred_at` to its effect, by service and consumer group: the
/// lag of each pipeline stage, in seconds (rises when a stage falls behind).
pub const EVENT_AGE: &str = "switchyard_consumer_event_age_seconds";

pub(super) struct ConsumerMetrics {
    applied: metrics::Counter,
    pub(super) retried: metrics::Counter,
    pub(super) skipped: metrics::Counter,
    pub(super) unknown_type: metrics::Counter,
    dead_lettered: metrics::Counter,
    dead_letters: metrics::Counter,
    pub(super) failed_subscriptions: metrics::Counter,
    pub(super) rejoins: metrics::Counter,
    age: metrics::Histogram,
}

impl ConsumerMetrics {
    pub(super) fn new(service: &'static str, group: &str) -> Self {
        metrics::describe_counter!(EVENTS, "Consumed events by service, group and outcome");
        metrics::describe_counter!(DEAD_LETTERS, "Records sent to the dead-letter topic, by service and group");
        metrics::describe_counter!(FAILED_SUBSCRIPTIONS, "Consumer subscriptions that failed and were replaced");
        metrics::describe_counter!(REJOINS, "Group rejoins because partitions of the group had records nobody read");
        metrics::describe_histogram!(EVENT_AGE, metrics::Unit::Seconds, "From event time to its effect, by group");
        let outcome = |o: &'static str| metrics::counter!(EVENTS, "service" => service, "group" => group.to_owned(), "outcome" => o);
        Self {
            applied: outcome("applied"),
            retried: outcome("retried"),
            skipped: outcome("skipped"),
            unknown_type: outcome("unknown_type"),
            dead_lettered: outcome("dead_lettered"),
            dead_letters: metrics::counter!(DEAD_LETTERS, "service" => service, "group" => group.to_owned()),
            failed_subscriptions: metrics::counter!(FAILED_SUBSCRIPTIONS, "service" => service, "group" => group.to_owned()),
            rejoins: metrics::counter!(REJOINS, "service" => service, "group" => group.to_owned()),
            age: metrics::histogram!(EVENT_AGE, "service" => service, "group" => group.to_owned()),
        }
    }

    pub(super) fn applied(&self, occurred_at_ms: i64) {
        self.applied.increment(1);
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        self.age.record(now_ms.saturating_sub(occurred_at_ms).max(0) as f64 / 1000.0);
    }

    pub(super) fn dead_lettered(&self) {
        self.dead_lettered.increment(1);
        self.dead_letters.increment(1);
    }
}
