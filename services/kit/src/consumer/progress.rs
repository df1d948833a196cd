//! Whether a consumer makes progress, for readiness that tells the truth, and its lag per
//! partition as a metric (`switchyard_consumer_lag`).
//!
//! - A member that owns partitions with records waiting and applied nothing for
//!   `stall_after` is stuck (a backend down, a handler that hangs): not ready.
//! - A member that owns no partitions cannot see its own lag; it asks the broker every
//!   `group_check_every` how far the whole group is behind. Records waiting while the group's
//!   committed offsets do not move for `stall_after` mean nobody is reading them (a dead
//!   member still holding partitions, a rebalance that never completed): not ready either.

use std::collections::HashSet;
use std::time::Duration;

use switchyard_platform::bus::{PartitionLag, Subscription};
use tokio::time::Instant;

/// Records waiting by service, consumer group, topic and partition, for the partitions this
/// member owns (0 once it no longer owns one).
pub const LAG: &str = "switchyard_consumer_lag";

/// When a consumer counts as ready, and when as stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressRules {
    /// How long a member may own no partitions before it counts as ready anyway (a group with
    /// more members than partitions leaves some without).
    pub join_grace: Duration,
    /// How long records may wait unapplied before the consumer counts as stuck.
    pub stall_after: Duration,
    /// How often a member without partitions asks the broker about its group's progress.
    pub group_check_every: Duration,
}

impl Default for ProgressRules {
    fn default() -> Self {
        Self {
            join_grace: Duration::from_secs(10),
            stall_after: Duration::from_secs(30),
            group_check_every: Duration::from_secs(10),
        }
    }
}

pub(super) struct Progress {
    rules: ProgressRules,
    service: &'static str,
    group: String,
    last_applied: Instant,
    /// For a member without partitions: the group's positions, and since when they are so.
    group_positions: Option<(Vec<(String, i32, i64)>, Instant)>,
    last_group_check: Option<Instant>,
    reported: HashSet<(String, i32)>,
}

impl Progress {
    pub(super) fn new(rules: ProgressRules, service: &'static str, group: &str) -> Self {
        metrics::describe_gauge!(LAG, "Records waiting to be read, by service, group, topic and partition");
        Self {
            rules,
            service,
            group: group.to_owned(),
            last_applied: Instant::now(),
            group_positions: None,
            last_group_check: None,
            reported: HashSet::new(),
        }
    }

    pub(super) fn applied(&mut self) {
        self.last_applied = Instant::now();
    }

    /// `Err(why)` when the consumer (or, owning nothing, its group) makes no progress.
    pub(super) async fn check(&mut self, sub: &dyn Subscription, owned: &[(String, i32)]) -> Result<(), String> {
        let lag = sub.lag();
        self.report(&lag);
        if !owned.is_empty() {
            self.group_positions = None;
            let waiting: i64 = lag.iter().map(PartitionLag::lag).sum();
            let idle = self.last_applied.elapsed();
            if waiting > 0 && idle >= self.rules.stall_after {
                return Err(format!(
                    "stalled: {waiting} records waiting on its partitions, none applied for {}s",
                    idle.as_secs()
                ));
            }
            return Ok(());
        }
        self.check_group(sub).await
    }

    async fn check_group(&mut self, sub: &dyn Subscription) -> Result<(), String> {
        let due = self.last_group_check.is_none_or(|at| at.elapsed() >= self.rules.group_check_every);
        if !due {
            return self.group_verdict();
        }
        self.last_group_check = Some(Instant::now());
        let lag = match sub.group_lag().await {
            Ok(lag) => lag,
            // Unanswerable now (the broker is down): the bus check of readiness says so.
            Err(err) => {
                tracing::debug!(group = %self.group, error = %err, "group lag unknown");
                return self.group_verdict();
            }
        };
        let waiting: Vec<(String, i32, i64)> =
            lag.iter().filter(|l| l.lag() > 0).map(|l| (l.topic.clone(), l.partition, l.position)).collect();
        if waiting.is_empty() {
            self.group_positions = None;
            return Ok(());
        }
        match &self.group_positions {
            Some((before, _)) if *before == waiting => {}
            _ => self.group_positions = Some((waiting, Instant::now())),
        }
        self.group_verdict()
    }

    fn group_verdict(&self) -> Result<(), String> {
        match &self.group_positions {
            Some((waiting, since)) if since.elapsed() >= self.rules.stall_after => Err(format!(
                "holds no partitions while its group has records waiting on {} partitions, unread for {}s",
                waiting.len(),
                since.elapsed().as_secs()
            )),
            _ => Ok(()),
        }
    }

    fn report(&mut self, lag: &[PartitionLag]) {
        let now: HashSet<(String, i32)> = lag.iter().map(|l| (l.topic.clone(), l.partition)).collect();
        for (topic, partition) in self.reported.difference(&now) {
            self.gauge(topic, *partition).set(0.0);
        }
        for l in lag {
            self.gauge(&l.topic, l.partition).set(l.lag() as f64);
        }
        self.reported = now;
    }

    fn gauge(&self, topic: &str, partition: i32) -> metrics::Gauge {
        metrics::gauge!(
            LAG,
            "service" => self.service,
            "group" => self.group.clone(),
            "topic" => topic.to_owned(),
            "partition" => partition.to_string()
        )
    }
}
