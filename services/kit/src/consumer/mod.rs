//! The one consumer loop every service uses: decode and validate envelopes, run the handler,
//! store the offset only after the handler's effect is durable (at-least-once), and never
//! let one record wedge its partition (architecture §7):
//!
//! - a transient failure (store or bus unavailable) is retried with jittered exponential
//!   backoff for as long as it lasts (the record is fine; the backend is not);
//! - a permanent failure (a record that is not an envelope, fails validation, names what does
//!   not exist, or meets corrupt stored data) goes to the dead-letter topic with its headers,
//!   the error and the group, at once;
//! - an unknown failure (internal errors) is retried a few times, then dead-lettered;
//! - an envelope whose body type this binary does not know (a newer producer) is counted as
//!   `unknown_type` and skipped.
//!
//! A subscription that fails (a fatal consumer error) turns readiness false until a new one
//! has joined. A member that sees partitions of its group nobody reads rejoins the group
//! (see `progress`). Shutdown leaves the group cleanly after the record in hand.

pub mod dead_letter;
mod metrics;
mod progress;
#[cfg(test)]
mod progress_tests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use backon::BackoffBuilder;
use prost::Message as _;
use switchyard_platform::bus::{Delivery, EventBus, StartFrom, Subscription};
use switchyard_proto::events::v1::Envelope;
use tracing::Instrument;

use crate::ops::ReadyFlag;
use crate::{envelope, ServiceError, Shutdown};

use self::metrics::ConsumerMetrics;
pub use self::metrics::{DEAD_LETTERS, EVENTS, EVENT_AGE, REJOINS};
use self::progress::{Progress, Verdict};
pub use self::progress::{ProgressRules, LAG};

#[async_trait]
pub trait Handler: Send {
    /// Applies one event. Must be idempotent: the same event may come again after a crash.
    async fn handle(&mut self, envelope: Envelope, delivery: &Delivery) -> Result<(), ServiceError>;

    /// Called every `tick` with the partitions this member owns (for periodic passes).
    async fn tick(&mut self, _assignment: &[(String, i32)]) {}

    /// Called each time the consumer has subscribed (at start, and again after a failed
    /// subscription was replaced), before it reads: what was published while it was not
    /// subscribed may be behind it (a `Tail` reader starts at the end).
    async fn subscribed(&mut self) {}

    /// Work of partitions this member does not own that nobody has done for `older_than`
    /// (durable timers nobody fired: the broker left their partitions unassigned, and no
    /// records wait there to show it): why, and the member rejoins its group so that the
    /// partitions are assigned again. Asked as often as the group check, by group members.
    async fn stranded(&mut self, _assignment: &[(String, i32)], _older_than: Duration) -> Option<String> {
        None
    }
}

/// An event whose `schema_version` is newer than this binary's: an error that keeps it
/// waiting (transient), or None. 0 is an older producer's, read as 1.
fn newer_schema(env: &Envelope) -> Option<ServiceError> {
    let known = switchyard_proto::EVENT_SCHEMA_VERSION;
    (env.schema_version > known).then(|| {
        ServiceError::Unavailable(format!(
            "event schema version {} is newer than this binary's {known}: waiting for an upgraded consumer",
            env.schema_version
        ))
    })
}

/// Attempts for a failure of unknown kind before the record is dead-lettered.
pub const UNKNOWN_FAILURE_ATTEMPTS: usize = 5;

/// How a consumer reads its topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// As a member of consumer group `group`: partitions shared, offsets committed.
    Group,
    /// Every partition from now on, outside any group (`EventBus::tail`): for per-replica
    /// fan-out. Nothing is committed; a record that cannot be handled is skipped and counted.
    Tail,
}

pub struct ConsumerSpec {
    /// The service that runs it (the `service` label of its metrics).
    pub service: &'static str,
    /// The consumer group (in `Tail` mode only a name for logs and metrics).
    pub group: String,
    pub topics: Vec<String>,
    pub start: StartFrom,
    pub tick: Duration,
    pub mode: Mode,
    /// Where records that cannot be applied go (`Group` mode).
    pub dead_letters: String,
    /// When the consumer counts as ready, and when as stuck.
    pub progress: ProgressRules,
}

/// What became of one record.
enum Outcome {
    /// Done (applied, dead-lettered or skipped): commit it.
    Done,
    /// Shutdown came first: leave it for the next owner.
    Interrupted,
}

/// The class of a failure, which decides what happens to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    Transient,
    Permanent,
    Unknown,
}

impl FailureClass {
    pub fn of(err: &ServiceError) -> Self {
        match err {
            ServiceError::Unavailable(_) => FailureClass::Transient,
            ServiceError::Internal(_) => FailureClass::Unknown,
            ServiceError::InvalidArgument { .. }
            | ServiceError::NotFound { .. }
            | ServiceError::AlreadyExists { .. }
            | ServiceError::FailedPrecondition(_)
            | ServiceError::ResourceExhausted(_)
            | ServiceError::RateLimited { .. }
            | ServiceError::PermissionDenied(_)
            | ServiceError::Corrupt(_) => FailureClass::Permanent,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::Permanent => "permanent",
            FailureClass::Unknown => "unknown",
        }
    }
}

/// Jittered exponential backoff from 50 ms to 5 s, without end.
pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Runs until `shutdown`; returns after committing and leaving the group.
pub async fn run(
    bus: &dyn EventBus,
    spec: ConsumerSpec,
    ready: ReadyFlag,
    shutdown: Shutdown,
    mut handler: impl Handler,
) -> anyhow::Result<()> {
    let metrics = ConsumerMetrics::new(spec.service, &spec.group);
    let mut resubscribe = backoff();
    'subscription: loop {
        // Not ready until joined; a reason already given (why it rejoins) stays visible.
        if ready.is_ready() {
            ready.set(false);
        }
        let Some(mut sub) = subscribe_with_retry(bus, &spec, &shutdown).await else { return Ok(()) };
        handler.subscribed().await;
        let mut ticker = tokio::time::interval(spec.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Ready once the group gave this member partitions, or after the join grace: a member
        // of a group with more members than partitions legitimately owns none. From then on
        // ready while it (or, owning nothing, its group) makes progress.
        let joined_at = tokio::time::Instant::now();
        let partitions_total = partitions_total(bus, &spec.topics).await;
        let mut progress = Progress::new(spec.progress, spec.service, &spec.group, partitions_total);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break 'subscription close(sub, &spec).await,
                _ = ticker.tick() => {
                    let assignment = sub.assignment();
                    handler.tick(&assignment).await;
                    if !assignment.is_empty() || joined_at.elapsed() >= spec.progress.join_grace {
                        let verdict = match progress.check(&*sub, &assignment).await {
                            Verdict::Ready if spec.mode == Mode::Group && progress.stranded_check_due(assignment.len()) => {
                                match handler.stranded(&assignment, spec.progress.stall_after).await {
                                    Some(why) => Verdict::Unread(why),
                                    None => Verdict::Ready,
                                }
                            }
                            verdict => verdict,
                        };
                        let (why, rejoin) = match verdict {
                            Verdict::Ready => {
                                ready.set(true);
                                continue;
                            }
                            Verdict::NotReady(why) => (why, false),
                            Verdict::Unread(why) => (why, spec.mode == Mode::Group),
                        };
                        if ready.is_ready() {
                            tracing::error!(group = %spec.group, reason = %why, "consumer not ready");
                        }
                        ready.fail(if rejoin { format!("{why}; rejoining the group") } else { why });
                        if rejoin {
                            tracing::warn!(group = %spec.group, "rejoining the group so that its unread partitions are assigned again");
                            metrics.rejoins.increment(1);
                            if let Err(err) = close(sub, &spec).await {
                                tracing::warn!(error = %err, "leaving the group before rejoining");
                            }
                            continue 'subscription;
                        }
                    }
                }
                delivery = sub.next() => {
                    let delivery = match delivery {
                        Ok(d) => d,
                        Err(err) => {
                            // The subscription is broken (fatal consumer error, closed): not
                            // ready until a new member has joined.
                            tracing::error!(group = %spec.group, error = %err, "consumer failed; subscribing again");
                            metrics.failed_subscriptions.increment(1);
                            ready.set(false);
                            drop(sub);
                            let delay = resubscribe.next().unwrap_or(Duration::from_secs(5));
                            tokio::select! {
                                _ = shutdown.wait() => return Ok(()),
                                _ = tokio::time::sleep(delay) => {}
                            }
                            continue 'subscription;
                        }
                    };
                    match process(&mut handler, &delivery, &spec, bus, &metrics, &ready, &shutdown).await {
                        Outcome::Done => {
                            progress.applied();
                            ready.set(true);
                            if let Err(err) = sub.commit(&delivery) {
                                tracing::warn!(group = %spec.group, error = %err, "storing offset failed");
                            }
                        }
                        // Shut down before the effect was durable: leave the offset for the
                        // next owner.
                        Outcome::Interrupted => break 'subscription close(sub, &spec).await,
                    }
                }
            }
        }
    }
}

/// The partitions of `topics` together, or None when the bus cannot say now.
async fn partitions_total(bus: &dyn EventBus, topics: &[String]) -> Option<usize> {
    let mut total = 0;
    for topic in topics {
        total += usize::try_from(bus.partition_count(topic).await.ok()?).ok()?;
    }
    Some(total)
}

async fn close(sub: Box<dyn Subscription>, spec: &ConsumerSpec) -> anyhow::Result<()> {
    sub.close().await.map_err(|e| anyhow::anyhow!("closing consumer {}: {e}", spec.group))
}

async fn subscribe_with_retry(
    bus: &dyn EventBus,
    spec: &ConsumerSpec,
    shutdown: &Shutdown,
) -> Option<Box<dyn Subscription>> {
    let mut delays = backoff();
    loop {
        let result = match spec.mode {
            Mode::Group => bus.subscribe(&spec.group, &spec.topics, spec.start).await,
            Mode::Tail => bus.tail(&spec.topics, spec.start).await,
        };
        match result {
            Ok(sub) => return Some(sub),
            Err(err) => tracing::warn!(group = %spec.group, error = %err, "subscribe failed, retrying"),
        }
        tokio::select! {
            _ = shutdown.wait() => return None,
            _ = tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))) => {}
        }
    }
}

/// Decodes, validates and applies one record, classifying failures.
async fn process(
    handler: &mut impl Handler,
    delivery: &Delivery,
    spec: &ConsumerSpec,
    bus: &dyn EventBus,
    metrics: &ConsumerMetrics,
    ready: &ReadyFlag,
    shutdown: &Shutdown,
) -> Outcome {
    let env = match Envelope::decode(delivery.payload.as_ref()) {
        Ok(env) => env,
        Err(err) => {
            let err = ServiceError::invalid("record", format!("not a switchyard envelope: {err}"));
            return give_up(delivery, spec, bus, metrics, shutdown, FailureClass::Permanent, &err).await;
        }
    };
    if env.body.is_none() {
        // A body type this binary does not know (a newer producer): nothing to apply here.
        metrics.unknown_type.increment(1);
        tracing::warn!(group = %spec.group, event_id = %env.event_id, schema_version = env.schema_version, "skipping an event of a type this version does not know");
        return Outcome::Done;
    }
    if let Err(err) = envelope::validate(&env) {
        return give_up(delivery, spec, bus, metrics, shutdown, FailureClass::Permanent, &err).await;
    }
    let span = tracing::info_span!("consume", group = %spec.group, topic = %delivery.topic, event_id = %env.event_id);
    envelope::link_parent(&span, delivery);
    let mut delays = backoff();
    let mut unknown_attempts = 0;
    let failing_since = tokio::time::Instant::now();
    loop {
        let applied = match newer_schema(&env) {
            // Its meaning may have changed in ways this binary cannot know: not applied, and
            // not lost either; it waits (unready after the stall) until an upgraded member
            // takes the partition.
            Some(err) => Err(err),
            None => handler.handle(env.clone(), delivery).instrument(span.clone()).await,
        };
        let err = match applied {
            Ok(()) => {
                metrics.applied(env.occurred_at_ms);
                return Outcome::Done;
            }
            Err(err) => err,
        };
        let class = FailureClass::of(&err);
        match class {
            FailureClass::Transient => {}
            FailureClass::Unknown if unknown_attempts + 1 < UNKNOWN_FAILURE_ATTEMPTS => unknown_attempts += 1,
            FailureClass::Unknown | FailureClass::Permanent => {
                return give_up(delivery, spec, bus, metrics, shutdown, class, &err).await;
            }
        }
        metrics.retried.increment(1);
        tracing::warn!(group = %spec.group, event_id = %env.event_id, error = %err, class = class.as_str(), "applying event failed, retrying");
        // Retrying for as long as a backend is down: the partition makes no progress meanwhile.
        if failing_since.elapsed() >= spec.progress.stall_after {
            ready.fail(format!(
                "stalled: retrying event {} for {}s: {err}",
                env.event_id,
                failing_since.elapsed().as_secs()
            ));
        }
        tokio::select! {
            _ = shutdown.wait() => return Outcome::Interrupted,
            _ = tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))) => {}
        }
    }
}

/// A record that cannot be applied: to the dead-letter topic (group mode), or skipped (tail).
async fn give_up(
    delivery: &Delivery,
    spec: &ConsumerSpec,
    bus: &dyn EventBus,
    metrics: &ConsumerMetrics,
    shutdown: &Shutdown,
    class: FailureClass,
    err: &ServiceError,
) -> Outcome {
    match spec.mode {
        Mode::Tail => {
            metrics.skipped.increment(1);
            tracing::warn!(group = %spec.group, topic = %delivery.topic, offset = delivery.offset, error = %err, "skipping a record the fan-out cannot handle");
            Outcome::Done
        }
        Mode::Group => {
            let letter = dead_letter::record(delivery, spec, class, err);
            match dead_letter::publish(bus, letter, shutdown).await {
                true => {
                    metrics.dead_lettered();
                    tracing::error!(group = %spec.group, topic = %delivery.topic, partition = delivery.partition, offset = delivery.offset, class = class.as_str(), error = %err, "record sent to the dead-letter topic");
                    Outcome::Done
                }
                false => Outcome::Interrupted,
            }
        }
    }
}
