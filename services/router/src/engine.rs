//! The routing engine: queue a conversation, then give queued conversations to the best
//! eligible agents through the store's atomic claim (architecture §4). Skill actors call
//! [`Engine::route`] and [`Engine::assign_skill`]; the agents consumer calls
//! [`Engine::assign_agent`] when capacity reports an agent with room.

use std::sync::Arc;

use switchyard_kit::{config::keys, envelope, Platform, ServiceError};
use switchyard_platform::store::{
    Claim, ClaimOutcome, EnqueueOutcome, Milli, QueueEntry, RequeueOutcome, RouteStatus, ONE,
};
use switchyard_proto::events::v1::{envelope::Body, ConversationAssigned, ConversationUnassigned, RouteConversation};

use crate::ranking;
use crate::RoutingRules;

pub struct Engine {
    platform: Platform,
    rules: RoutingRules,
}

/// Bound on claims per pass, so one pass never holds a skill actor for long.
const MAX_CLAIMS_PER_PASS: usize = 256;

impl Engine {
    pub fn new(platform: Platform, rules: RoutingRules) -> Arc<Self> {
        Arc::new(Self { platform, rules })
    }

    fn weight(&self) -> Milli {
        (self.rules.active_weight * ONE as f64).round() as Milli
    }

    fn headroom(&self) -> Milli {
        (self.rules.headroom * ONE as f64).round() as Milli
    }

    /// Applies a routing command: queue (new conversation) or requeue from an agent (back
    /// to queue, transfer), then runs an assignment pass on the skill. Idempotent.
    pub async fn route(&self, account_id: &str, cmd: &RouteConversation, event_id: &str) -> Result<(), ServiceError> {
        self.accept(account_id, cmd, event_id).await?;
        self.assign_skill(account_id, &cmd.skill_id).await.map(|_| ())
    }

    /// The durable half of `route`: the conversation is queued (or requeued and announced).
    /// Once this returns the command may be committed; the assignment pass can follow
    /// separately (the skill actor coalesces passes, and the sweep covers a crash between).
    pub async fn accept(&self, account_id: &str, cmd: &RouteConversation, _event_id: &str) -> Result<(), ServiceError> {
        let store = &self.platform.store;
        if cmd.avoid_agent_id.is_empty() {
            match store.enqueue(account_id, &cmd.conversation_id, &cmd.skill_id, cmd.queued_at_ms).await? {
                EnqueueOutcome::Queued => {
                    metrics::counter!(crate::metrics::QUEUED, crate::metrics::SERVICE.0 => crate::metrics::SERVICE.1)
                        .increment(1)
                }
                EnqueueOutcome::Unchanged(RouteStatus::Assigned) => {
                    // Redelivered after the claim: make sure the assignment was announced.
                    if let Some(route) = store.route(account_id, &cmd.conversation_id).await? {
                        self.announce(
                            account_id,
                            &route.conversation_id,
                            &route.agent_id,
                            &route.skill_id,
                            route.version,
                        )
                        .await?;
                    }
                }
                // Queued or closed already (a redelivery), or closed before it was routed.
                EnqueueOutcome::Unchanged(_) | EnqueueOutcome::NotOpen => {}
            }
            return Ok(());
        }
        let now = self.platform.clock.now_ms();
        let (conversation, agent, version) = (&cmd.conversation_id, &cmd.avoid_agent_id, cmd.assignment_version);
        let outcome = store.requeue(account_id, conversation, agent, version, &cmd.skill_id, now).await?;
        match outcome {
            RequeueOutcome::Requeued => {
                let reason = if cmd.reason.is_empty() { "requeued" } else { cmd.reason.as_str() };
                metrics::counter!(crate::metrics::REQUEUED, crate::metrics::SERVICE.0 => crate::metrics::SERVICE.1, "reason" => reason.to_owned())
                    .increment(1);
            }
            // A redelivered command: the requeue happened, its announcement may not have (the
            // router may have died in between). Same event id, so it is applied once.
            RequeueOutcome::AlreadyRequeued => {}
            // Stale (another assignment since) or closed: nothing changed, nothing to tell.
            RequeueOutcome::NotAssigned | RequeueOutcome::Closed => return Ok(()),
        }
        let body = Body::ConversationUnassigned(ConversationUnassigned {
            conversation_id: conversation.clone(),
            agent_id: agent.clone(),
            reason: if cmd.reason.is_empty() { "requeued".into() } else { cmd.reason.clone() },
            skill_id: cmd.skill_id.clone(),
        });
        let id = format!("unassigned:{conversation}:{}", if version == 0 { cmd.queued_at_ms as u64 } else { version });
        let env = envelope::with_id(id, account_id, now, body);
        envelope::publish(
            &*self.platform.bus,
            &self.platform.topics.assignments,
            keys::conversation(account_id, conversation),
            &env,
        )
        .await?;
        Ok(())
    }

    /// Gives the skill's oldest queued conversations to the best eligible agents until the
    /// queue or the agents run out. Returns how many were assigned.
    pub async fn assign_skill(&self, account_id: &str, skill_id: &str) -> Result<usize, ServiceError> {
        let store = &self.platform.store;
        let (weight, headroom) = (self.weight(), self.headroom());
        let mut assigned = 0;
        while assigned < MAX_CLAIMS_PER_PASS {
            let heads = store.queue_head(account_id, skill_id, self.rules.batch).await?;
            if heads.is_empty() {
                break;
            }
            let agents = store.agents_with_skill(account_id, skill_id).await?;
            let mut pool = ranking::rank(agents, skill_id, weight, headroom, "");
            if pool.is_empty() {
                break;
            }
            let mut progress = false;
            let mut claimed = Vec::new();
            for entry in heads {
                if pool.is_empty() {
                    break;
                }
                // Candidate order for this entry, as indices into the pool (no record clones).
                let order = ranking::order(&pool, &entry.avoid_agent_id);
                let mut refused = Vec::new();
                for i in order {
                    let now = self.platform.clock.now_ms();
                    let candidate = pool[i].spec.agent_id.clone();
                    match self.claim(account_id, skill_id, &entry, &candidate, now).await? {
                        ClaimOutcome::Claimed { version } => {
                            assigned += 1;
                            progress = true;
                            claimed.push((entry.conversation_id.clone(), candidate, version));
                            pool[i].load.push((entry.conversation_id.clone(), weight));
                            pool[i].last_assigned_ms = now;
                            break;
                        }
                        ClaimOutcome::ConversationGone => break,
                        ClaimOutcome::AgentUnavailable | ClaimOutcome::AgentFull => {
                            metrics::counter!(crate::metrics::CLAIM_REFUSED, crate::metrics::SERVICE.0 => crate::metrics::SERVICE.1)
                                .increment(1);
                            refused.push(candidate);
                        }
                    }
                }
                pool.retain(|a| {
                    !refused.contains(&a.spec.agent_id) && ranking::eligible(a, skill_id, weight, headroom)
                });
            }
            self.announce_all(account_id, skill_id, claimed).await?;
            if !progress || pool.is_empty() {
                break;
            }
        }
        Ok(assigned)
    }

    /// Capacity says the agent has room: give it the longest-waiting conversations of its
    /// skills (chatwoot#10583: a freed slot drains the backlog, oldest first).
    pub async fn assign_agent(&self, account_id: &str, agent_id: &str) -> Result<usize, ServiceError> {
        let store = &self.platform.store;
        let (weight, headroom) = (self.weight(), self.headroom());
        let mut assigned = 0;
        while assigned < MAX_CLAIMS_PER_PASS {
            let Some(agent) = store.get_agent(account_id, agent_id).await? else { break };
            let mut skills = agent.spec.skill_ids.clone();
            skills.retain(|s| s != ranking::UNASSIGNED_SKILL);
            skills.push(ranking::UNASSIGNED_SKILL.to_owned());
            let mut heads: Vec<(QueueEntry, String)> = Vec::new();
            for skill in &skills {
                if !ranking::eligible(&agent, skill, weight, headroom) {
                    continue;
                }
                for entry in store.queue_head(account_id, skill, self.rules.batch).await? {
                    // R6.4: a conversation this agent returned waits for someone else; the
                    // skill pass still gives it back if nobody else can take it.
                    if entry.avoid_agent_id != agent_id {
                        heads.push((entry, skill.clone()));
                    }
                }
            }
            if heads.is_empty() {
                break;
            }
            heads.sort_by(|(a, _), (b, _)| {
                (a.queued_at_ms, &a.conversation_id).cmp(&(b.queued_at_ms, &b.conversation_id))
            });
            let mut progress = false;
            for (entry, skill) in heads {
                let now = self.platform.clock.now_ms();
                match self.claim(account_id, &skill, &entry, agent_id, now).await? {
                    ClaimOutcome::Claimed { version } => {
                        self.announce(account_id, &entry.conversation_id, agent_id, &skill, version).await?;
                        assigned += 1;
                        progress = true;
                        break;
                    }
                    ClaimOutcome::ConversationGone => continue,
                    ClaimOutcome::AgentUnavailable | ClaimOutcome::AgentFull => return Ok(assigned),
                }
            }
            if !progress {
                break;
            }
        }
        Ok(assigned)
    }

    /// Publishes assignments claimed more than `grace` ago whose event was never confirmed
    /// (the claiming process died in between), for conversations whose skill `owns` says is
    /// this replica's. Returns how many were published.
    pub async fn reannounce(
        &self,
        grace: std::time::Duration,
        owns: impl Fn(&str, &str) -> bool,
    ) -> Result<usize, ServiceError> {
        let cutoff = self.platform.clock.now_ms() - grace.as_millis() as i64;
        let mut published = 0;
        for (account, route) in self.platform.store.unannounced(cutoff, 1000).await? {
            if owns(&account, &route.skill_id) {
                tracing::info!(account_id = %account, conversation_id = %route.conversation_id, agent_id = %route.agent_id, "announcing an assignment left unannounced");
                self.announce(&account, &route.conversation_id, &route.agent_id, &route.skill_id, route.version)
                    .await?;
                published += 1;
            }
        }
        Ok(published)
    }

    async fn claim(
        &self,
        account_id: &str,
        skill_id: &str,
        entry: &QueueEntry,
        agent_id: &str,
        now: i64,
    ) -> Result<ClaimOutcome, ServiceError> {
        let claim = Claim {
            account_id: account_id.to_owned(),
            conversation_id: entry.conversation_id.clone(),
            skill_id: skill_id.to_owned(),
            agent_id: agent_id.to_owned(),
            weight: self.weight(),
            headroom: self.headroom(),
            now_ms: now,
        };
        let outcome = self.platform.store.claim(&claim).await?;
        if let ClaimOutcome::Claimed { version } = outcome {
            let service = crate::metrics::SERVICE;
            metrics::counter!(crate::metrics::ASSIGNED, service.0 => service.1).increment(1);
            metrics::histogram!(crate::metrics::QUEUE_WAIT, service.0 => service.1)
                .record((now - entry.queued_at_ms).max(0) as f64 / 1000.0);
            tracing::debug!(account_id, conversation_id = %entry.conversation_id, agent_id, skill_id, version, "assigned");
        }
        Ok(outcome)
    }

    /// Publishes a batch of fresh claims at once: the broker round trips overlap instead of
    /// adding up (on Kafka each one waits for the produce acknowledgement). Each claim stays
    /// pending in the store until its own event is acknowledged.
    async fn announce_all(
        &self,
        account_id: &str,
        skill_id: &str,
        claims: Vec<(String, String, u64)>,
    ) -> Result<(), ServiceError> {
        futures::future::try_join_all(
            claims.iter().map(|(conversation, agent, version)| {
                self.announce(account_id, conversation, agent, skill_id, *version)
            }),
        )
        .await
        .map(|_| ())
    }

    /// Publishes the assignment. The event id is derived from the assignment version, so a
    /// repeat is recognised as the same event downstream.
    async fn announce(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        skill_id: &str,
        version: u64,
    ) -> Result<(), ServiceError> {
        let body = Body::ConversationAssigned(ConversationAssigned {
            conversation_id: conversation_id.to_owned(),
            agent_id: agent_id.to_owned(),
            skill_id: skill_id.to_owned(),
            assignment_version: version,
        });
        let env = envelope::with_id(
            format!("assigned:{conversation_id}:{version}"),
            account_id,
            self.platform.clock.now_ms(),
            body,
        );
        let key = keys::conversation(account_id, conversation_id);
        let mut delay = std::time::Duration::from_millis(50);
        // The claim is already durable: keep trying so the agent hears of it. If this process
        // dies first, the claim stays pending and `reannounce` publishes it later.
        for attempt in 0..8 {
            match envelope::publish(&*self.platform.bus, &self.platform.topics.assignments, key.clone(), &env).await {
                Ok(()) => {
                    self.platform.store.announced(account_id, conversation_id, version).await?;
                    return Ok(());
                }
                Err(err) if attempt < 7 => {
                    tracing::warn!(conversation_id, error = %err, "publishing assignment failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message as _;
    use switchyard_kit::Topics;
    use switchyard_platform::bus::{EventBus, MemoryBus, StartFrom};
    use switchyard_platform::store::prelude::*;
    use switchyard_platform::store::{AgentSession, AgentSpec, AgentState, MemoryStore, NewConversation};
    use switchyard_platform::{Clock, ManualClock};
    use switchyard_proto::events::v1::Envelope;

    use super::*;

    struct World {
        engine: Arc<Engine>,
        store: Arc<MemoryStore>,
        bus: Arc<MemoryBus>,
        clock: ManualClock,
        topics: Topics,
    }

    /// A fresh consumer group name per read, so every read sees everything.
    fn next_group_number() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    async fn world() -> World {
        let store = Arc::new(MemoryStore::new());
        let bus = Arc::new(MemoryBus::new());
        let clock = ManualClock::new(1_700_000_000_000);
        let topics = Topics::with_prefix("t.");
        bus.ensure_topics(&topics.all(), 4).await.unwrap();
        let platform = Platform {
            bus: bus.clone(),
            store: store.clone(),
            clock: Arc::new(clock.clone()),
            topics: topics.clone(),
            instance_id: "test".into(),
        };
        World { engine: Engine::new(platform, RoutingRules::default()), store, bus, clock, topics }
    }

    impl World {
        async fn agent(&self, id: &str, skills: &[&str], max: u32, state: AgentState) {
            let spec = AgentSpec {
                agent_id: id.into(),
                skill_ids: skills.iter().map(|s| s.to_string()).collect(),
                max_conversations: max,
                bot: false,
            };
            self.store.create_agent("acme", &spec).await.unwrap();
            let session = AgentSession { logged_in: true, state, away_reason: String::new() };
            self.store.set_agent_session("acme", id, &session, self.clock.now_ms()).await.unwrap();
        }

        /// Opens a conversation and routes it, `waited` before now.
        async fn conversation(&self, id: &str, skill: &str) {
            let now = self.clock.now_ms();
            let new = NewConversation {
                conversation_id: id.into(),
                consumer_id: format!("consumer-{id}"),
                channel: 1,
                skill_id: skill.into(),
                language: String::new(),
                partner_message_id: String::new(),
                opened_at_ms: now,
            };
            self.store.open_conversation("acme", &new).await.unwrap();
            let cmd = RouteConversation {
                conversation_id: id.into(),
                skill_id: skill.into(),
                queued_at_ms: now,
                avoid_agent_id: String::new(),
                ..Default::default()
            };
            self.engine.route("acme", &cmd, &format!("route:{id}")).await.unwrap();
            self.clock.advance(Duration::from_secs(1));
        }

        /// (conversation, agent) of every assignment event published so far.
        async fn assignments(&self) -> Vec<(String, String)> {
            self.published(|body| match body {
                Body::ConversationAssigned(a) => Some((a.conversation_id, a.agent_id)),
                _ => None,
            })
            .await
        }

        /// (conversation, agent) of every unassignment event published so far.
        async fn unassignments(&self) -> Vec<(String, String)> {
            self.published(|body| match body {
                Body::ConversationUnassigned(u) => Some((u.conversation_id, u.agent_id)),
                _ => None,
            })
            .await
        }

        /// What `pick` takes from every event on the assignments topic so far.
        async fn published(&self, pick: impl Fn(Body) -> Option<(String, String)>) -> Vec<(String, String)> {
            let group = format!("g{}", next_group_number());
            let mut sub = self
                .bus
                .subscribe(&group, std::slice::from_ref(&self.topics.assignments), StartFrom::Earliest)
                .await
                .unwrap();
            let mut out = Vec::new();
            while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                if let Some(picked) = Envelope::decode(d.payload.as_ref()).unwrap().body.and_then(&pick) {
                    out.push(picked);
                }
            }
            out
        }
    }

    #[tokio::test]
    async fn conversations_wait_until_an_agent_is_online_then_go_oldest_first() {
        let w = world().await;
        w.agent("away", &["sales"], 2, AgentState::Away).await;
        w.conversation("c1", "sales").await;
        w.conversation("c2", "sales").await;
        assert!(w.assignments().await.is_empty(), "R7.1: nobody ONLINE, nothing assigned");
        assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 2);

        w.agent("alice", &["sales"], 1, AgentState::Online).await;
        assert_eq!(w.engine.assign_skill("acme", "sales").await.unwrap(), 1);
        assert_eq!(w.assignments().await, vec![("c1".to_owned(), "alice".to_owned())]);
    }

    #[tokio::test]
    async fn a_freed_agent_gets_the_longest_waiting_conversation_of_its_skills() {
        let w = world().await;
        w.agent("bob", &["sales", "support"], 1, AgentState::Online).await;
        w.conversation("first", "sales").await; // assigned to bob at once
        w.conversation("older-support", "support").await; // waits: bob is full
        w.conversation("newer-sales", "sales").await;
        assert_eq!(w.assignments().await.len(), 1);
        w.store.release("acme", "first", w.clock.now_ms()).await.unwrap();
        // Invariant 5 / chatwoot#10583: the oldest across the agent's skills, at once.
        assert_eq!(w.engine.assign_agent("acme", "bob").await.unwrap(), 1);
        assert_eq!(w.assignments().await.last().unwrap(), &("older-support".to_owned(), "bob".to_owned()));
        assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 1);
    }

    /// The skill actor commits a route command after `accept` and assigns in a later,
    /// coalesced pass: the accepted conversation is durably queued in between (a crash there
    /// leaves it for the sweep), and one pass then assigns everything accepted, oldest first.
    #[tokio::test]
    async fn accepted_routes_wait_queued_for_one_pass_that_assigns_them_all() {
        let w = world().await;
        for (i, id) in ["c1", "c2", "c3"].iter().enumerate() {
            let new = NewConversation {
                conversation_id: (*id).into(),
                consumer_id: format!("consumer-{id}"),
                channel: 1,
                skill_id: "sales".into(),
                language: String::new(),
                partner_message_id: String::new(),
                opened_at_ms: i as i64,
            };
            w.store.open_conversation("acme", &new).await.unwrap();
            let cmd = RouteConversation {
                conversation_id: (*id).into(),
                skill_id: "sales".into(),
                queued_at_ms: i as i64,
                avoid_agent_id: String::new(),
                ..Default::default()
            };
            w.engine.accept("acme", &cmd, &format!("route:{id}")).await.unwrap();
        }
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.agent("b", &["sales"], 2, AgentState::Online).await;
        assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 3, "accepted, not yet assigned");
        assert!(w.assignments().await.is_empty());
        assert_eq!(w.engine.assign_skill("acme", "sales").await.unwrap(), 3);
        // Announced concurrently, so the events may come in any order.
        let mut got: Vec<String> = w.assignments().await.into_iter().map(|(c, _)| c).collect();
        got.sort();
        assert_eq!(got, ["c1", "c2", "c3"]);
        assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 0);
        // Every claim of the pass was announced (none left pending for the sweep).
        assert!(w.store.unannounced(i64::MAX, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn capacity_is_never_exceeded_and_each_conversation_goes_once() {
        let w = world().await;
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.agent("b", &["sales"], 1, AgentState::Online).await;
        for i in 0..6 {
            w.conversation(&format!("c{i}"), "sales").await;
        }
        for _ in 0..3 {
            w.engine.assign_skill("acme", "sales").await.unwrap();
            w.engine.assign_agent("acme", "a").await.unwrap();
        }
        let got = w.assignments().await;
        assert_eq!(got.len(), 3, "total capacity is 3: {got:?}");
        let unique: std::collections::HashSet<_> = got.iter().map(|(c, _)| c).collect();
        assert_eq!(unique.len(), 3);
        assert_eq!(got.iter().filter(|(_, a)| a == "a").count(), 2);
        assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_redelivered_route_command_changes_nothing_but_reannounces() {
        let w = world().await;
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.conversation("c1", "sales").await;
        let cmd = RouteConversation {
            conversation_id: "c1".into(),
            skill_id: "sales".into(),
            queued_at_ms: 0,
            avoid_agent_id: String::new(),
            ..Default::default()
        };
        w.engine.route("acme", &cmd, "route:c1").await.unwrap();
        let got = w.assignments().await;
        // Two events with the same id (assigned:c1:1): consumers dedupe; the state has one.
        assert_eq!(got, vec![("c1".to_owned(), "a".to_owned()), ("c1".to_owned(), "a".to_owned())]);
        assert_eq!(w.store.get_agent("acme", "a").await.unwrap().unwrap().load.len(), 1);
        assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_claim_whose_event_was_lost_is_announced_by_the_sweep() {
        let w = world().await;
        w.conversation("c1", "sales").await; // queued: nobody online yet
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        // A router claims and dies before publishing (the store call alone).
        let claim = Claim {
            account_id: "acme".into(),
            conversation_id: "c1".into(),
            skill_id: "sales".into(),
            agent_id: "a".into(),
            weight: ONE,
            headroom: 500,
            now_ms: w.clock.now_ms(),
        };
        assert_eq!(w.store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
        assert!(w.assignments().await.is_empty());
        let all = |_: &str, _: &str| true;
        // Not yet past the grace period: the claimer may still be publishing.
        assert_eq!(w.engine.reannounce(Duration::from_secs(6), all).await.unwrap(), 0);
        w.clock.advance(Duration::from_secs(7));
        assert_eq!(w.engine.reannounce(Duration::from_secs(6), all).await.unwrap(), 1);
        assert_eq!(w.assignments().await, vec![("c1".to_owned(), "a".to_owned())]);
        // Confirmed: not published again.
        assert_eq!(w.engine.reannounce(Duration::from_secs(6), all).await.unwrap(), 0);
    }

    fn back_to_queue(w: &World, agent: &str, version: u64) -> RouteConversation {
        RouteConversation {
            conversation_id: "c1".into(),
            skill_id: "sales".into(),
            queued_at_ms: w.clock.now_ms(),
            avoid_agent_id: agent.into(),
            assignment_version: version,
            reason: "back_to_queue".into(),
        }
    }

    #[tokio::test]
    async fn a_requeue_whose_event_was_lost_is_announced_on_redelivery() {
        let w = world().await;
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.conversation("c1", "sales").await;
        // A router requeued and died before publishing; the command comes again.
        w.store.requeue("acme", "c1", "a", 1, "sales", w.clock.now_ms()).await.unwrap();
        w.engine.route("acme", &back_to_queue(&w, "a", 1), "b2q-1").await.unwrap();
        assert_eq!(w.unassignments().await, vec![("c1".to_owned(), "a".to_owned())]);
    }

    /// Finding: a redelivered back-to-queue requeued the conversation a second time, taking it
    /// from the agent it had gone to since.
    #[tokio::test]
    async fn a_redelivered_back_to_queue_requeues_once() {
        let w = world().await;
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.conversation("c1", "sales").await;
        let cmd = back_to_queue(&w, "a", 1);
        w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
        // Nobody else can take it: R6.4 gives it back to `a` (assignment 2).
        let route = w.store.route("acme", "c1").await.unwrap().unwrap();
        assert_eq!((route.status, route.agent_id.as_str(), route.version), (RouteStatus::Assigned, "a", 2));
        w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
        let route = w.store.route("acme", "c1").await.unwrap().unwrap();
        assert_eq!((route.status, route.version), (RouteStatus::Assigned, 2), "assignment 2 stays");
        assert_eq!(w.store.get_agent("acme", "a").await.unwrap().unwrap().load.len(), 1);
        // The repeat re-announced the same unassignment (same event id), nothing more.
        assert_eq!(w.unassignments().await.len(), 2);
    }

    /// Finding: a redelivered back-to-queue sent "unassigned" after "closed".
    #[tokio::test]
    async fn a_back_to_queue_redelivered_after_the_close_announces_nothing() {
        let w = world().await;
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.conversation("c1", "sales").await;
        let cmd = back_to_queue(&w, "a", 1);
        w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
        w.store.close_conversation("acme", "c1", w.clock.now_ms(), None).await.unwrap();
        w.store.release("acme", "c1", w.clock.now_ms()).await.unwrap();
        let before = w.unassignments().await.len();
        w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
        assert_eq!(w.unassignments().await.len(), before);
    }

    #[tokio::test]
    async fn back_to_queue_goes_to_another_agent_when_one_is_free() {
        let w = world().await;
        w.agent("a", &["sales"], 2, AgentState::Online).await;
        w.conversation("c1", "sales").await;
        w.agent("b", &["sales"], 2, AgentState::Online).await;
        let cmd = RouteConversation {
            conversation_id: "c1".into(),
            skill_id: "sales".into(),
            queued_at_ms: w.clock.now_ms(),
            avoid_agent_id: "a".into(),
            ..Default::default()
        };
        w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
        // R6.4: a is less loaded now, but b is tried first.
        assert_eq!(w.assignments().await.last().unwrap(), &("c1".to_owned(), "b".to_owned()));
    }
}
