//! Durable timers for a service, on the store's [`TimerStore`] (architecture §4). A family of
//! timers belongs to one topic: each timer lives in the shard of the partition its owner's
//! key falls in on that topic, so the replica that owns the partition fires it, a replica polls
//! only the shards it owns, and a partition that moves after a crash brings its timers along.
//! A poll costs what is due, not what waits. Firing is at-least-once: a timer is leased while
//! it fires and completed after its effect; one whose effect failed (or whose poller died)
//! comes due again when the lease ends, so effects must be idempotent. All time comes from
//! the platform's clock.
//!
//! [`TimerStore`]: switchyard_platform::store::TimerStore

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use switchyard_platform::bus::partition_for;
use switchyard_platform::store::DueTimer;
use tokio::sync::OnceCell;

use crate::{Platform, ServiceError};

/// Timers fired, by service, family and outcome (`fired`, `failed`: it comes due again).
pub const TIMERS_FIRED: &str = "switchyard_timers_fired_total";

/// How long a handed-out timer is leased before it comes due again, unless completed.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Timers fired per shard per poll.
pub const DEFAULT_BATCH: usize = 100;

/// One family of timers of a service (e.g. capacity's logout grace, sharded like `agents`).
pub struct Timers {
    platform: Platform,
    /// The owning service (the `service` label of the metrics).
    service: &'static str,
    /// Shard names are `<family>.<partition>`.
    family: String,
    topic: String,
    partitions: OnceCell<i32>,
    lease: Duration,
    batch: usize,
}

impl Timers {
    /// Timers of `family` of `service`, sharded like the partitions of `topic`.
    pub fn new(platform: Platform, service: &'static str, family: impl Into<String>, topic: impl Into<String>) -> Self {
        metrics::describe_counter!(TIMERS_FIRED, "Durable timers fired, by service, family and outcome");
        Self {
            platform,
            service,
            family: family.into(),
            topic: topic.into(),
            partitions: OnceCell::new(),
            lease: DEFAULT_LEASE,
            batch: DEFAULT_BATCH,
        }
    }

    /// How long a timer is leased while its effect runs.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Partitions of the family's topic (asked once).
    async fn partition_count(&self) -> Result<i32, ServiceError> {
        let count = self.partitions.get_or_try_init(|| async { self.platform.bus.partition_count(&self.topic).await });
        Ok(*count.await?)
    }

    async fn shard_of(&self, key: &str) -> Result<String, ServiceError> {
        Ok(self.shard(partition_for(key, self.partition_count().await?)))
    }

    fn shard(&self, partition: i32) -> String {
        format!("{}.{partition}", self.family)
    }

    /// Schedules `timer_id` (owned by `key`) at `due_ms`; scheduling it again moves it.
    pub async fn schedule(&self, key: &str, timer_id: &str, due_ms: i64, payload: Bytes) -> Result<(), ServiceError> {
        let shard = self.shard_of(key).await?;
        self.platform.store.schedule_timer(&shard, timer_id, due_ms, payload).await?;
        Ok(())
    }

    /// Schedules `timer_id` (owned by `key`) at `due_ms` unless it is due sooner already: for
    /// "at the latest by" timers that many events schedule.
    pub async fn schedule_no_later(
        &self,
        key: &str,
        timer_id: &str,
        due_ms: i64,
        payload: Bytes,
    ) -> Result<(), ServiceError> {
        let shard = self.shard_of(key).await?;
        self.platform.store.schedule_timer_no_later(&shard, timer_id, due_ms, payload).await?;
        Ok(())
    }

    /// True when the timer existed.
    pub async fn cancel(&self, key: &str, timer_id: &str) -> Result<bool, ServiceError> {
        let shard = self.shard_of(key).await?;
        Ok(self.platform.store.cancel_timer(&shard, timer_id).await?)
    }

    /// Fires the due timers of the owned partitions of the family's topic (`assignment` as the
    /// consumer owns them) with `fire`, completing each whose effect succeeded; returns how
    /// many fired. A store that cannot be read now is tried again at the next poll.
    pub async fn fire_due<F, Fut>(&self, assignment: &[(String, i32)], fire: F) -> usize
    where
        F: Fn(DueTimer) -> Fut,
        Fut: Future<Output = Result<(), ServiceError>>,
    {
        let store = &self.platform.store;
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let mut fired = 0;
        for (_, partition) in assignment.iter().filter(|(t, _)| *t == self.topic) {
            let shard = self.shard(*partition);
            let now = self.platform.clock.now_ms();
            let due = match store.due_timers(&shard, now, lease_ms, self.batch).await {
                Ok(due) => due,
                Err(err) => {
                    tracing::warn!(shard, error = %err, "reading due timers failed; trying again at the next poll");
                    continue;
                }
            };
            for timer in due {
                let id = timer.timer_id.clone();
                match fire(timer.clone()).await {
                    Ok(()) => {
                        fired += 1;
                        self.count("fired");
                        if let Err(err) = store.complete_timer(&shard, &timer).await {
                            tracing::warn!(shard, timer = %id, error = %err, "completing a timer failed; it fires again");
                        }
                    }
                    Err(err) => {
                        self.count("failed");
                        tracing::warn!(shard, timer = %id, error = %err, "timer effect failed; it fires again after its lease");
                    }
                }
            }
        }
        fired
    }

    /// Timers of partitions this replica does not own (`assignment` as it owns them) that are
    /// overdue by more than `older_than`: nobody fires them, as when the broker left their
    /// partitions unassigned. A description for readiness, or None (also when the store or the
    /// bus cannot say now). One read per partition not owned; nothing is handed out.
    pub async fn stranded(&self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        let partitions = self.partition_count().await.ok()?;
        let owned: Vec<i32> = assignment.iter().filter(|(t, _)| *t == self.topic).map(|(_, p)| *p).collect();
        let older_ms = i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX);
        let limit = self.platform.clock.now_ms().saturating_sub(older_ms);
        let mut overdue = Vec::new();
        for partition in (0..partitions).filter(|p| !owned.contains(p)) {
            match self.platform.store.earliest_timer(&self.shard(partition)).await {
                Ok(Some(due)) if due < limit => overdue.push(partition),
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "cannot read timers to check for stranded ones");
                    return None;
                }
            }
        }
        (!overdue.is_empty()).then(|| {
            format!(
                "{} timers overdue by more than {}s on partitions {overdue:?} of {} it does not own",
                self.family,
                older_than.as_secs(),
                self.topic
            )
        })
    }

    fn count(&self, outcome: &'static str) {
        metrics::counter!(
            TIMERS_FIRED,
            "service" => self.service,
            "family" => self.family.clone(),
            "outcome" => outcome
        )
        .increment(1);
    }
}

#[cfg(test)]
#[path = "timers_tests.rs"]
mod tests;
