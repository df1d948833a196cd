//! The router's sweep (R6.7): every `assign_interval` each owned skill with waiting
//! conversations gets an assignment pass, and assignments whose event was never confirmed (the
//! claimer died) are announced again. It runs beside the routing consumer, never holding up
//! its commands, on the durable timers: a skill whose queue gets an entry has a sweep timer in
//! the shard of its routing partition ([`SweepTimers::schedule`], before the command is
//! committed), and the timer comes back every interval while the queue or its unconfirmed
//! assignments last. A replica reads only the shards of the partitions it owns, so a sweep
//! costs what is due there, not a read of every account.
//!
//! When a replica gains partitions (at start, after a rebalance) it reads the active skills
//! and the unconfirmed assignments of every account once, and schedules the timers of those it
//! now owns: queues written before the timers existed, or whose timer write was lost, are
//! swept too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_kit::config::keys;
use switchyard_kit::timers::Timers;
use switchyard_kit::{Platform, ServiceError, Shutdown};
use switchyard_platform::bus::partition_for;
use switchyard_platform::store::DueTimer;
use tokio::sync::watch;

use crate::actors::Registry;
use crate::engine::Engine;

/// The timer family: shards `router.sweep.<partition>` of the routing topic.
pub const FAMILY: &str = "router.sweep";

/// Timers of one conversation in its skill's shard: a suggested agent's wait (R12.6), a
/// manual-SLA conversation turning actionable (R8.17), an offer ringing out (R6.5).
const CONVERSATION_TIMERS: [&str; 3] = ["suggested", "actionable", "offer"];

/// The skills' sweep timers.
pub struct SweepTimers {
    timers: Timers,
    platform: Platform,
    interval: Duration,
}

impl SweepTimers {
    pub fn new(platform: Platform, interval: Duration) -> Self {
        // A sweep whose pass failed (a backend blip) comes back after its lease: a few
        // intervals, not the default 30 s. Two sweeps of one skill overlapping are harmless
        // (claims are atomic).
        let timers =
            Timers::new(platform.clone(), "router", FAMILY, platform.topics.routing.clone()).with_lease(interval * 5);
        Self { timers, platform, interval }
    }

    /// The skill is swept one interval from now at the latest.
    pub async fn schedule(&self, account_id: &str, skill_id: &str) -> Result<(), ServiceError> {
        let due = self.platform.clock.now_ms() + self.interval_ms();
        self.schedule_at(account_id, skill_id, due).await
    }

    async fn schedule_at(&self, account_id: &str, skill_id: &str, due_ms: i64) -> Result<(), ServiceError> {
        let key = keys::skill(account_id, skill_id);
        let payload = Bytes::from(format!("{account_id}\n{skill_id}"));
        self.timers.schedule_no_later(&key, &key, due_ms, payload).await
    }

    /// R6.5: the conversation's offer rings out at `due_ms` at the latest. Written before the
    /// offer is made, so an offer whose router dies still expires (the new owner fires it);
    /// when no offer results, the timer finds none and does nothing. A later offer of the same
    /// conversation moves it.
    pub async fn schedule_offer_expiry(
        &self,
        account_id: &str,
        skill_id: &str,
        conversation_id: &str,
        due_ms: i64,
    ) -> Result<(), ServiceError> {
        self.schedule_for_conversation("offer", account_id, skill_id, conversation_id, due_ms).await
    }

    /// R12.6: the suggested agent's time for the conversation runs out at `due_ms`.
    pub async fn schedule_suggested_timeout(
        &self,
        account_id: &str,
        skill_id: &str,
        conversation_id: &str,
        due_ms: i64,
    ) -> Result<(), ServiceError> {
        self.schedule_for_conversation("suggested", account_id, skill_id, conversation_id, due_ms).await
    }

    /// R8.17: a conversation returned to the queue under a far manual response time becomes
    /// actionable at `due_ms` (the threshold before its manual due time).
    pub async fn schedule_actionable(
        &self,
        account_id: &str,
        skill_id: &str,
        conversation_id: &str,
        due_ms: i64,
    ) -> Result<(), ServiceError> {
        self.schedule_for_conversation("actionable", account_id, skill_id, conversation_id, due_ms).await
    }

    /// A `kind` timer of one conversation, in its skill's shard (fired by `Sweep::sweep_skill`).
    async fn schedule_for_conversation(
        &self,
        kind: &str,
        account_id: &str,
        skill_id: &str,
        conversation_id: &str,
        due_ms: i64,
    ) -> Result<(), ServiceError> {
        let key = keys::skill(account_id, skill_id);
        let payload = Bytes::from(format!("{kind}\n{account_id}\n{conversation_id}"));
        self.timers.schedule(&key, &format!("{kind}:{account_id}/{conversation_id}"), due_ms, payload).await
    }

    fn interval_ms(&self) -> i64 {
        i64::try_from(self.interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// Sweep timers of partitions this replica does not own, overdue by `older_than`.
    pub async fn stranded(&self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        self.timers.stranded(assignment, older_than).await
    }
}

/// The routing partitions a replica owns, as its consumer last saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    pub partitions: i32,
    pub owned: BTreeSet<i32>,
}

impl Ownership {
    pub fn owns(&self, account_id: &str, skill_id: &str) -> bool {
        self.partitions > 0 && self.owned.contains(&partition_for(&keys::skill(account_id, skill_id), self.partitions))
    }
}

pub struct Sweep {
    platform: Platform,
    engine: Arc<Engine>,
    registry: Arc<Registry>,
    ownership: watch::Receiver<Ownership>,
    interval: Duration,
    /// How old an unconfirmed assignment must be before it is announced again.
    announce_grace: Duration,
    /// The partitions whose skills were looked up (see the module docs).
    seeded: BTreeSet<i32>,
}

impl Sweep {
    pub fn new(
        platform: Platform,
        engine: Arc<Engine>,
        registry: Arc<Registry>,
        ownership: watch::Receiver<Ownership>,
        interval: Duration,
    ) -> Self {
        let announce_grace = interval * 3;
        Self { platform, engine, registry, ownership, interval, announce_grace, seeded: BTreeSet::new() }
    }

    pub async fn run(mut self, stop: Shutdown) -> anyhow::Result<()> {
        loop {
            tokio::select! {
                () = stop.wait() => return Ok(()),
                () = tokio::time::sleep(self.interval) => {}
            }
            self.once().await;
        }
    }

    /// One sweep: look up the skills of newly owned partitions, then fire the due timers of
    /// the owned ones. Returns how many skills were swept.
    pub async fn once(&mut self) -> usize {
        let own = self.ownership.borrow().clone();
        if own.owned.iter().any(|p| !self.seeded.contains(p)) {
            match self.seed(&own).await {
                Ok(()) => self.seeded.clone_from(&own.owned),
                Err(err) => tracing::warn!(error = %err, "looking up the skills of newly owned partitions failed"),
            }
        } else {
            // Forget lost partitions, so that getting one back looks it up again.
            self.seeded.retain(|p| own.owned.contains(p));
        }
        let topic = self.platform.topics.routing.clone();
        let assignment: Vec<(String, i32)> = own.owned.iter().map(|p| (topic.clone(), *p)).collect();
        let this = &*self;
        this.engine.sweep_timers().timers.fire_due(&assignment, |timer| this.sweep_skill(timer)).await
    }

    async fn seed(&self, own: &Ownership) -> Result<(), ServiceError> {
        let store = &self.platform.store;
        let now = self.platform.clock.now_ms();
        let mut skills: BTreeSet<(String, String)> = store.active_skills().await?.into_iter().collect();
        for (account, route) in store.unannounced(i64::MAX, 10_000).await? {
            skills.insert((account, route.skill_id));
        }
        for (account, skill) in skills.iter().filter(|(a, s)| own.owns(a, s)) {
            self.engine.sweep_timers().schedule_at(account, skill, now).await?;
        }
        Ok(())
    }

    /// A skill's timer fired: a pass, the skill's unconfirmed assignments announced, and the
    /// timer back in an interval while either is left.
    async fn sweep_skill(&self, timer: DueTimer) -> Result<(), ServiceError> {
        let text = String::from_utf8_lossy(&timer.payload);
        let conversation_timer = text.split_once('\n').filter(|(kind, _)| CONVERSATION_TIMERS.contains(kind));
        if let Some((kind, rest)) = conversation_timer {
            let Some((account, conversation)) = rest.split_once('\n') else {
                tracing::warn!(timer = %timer.timer_id, kind, "dropping a timer without account and conversation");
                return Ok(());
            };
            let skill = match kind {
                "suggested" => self.engine.suggested_agent_timed_out(account, conversation).await?,
                "actionable" => self.engine.manual_time_actionable(account, conversation).await?,
                _ => self.engine.expire_offer(account, conversation).await?,
            };
            if let Some(skill) = skill {
                self.registry.assign_pass(account, &skill).await?;
            }
            return Ok(());
        }
        let Some((account, skill)) = text.split_once('\n') else {
            tracing::warn!(timer = %timer.timer_id, "dropping a sweep timer without account and skill");
            return Ok(());
        };
        self.registry.assign_pass(account, skill).await?;
        let pending = self.engine.reannounce_skill(account, skill, self.announce_grace).await?;
        if pending > 0 || self.platform.store.queue_depth(account, skill).await? > 0 {
            self.engine.sweep_timers().schedule(account, skill).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
