//! The one consumer loop every service uses: decode envelopes, run the handler, store the
//! offset only after the handler's effect is durable (at-least-once), retry a failed
//! effect with backoff instead of skipping it, and leave the group cleanly on shutdown.

use std::time::Duration;

use async_trait::async_trait;
use switchyard_platform::bus::{Delivery, EventBus, StartFrom, Subscription};
use switchyard_proto::events::v1::Envelope;
use tracing::Instrument;

use crate::ops::ReadyFlag;
use crate::{envelope, ServiceError, Shutdown};

#[async_trait]
pub trait Handler: Send {
    /// Applies one event. Must be idempotent: the same event may come again after a crash.
    async fn handle(&mut self, envelope: Envelope, delivery: &Delivery) -> Result<(), ServiceError>;

    /// Called every `tick` with the partitions this member owns (for periodic passes).
    async fn tick(&mut self, _assignment: &[(String, i32)]) {}
}

/// Events applied or skipped, by consumer group and outcome.
pub const EVENTS: &str = "switchyard_consumer_events_total";
/// Wall time from an event's `occurred_at` to its effect, by consumer group: the lag of each
/// pipeline stage, in seconds (rises when a stage falls behind).
pub const EVENT_AGE: &str = "switchyard_consumer_event_age_seconds";

/// One consumer's metric handles, registered once so the per-event path allocates no labels.
struct ConsumerMetrics {
    applied: metrics::Counter,
    retried: metrics::Counter,
    skipped: metrics::Counter,
    age: metrics::Histogram,
}

impl ConsumerMetrics {
    fn new(group: &str) -> Self {
        metrics::describe_counter!(EVENTS, "Consumed events by group and outcome (applied, skipped, retried)");
        metrics::describe_histogram!(EVENT_AGE, metrics::Unit::Seconds, "From event time to its effect, by group");
        let outcome = |o: &'static str| metrics::counter!(EVENTS, "group" => group.to_owned(), "outcome" => o);
        Self {
            applied: outcome("applied"),
            retried: outcome("retried"),
            skipped: outcome("skipped"),
            age: metrics::histogram!(EVENT_AGE, "group" => group.to_owned()),
        }
    }

    fn applied(&self, occurred_at_ms: i64) {
        self.applied.increment(1);
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        self.age.record(now_ms.saturating_sub(occurred_at_ms).max(0) as f64 / 1000.0);
    }
}

/// How long a member may own no partitions before it counts as ready anyway.
pub const JOIN_GRACE: Duration = Duration::from_secs(10);

pub struct ConsumerSpec {
    pub group: String,
    pub topics: Vec<String>,
    pub start: StartFrom,
    pub tick: Duration,
}

/// Runs until `shutdown`; returns after committing and leaving the group.
pub async fn run(
    bus: &dyn EventBus,
    spec: ConsumerSpec,
    ready: ReadyFlag,
    shutdown: Shutdown,
    mut handler: impl Handler,
) -> anyhow::Result<()> {
    let metrics = ConsumerMetrics::new(&spec.group);
    let mut sub = subscribe_with_retry(bus, &spec, &shutdown).await?;
    let Some(sub_ref) = sub.as_mut() else { return Ok(()) };
    let mut ticker = tokio::time::interval(spec.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Ready once the group gave this member partitions, or after JOIN_GRACE: a member of a
    // group with more members than partitions legitimately owns none. Sticky, so a
    // rebalance does not flap readiness.
    let joined_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = ticker.tick() => {
                let assignment = sub_ref.assignment();
                if !assignment.is_empty() || joined_at.elapsed() >= JOIN_GRACE {
                    ready.set(true);
                }
                handler.tick(&assignment).await;
            }
            delivery = sub_ref.next() => {
                let delivery = match delivery {
                    Ok(d) => d,
                    Err(err) => {
                        tracing::warn!(group = %spec.group, error = %err, "consumer receive failed, retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                ready.set(true);
                if !apply_until_done(&mut handler, &delivery, &spec.group, &metrics, &shutdown).await {
                    // Shut down before the effect was durable: leave the offset for the next owner.
                    break;
                }
                if let Err(err) = sub_ref.commit(&delivery) {
                    tracing::warn!(group = %spec.group, error = %err, "storing offset failed");
                }
            }
        }
    }
    ready.set(false);
    if let Some(sub) = sub.take() {
        sub.close().await?;
    }
    Ok(())
}

async fn subscribe_with_retry(
    bus: &dyn EventBus,
    spec: &ConsumerSpec,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<Box<dyn Subscription>>> {
    let mut delay = Duration::from_millis(100);
    loop {
        match bus.subscribe(&spec.group, &spec.topics, spec.start).await {
            Ok(sub) => return Ok(Some(sub)),
            Err(err) => tracing::warn!(group = %spec.group, error = %err, "subscribe failed, retrying"),
        }
        tokio::select! {
            _ = shutdown.wait() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Runs the handler until it succeeds; a failure (store or bus down) is retried with
/// backoff so no event is skipped. Poison events (decode failures) are skipped by design.
/// False when shutdown came first.
async fn apply_until_done(
    handler: &mut impl Handler,
    delivery: &Delivery,
    group: &str,
    metrics: &ConsumerMetrics,
    shutdown: &Shutdown,
) -> bool {
    let Some(env) = envelope::decode(delivery) else {
        metrics.skipped.increment(1);
        return true;
    };
    let span = tracing::info_span!("consume", group = %group, topic = %delivery.topic, event_id = %env.event_id);
    envelope::link_parent(&span, delivery);
    let mut delay = Duration::from_millis(50);
    loop {
        let result = handler.handle(env.clone(), delivery).instrument(span.clone()).await;
        match result {
            Ok(()) => {
                metrics.applied(env.occurred_at_ms);
                return true;
            }
            Err(err @ (ServiceError::Unavailable(_) | ServiceError::Internal(_))) => {
                metrics.retried.increment(1);
                tracing::warn!(group = %group, event_id = %env.event_id, error = %err, "applying event failed, retrying");
            }
            Err(err) => {
                // Bad data in a valid envelope (unknown ids, closed conversation): retrying
                // cannot help, and the record must not block its partition.
                metrics.skipped.increment(1);
                tracing::warn!(group = %group, event_id = %env.event_id, error = %err, "event rejected, skipping");
                return true;
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use switchyard_platform::bus::{MemoryBus, Record};
    use switchyard_platform::{EventBus, StateStore};
    use switchyard_proto::events::v1::{envelope::Body, DequeueConversation};

    use super::*;
    use crate::ops::Readiness;

    /// Fails with Unavailable `failures` times, then succeeds; counts successes.
    struct Flaky {
        failures: usize,
        applied: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl Handler for Flaky {
        async fn handle(&mut self, _env: Envelope, _d: &Delivery) -> Result<(), ServiceError> {
            if self.failures > 0 {
                self.failures -= 1;
                return Err(ServiceError::Unavailable("store down".into()));
            }
            self.applied.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    async fn setup() -> (Arc<MemoryBus>, Readiness) {
        let bus = Arc::new(MemoryBus::new());
        bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
        let store: Arc<dyn StateStore> = Arc::new(switchyard_platform::store::MemoryStore::new());
        (bus.clone(), Readiness::new(bus, store))
    }

    fn event() -> Envelope {
        crate::envelope::new(
            "acme",
            0,
            Body::DequeueConversation(DequeueConversation { conversation_id: "c".into(), skill_id: "s".into() }),
        )
    }

    fn spec() -> ConsumerSpec {
        ConsumerSpec {
            group: "g".into(),
            topics: vec!["t".into()],
            start: StartFrom::Earliest,
            tick: Duration::from_millis(50),
        }
    }

    async fn pending(bus: &MemoryBus) -> usize {
        let mut sub = bus.subscribe("g", &["t".to_owned()], StartFrom::Earliest).await.unwrap();
        let mut n = 0;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            n += 1;
        }
        n
    }

    #[tokio::test]
    async fn a_failed_effect_is_retried_then_committed_once() {
        let (bus, readiness) = setup().await;
        crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
        bus.publish(Record::new("t", "k", b"not an envelope".to_vec())).await.unwrap();
        let applied = Arc::new(AtomicUsize::new(0));
        let shutdown = Shutdown::new();
        let handler = Flaky { failures: 2, applied: applied.clone() };
        let (b, s) = (bus.clone(), shutdown.clone());
        let task = tokio::spawn(async move { run(&*b, spec(), readiness.flag("c"), s, handler).await });
        for _ in 0..100 {
            if applied.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.trigger();
        task.await.unwrap().unwrap();
        assert_eq!(applied.load(Ordering::SeqCst), 1);
        // Both records are committed: the applied one and the poison one (skipped).
        assert_eq!(pending(&bus).await, 0);
    }

    #[tokio::test]
    async fn each_group_exports_its_outcomes_and_event_age() {
        let handle = crate::ops::prometheus();
        let (bus, readiness) = setup().await;
        crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
        bus.publish(Record::new("t", "k", b"not an envelope".to_vec())).await.unwrap();
        let applied = Arc::new(AtomicUsize::new(0));
        let shutdown = Shutdown::new();
        let handler = Flaky { failures: 1, applied: applied.clone() };
        let group = format!("metrics-{}", uuid::Uuid::new_v4().simple());
        let spec = ConsumerSpec { group: group.clone(), ..spec() };
        let (b, s) = (bus.clone(), shutdown.clone());
        let task = tokio::spawn(async move { run(&*b, spec, readiness.flag("c"), s, handler).await });
        let line = |outcome: &str| format!("{EVENTS}{{group=\"{group}\",outcome=\"{outcome}\"}} 1");
        let mut text = String::new();
        for _ in 0..100 {
            text = handle.render();
            if ["applied", "retried", "skipped"].iter().all(|o| text.contains(&line(o))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.trigger();
        task.await.unwrap().unwrap();
        for outcome in ["applied", "retried", "skipped"] {
            assert!(text.contains(&line(outcome)), "{outcome} missing:\n{text}");
        }
        assert!(text.contains(&format!("{EVENT_AGE}_count{{group=\"{group}\"}} 1")), "{text}");
    }

    #[tokio::test]
    async fn shutdown_before_the_effect_leaves_the_record_for_the_next_owner() {
        let (bus, readiness) = setup().await;
        crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
        let applied = Arc::new(AtomicUsize::new(0));
        let shutdown = Shutdown::new();
        let handler = Flaky { failures: usize::MAX, applied: applied.clone() };
        let (b, s) = (bus.clone(), shutdown.clone());
        let task = tokio::spawn(async move { run(&*b, spec(), readiness.flag("c"), s, handler).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        shutdown.trigger();
        task.await.unwrap().unwrap();
        assert_eq!(applied.load(Ordering::SeqCst), 0);
        assert_eq!(pending(&bus).await, 1, "redelivered to the next member");
    }
}
