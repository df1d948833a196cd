//! Per-skill queue actors (actix). Each skill this replica owns has one `SkillQueue` actor
//! that serialises the skill's routing commands and assignment passes; its state lives in
//! the store, so an actor can stop, restart or move to another replica at any time.
//!
//! The actors run on their own actix System thread(s); the tokio side talks to them through
//! `Addr::send`, which waits for the handler and respects the mailbox bound (backpressure).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use actix_rt::ArbiterHandle;
use switchyard_kit::ServiceError;
use switchyard_proto::events::v1::RouteConversation;

use crate::engine::Engine;
use crate::error::RouterError;

/// Bound on queued messages per skill actor.
const MAILBOX_CAPACITY: usize = 1024;
/// A skill actor that got no route command and whose queue stayed empty this long stops (its
/// state is in the store; the next command starts it again).
pub const IDLE_ACTOR_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Message)]
#[rtype(result = "Result<(), ServiceError>")]
pub struct Route {
    pub cmd: RouteConversation,
    pub event_id: String,
}

#[derive(Message)]
#[rtype(result = "Result<usize, ServiceError>")]
pub struct AssignPass;

/// An assignment pass the actor schedules for itself after accepting routes.
#[derive(Message)]
#[rtype(result = "()")]
struct Kick;

pub struct SkillQueue {
    account_id: String,
    skill_id: String,
    engine: Arc<Engine>,
    /// A `Kick` is queued and has not started: routes accepted meanwhile ride on it.
    kicked: bool,
    /// A kicked pass is running; `again` asks for one more when it ends.
    passing: bool,
    again: bool,
}

impl Actor for SkillQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        tracing::debug!(account_id = %self.account_id, skill_id = %self.skill_id, "skill queue actor started");
    }
}

impl Handler<Route> for SkillQueue {
    // Atomic: the next message waits until this one's store writes are done.
    type Result = AtomicResponse<Self, Result<(), ServiceError>>;

    /// Queues the conversation (durable, so the command can be committed), then leaves the
    /// assignment to one coalesced pass: under load, one pass (one agent read, one ranking per
    /// conversation) serves every route accepted since the last, and the consumer is not held
    /// up by claims. A crash before the pass leaves the conversation queued for the sweep.
    fn handle(&mut self, msg: Route, _ctx: &mut Self::Context) -> Self::Result {
        let engine = self.engine.clone();
        let account = self.account_id.clone();
        AtomicResponse::new(Box::pin(
            async move { engine.accept(&account, &msg.cmd, &msg.event_id).await }.into_actor(self).map(
                |result, actor: &mut Self, ctx: &mut Self::Context| {
                    if result.is_ok() && !actor.kicked {
                        actor.kicked = true;
                        ctx.notify(Kick);
                    }
                    result
                },
            ),
        ))
    }
}

impl Handler<Kick> for SkillQueue {
    // Not atomic: routes keep being accepted while the pass waits on the store and the
    // broker, and the next pass takes all of them at once. Claims are atomic in the store,
    // so a pass overlapping the periodic one cannot assign anything twice.
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _msg: Kick, _ctx: &mut Self::Context) -> Self::Result {
        self.kicked = false;
        if self.passing {
            self.again = true;
            return Box::pin(fut::ready(()));
        }
        self.passing = true;
        let engine = self.engine.clone();
        let (account, skill) = (self.account_id.clone(), self.skill_id.clone());
        Box::pin(
            async move {
                if let Err(err) = engine.assign_skill(&account, &skill).await {
                    // The sweep retries: the conversations stay queued.
                    tracing::warn!(account_id = %account, skill_id = %skill, error = %err, "assignment pass failed");
                }
            }
            .into_actor(self)
            .map(|(), actor: &mut Self, ctx: &mut Self::Context| {
                actor.passing = false;
                if std::mem::take(&mut actor.again) && !actor.kicked {
                    actor.kicked = true;
                    ctx.notify(Kick);
                }
            }),
        )
    }
}

impl Handler<AssignPass> for SkillQueue {
    // Not atomic either (the sweep's pass): route commands keep being accepted while it runs.
    // An atomic one held each active skill's commands every interval; at 2,000
    // conversations/s embedded that showed in the p99 open-to-assignment (README).
    type Result = ResponseActFuture<Self, Result<usize, ServiceError>>;

    fn handle(&mut self, _msg: AssignPass, _ctx: &mut Self::Context) -> Self::Result {
        let engine = self.engine.clone();
        let (account, skill) = (self.account_id.clone(), self.skill_id.clone());
        Box::pin(async move { engine.assign_skill(&account, &skill).await }.into_actor(self))
    }
}

/// The actix System thread and its arbiters.
pub struct ActorHost {
    system: actix_rt::System,
    arbiters: Vec<ArbiterHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ActorHost {
    pub fn start(threads: usize) -> anyhow::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("router-actors".into()).spawn(move || {
            let system = actix_rt::System::new();
            let mut arbiters = vec![actix_rt::Arbiter::current()];
            for _ in 1..threads.max(1) {
                arbiters.push(actix_rt::Arbiter::new().handle());
            }
            let _ = tx.send((actix_rt::System::current(), arbiters));
            let _ = system.run();
        })?;
        let (system, arbiters) = rx.recv().map_err(|_| anyhow::anyhow!("actor system failed to start"))?;
        Ok(Self { system, arbiters, thread: Some(thread) })
    }

    pub fn stop(mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Actors = HashMap<(String, String), (Addr<SkillQueue>, std::time::Instant)>;

/// The skill actors of this replica, started on demand, with when each was last needed.
/// Shared by the routing consumer and the sweep; the lock is held only to look up an address.
pub struct Registry {
    engine: Arc<Engine>,
    arbiters: Vec<ArbiterHandle>,
    idle_timeout: std::time::Duration,
    actors: std::sync::Mutex<Actors>,
}

impl Registry {
    pub fn new(host: &ActorHost, engine: Arc<Engine>) -> Self {
        Self {
            engine,
            arbiters: host.arbiters.clone(),
            idle_timeout: IDLE_ACTOR_TIMEOUT,
            actors: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Actors idle this long with an empty queue stop ([`IDLE_ACTOR_TIMEOUT`] by default).
    pub fn with_idle_timeout(mut self, idle_timeout: std::time::Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Actors> {
        // Nothing panics while holding it; recover the map rather than propagate.
        self.actors.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn actor(&self, account_id: &str, skill_id: &str) -> Addr<SkillQueue> {
        let key = (account_id.to_owned(), skill_id.to_owned());
        let mut actors = self.lock();
        if let Some((addr, used)) = actors.get_mut(&key) {
            if addr.connected() {
                *used = std::time::Instant::now();
                return addr.clone();
            }
        }
        let arbiter = &self.arbiters[shard(&key, self.arbiters.len())];
        let (account, skill, engine) = (key.0.clone(), key.1.clone(), self.engine.clone());
        let addr = SkillQueue::start_in_arbiter(arbiter, move |_| SkillQueue {
            account_id: account,
            skill_id: skill,
            engine,
            kicked: false,
            passing: false,
            again: false,
        });
        actors.insert(key, (addr.clone(), std::time::Instant::now()));
        report(&actors);
        addr
    }

    pub async fn route(&self, account_id: &str, cmd: RouteConversation, event_id: String) -> Result<(), ServiceError> {
        let addr = self.actor(account_id, &cmd.skill_id);
        addr.send(Route { cmd, event_id })
            .await
            .map_err(|e| ServiceError::from(RouterError::ActorGone(e.to_string())))?
    }

    pub async fn assign_pass(&self, account_id: &str, skill_id: &str) -> Result<usize, ServiceError> {
        let addr = self.actor(account_id, skill_id);
        addr.send(AssignPass).await.map_err(|e| ServiceError::from(RouterError::ActorGone(e.to_string())))?
    }

    /// Stops the actors of skills this replica no longer owns, and those idle for
    /// [`IDLE_ACTOR_TIMEOUT`] (a skill with waiting conversations is not idle: its sweep runs a
    /// pass every interval). An actor stops once its last address is dropped.
    pub fn retain(&self, mut owned: impl FnMut(&str, &str) -> bool) {
        let mut actors = self.lock();
        actors.retain(|(account, skill), (_, used)| owned(account, skill) && used.elapsed() < self.idle_timeout);
        report(&actors);
    }
}

fn report(actors: &Actors) {
    let service = crate::metrics::SERVICE;
    metrics::gauge!(crate::metrics::SKILL_ACTORS, service.0 => service.1).set(actors.len() as f64);
}

fn shard(key: &(String, String), n: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use switchyard_kit::{Platform, Topics};
    use switchyard_platform::bus::MemoryBus;
    use switchyard_platform::store::MemoryStore;
    use switchyard_platform::ManualClock;

    use super::*;

    /// Nothing grows with the skills ever routed: an actor idle past the timeout stops; one
    /// that worked recently (a skill with waiting conversations is swept every interval) stays.
    #[tokio::test]
    async fn idle_skill_actors_stop() {
        let host = ActorHost::start(1).unwrap();
        let platform = Platform::without_auth(
            Arc::new(MemoryBus::new()),
            Arc::new(MemoryStore::new()),
            Arc::new(ManualClock::new(0)),
            Topics::with_prefix("t."),
            "test",
        );
        let engine = Engine::new(platform, crate::RoutingRules::default(), Duration::from_secs(2));
        let registry = Registry::new(&host, engine).with_idle_timeout(Duration::from_millis(50));
        for skill in ["sales", "billing", "support"] {
            registry.assign_pass("acme", skill).await.unwrap();
        }
        assert_eq!(registry.len(), 3);
        registry.retain(|_, _| true);
        assert_eq!(registry.len(), 3, "worked just now");
        tokio::time::sleep(Duration::from_millis(80)).await;
        registry.assign_pass("acme", "support").await.unwrap();
        registry.assign_pass("acme", "billing").await.unwrap();
        registry.retain(|_, _| true);
        let mut kept: Vec<String> = registry.lock().keys().map(|(_, s)| s.clone()).collect();
        kept.sort();
        assert_eq!(kept, ["billing", "support"], "sales was idle past the timeout");
        registry.retain(|_, skill| skill != "support");
        assert_eq!(registry.len(), 1, "a skill this replica no longer owns stops at once");
        host.stop();
    }
}
