//! Whether a consumer makes progress, for readiness that tells the truth, and its lag per
//! partition as a metric (`switchyard_consumer_lag`).
//!
//! - A member that owns partitions with records waiting and applied nothing for
//!   `stall_after` is stuck (a backend down, a handler that hangs): not ready.
//! - Every member asks the broker every `group_check_every` how far its group is behind on
//!   the partitions it does not own. Records waiting there while the group's committed
//!   offsets do not move for `stall_after` mean nobody is reading them (a dead member still
//!   holding partitions, a rebalance that never completed): not ready either, and the member
//!   rejoins its group so the broker assigns them again. tansu 0.6 needs that: it evicts a
//!   member that stopped heartbeating without starting a new generation, so the dead member's
//!   partitions stay unassigned until some member joins.

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

/// Topic, partition and committed position of a partition with records waiting.
type WaitingPartition = (String, i32, i64);

/// What a progress check found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Ready,
    /// Not ready, for this reason.
    NotReady(String),
    /// Not ready: partitions this member does not own have records nobody reads. Rejoining
    /// the group makes the broker assign them again.
    Unread(String),
}

pub(super) struct Progress {
    rules: ProgressRules,
    service: &'static str,
    group: String,
    last_applied: Instant,
    /// The group's positions on partitions with records waiting that this member does not
    /// own, and since when they are so.
    group_positions: Option<(Vec<WaitingPartition>, Instant)>,
    last_group_check: Option<Instant>,
    last_stranded_check: Option<Instant>,
    /// Partitions of the subscribed topics, when known: a member that owns them all has no
    /// others to watch (and asks the broker nothing).
    partitions_total: Option<usize>,
    reported: HashSet<(String, i32)>,
}

impl Progress {
    pub(super) fn new(
        rules: ProgressRules,
        service: &'static str,
        group: &str,
        partitions_total: Option<usize>,
    ) -> Self {
        metrics::describe_gauge!(LAG, "Records waiting to be read, by service, group, topic and partition");
        Self {
            rules,
            service,
            group: group.to_owned(),
            last_applied: Instant::now(),
            group_positions: None,
            last_group_check: None,
            last_stranded_check: None,
            partitions_total,
            reported: HashSet::new(),
        }
    }

    /// Whether to ask the handler about stranded work of partitions this member does not own
    /// (`Handler::stranded`): as often as the group check, and never when it owns them all.
    pub(super) fn stranded_check_due(&mut self, owned: usize) -> bool {
        if self.partitions_total.is_some_and(|total| owned >= total) {
            return false;
        }
        let due = self.last_stranded_check.is_none_or(|at| at.elapsed() >= self.rules.group_check_every);
        if due {
            self.last_stranded_check = Some(Instant::now());
        }
        due
    }

    pub(super) fn applied(&mut self) {
        self.last_applied = Instant::now();
    }

    /// Whether the consumer, and its group on the partitions it does not own, make progress.
    pub(super) async fn check(&mut self, sub: &dyn Subscription, owned: &[(String, i32)]) -> Verdict {
        let lag = sub.lag();
        self.report(&lag);
        if !owned.is_empty() {
            let waiting: i64 = lag.iter().map(PartitionLag::lag).sum();
            let idle = self.last_applied.elapsed();
            if waiting > 0 && idle >= self.rules.stall_after {
                // Its own records first: while it is stuck, rejoining helps nobody.
                return Verdict::NotReady(format!(
                    "stalled: {waiting} records waiting on its partitions, none applied for {}s",
                    idle.as_secs()
                ));
            }
        }
        if self.partitions_total.is_some_and(|total| owned.len() >= total) {
            self.group_positions = None;
            return Verdict::Ready;
        }
        self.check_group(sub, owned).await;
        self.group_verdict(owned.is_empty())
    }

    async fn check_group(&mut self, sub: &dyn Subscription, owned: &[(String, i32)]) {
        let due = self.last_group_check.is_none_or(|at| at.elapsed() >= self.rules.group_check_every);
        if !due {
            return;
        }
        self.last_group_check = Some(Instant::now());
        let lag = match sub.group_lag().await {
            Ok(lag) => lag,
            // Unanswerable now (the broker is down): the bus check of readiness says so.
            Err(err) => {
                tracing::debug!(group = %self.group, error = %err, "group lag unknown");
                return;
            }
        };
        let waiting: Vec<WaitingPartition> = lag
            .iter()
            .filter(|l| l.lag() > 0 && !owned.iter().any(|(t, p)| *t == l.topic && *p == l.partition))
            .map(|l| (l.topic.clone(), l.partition, l.position))
            .collect();
        match &self.group_positions {
            _ if waiting.is_empty() => self.group_positions = None,
            Some((before, _)) if *before == waiting => {}
            _ => self.group_positions = Some((waiting, Instant::now())),
        }
    }

    fn group_verdict(&self, owns_none: bool) -> Verdict {
        match &self.group_positions {
            Some((waiting, since)) if since.elapsed() >= self.rules.stall_after => {
                let (n, secs) = (waiting.len(), since.elapsed().as_secs());
                Verdict::Unread(if owns_none {
                    format!(
                        "holds no partitions while its group has records waiting on {n} partitions, unread for {secs}s"
                    )
                } else {
                    format!("its group has records waiting on {n} partitions it does not own, unread for {secs}s")
                })
            }
            _ => Verdict::Ready,
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
