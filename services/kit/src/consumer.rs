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
    let mut sub = subscribe_with_retry(bus, &spec, &shutdown).await?;
    let Some(sub_ref) = sub.as_mut() else { return Ok(()) };
    let mut ticker = tokio::time::interval(spec.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = ticker.tick() => {
                let assignment = sub_ref.assignment();
                ready.set(!assignment.is_empty());
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
                if !apply_until_done(&mut handler, &delivery, &spec.group, &shutdown).await {
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
async fn apply_until_done(handler: &mut impl Handler, delivery: &Delivery, group: &str, shutdown: &Shutdown) -> bool {
    let Some(env) = envelope::decode(delivery) else { return true };
    let span = tracing::info_span!("consume", group = %group, topic = %delivery.topic, event_id = %env.event_id);
    envelope::link_parent(&span, delivery);
    let mut delay = Duration::from_millis(50);
    loop {
        let result = handler.handle(env.clone(), delivery).instrument(span.clone()).await;
        match result {
            Ok(()) => return true,
            Err(err @ (ServiceError::Unavailable(_) | ServiceError::Internal(_))) => {
                tracing::warn!(group = %group, event_id = %env.event_id, error = %err, "applying event failed, retrying");
            }
            Err(err) => {
                // Bad data in a valid envelope (unknown ids, closed conversation): retrying
                // cannot help, and the record must not block its partition.
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
