//! The sweep on the durable timers, with a controlled clock (R6.7: a pass every interval while
//! conversations wait; a lost assignment event is published again).

#![allow(clippy::unwrap_used)]

use switchyard_platform::store::prelude::*;
use switchyard_platform::store::{
    AgentSession, AgentState, Claim, ClaimOutcome, Placement, QueueReason, RouteStatus, ONE,
};
use switchyard_platform::Clock;
use switchyard_proto::events::v1::RouteConversation;

use super::*;
use crate::actors::ActorHost;
use crate::testing::*;

struct Swept {
    w: World,
    sweep: Sweep,
    ownership: watch::Sender<Ownership>,
    _host: ActorHost,
}

async fn swept() -> Swept {
    let w = world().await;
    let host = ActorHost::start(1).unwrap();
    let registry = Arc::new(Registry::new(&host, w.engine.clone()));
    let (ownership, owned) = watch::channel(Ownership::default());
    let sweep = Sweep::new(w.platform.clone(), w.engine.clone(), registry, owned, SWEEP_INTERVAL);
    Swept { w, sweep, ownership, _host: host }
}

impl Swept {
    fn own(&self, partitions: &[i32]) {
        let _ = self.ownership.send(Ownership { partitions: 4, owned: partitions.iter().copied().collect() });
    }

    fn partition_of(&self, skill: &str) -> i32 {
        partition_for(&keys::skill("acme", skill), 4)
    }

    /// Opens a conversation and has the router accept its route command, with no pass (as when
    /// the router died right after committing it).
    async fn accepted(&self, id: &str, skill: &str) {
        self.w.open(id, skill).await;
        let cmd = RouteConversation { conversation_id: id.into(), skill_id: skill.into(), ..Default::default() };
        self.w.engine.accept("acme", &cmd, id).await.unwrap();
    }

    async fn timer_of(&self, skill: &str) -> Option<i64> {
        let shard = format!("{FAMILY}.{}", self.partition_of(skill));
        self.w.store.earliest_timer(&shard).await.unwrap()
    }
}

#[tokio::test]
async fn a_conversation_whose_pass_never_ran_is_assigned_by_the_sweep_within_an_interval_r6_7() {
    let mut s = swept().await;
    s.own(&[0, 1, 2, 3]);
    s.w.agent("alice", &["sales"], 2, AgentState::Offline).await;
    s.accepted("c1", "sales").await;
    let due = s.w.clock.now_ms() + SWEEP_INTERVAL.as_millis() as i64;
    assert_eq!(s.timer_of("sales").await, Some(due), "the accepted command set the skill's timer");

    // Nobody is online: each sweep passes, the queue stays, the timer comes back.
    s.sweep.once().await; // looks up the newly owned partitions (due now)
    s.w.clock.advance(SWEEP_INTERVAL);
    assert_eq!(s.sweep.once().await, 1);
    assert!(s.w.assignments().await.is_empty());
    assert!(s.timer_of("sales").await.is_some(), "still waiting: swept again");

    // Alice comes online and no event says so (lost): the next sweep gives her c1.
    s.w.agent("alice", &["sales"], 2, AgentState::Online).await;
    assert_eq!(s.sweep.once().await, 0, "not due before the interval");
    s.w.clock.advance(SWEEP_INTERVAL);
    assert_eq!(s.sweep.once().await, 1);
    assert_eq!(s.w.assignments().await, vec![("c1".to_owned(), "alice".to_owned())]);
    assert_eq!(s.timer_of("sales").await, None, "nothing waits: no timer");
}

#[tokio::test]
async fn a_replica_sweeps_only_the_skills_of_the_partitions_it_owns() {
    let mut s = swept().await;
    let (mine, theirs) = ["sales", "support", "billing", "returns", "vip"]
        .iter()
        .map(|skill| (*skill, s.partition_of(skill)))
        .fold((None, None), |(m, t), (skill, p)| match (m, t) {
            (None, _) => (Some((skill, p)), t),
            (Some((_, mp)), None) if p != mp => (m, Some((skill, p))),
            _ => (m, t),
        });
    let ((mine, my_partition), (theirs, _)) = (mine.unwrap(), theirs.unwrap());
    s.w.agent("alice", &[mine, theirs], 5, AgentState::Online).await;
    s.accepted("c-mine", mine).await;
    s.accepted("c-theirs", theirs).await;
    s.own(&[my_partition]);
    s.w.clock.advance(SWEEP_INTERVAL);
    s.sweep.once().await;
    assert_eq!(s.w.assignments().await, vec![("c-mine".to_owned(), "alice".to_owned())]);
    assert_eq!(s.w.store.queue_depth("acme", theirs).await.unwrap(), 1, "another replica's skill");
}

/// The cost of a sweep follows the owned timers: a queue that has no timer (written before the
/// timers existed) is not found by reading every account at every sweep, but once, when its
/// partition is gained.
#[tokio::test]
async fn a_queue_without_a_timer_is_found_when_its_partition_is_gained_not_at_every_sweep() {
    let mut s = swept().await;
    s.own(&[0, 1, 2, 3]);
    s.sweep.once().await;
    s.w.agent("alice", &["sales"], 2, AgentState::Online).await;
    s.w.open("old", "sales").await;
    s.w.store
        .enqueue("acme", "old", "sales", s.w.clock.now_ms(), &Placement::by_due(s.w.clock.now_ms()))
        .await
        .unwrap();
    for _ in 0..3 {
        s.w.clock.advance(SWEEP_INTERVAL);
        assert_eq!(s.sweep.once().await, 0);
    }
    assert!(s.w.assignments().await.is_empty());

    // The partition moves away and comes back (a rebalance): looked up, then swept.
    let partition = s.partition_of("sales");
    s.own(&[(partition + 1) % 4]);
    s.sweep.once().await;
    s.own(&[0, 1, 2, 3]);
    s.sweep.once().await;
    assert_eq!(s.w.assignments().await, vec![("old".to_owned(), "alice".to_owned())]);
}

#[tokio::test]
async fn an_assignment_whose_event_was_lost_is_published_by_its_skills_sweep() {
    let mut s = swept().await;
    s.own(&[0, 1, 2, 3]);
    s.sweep.once().await;
    s.accepted("c1", "sales").await;
    s.w.agent("alice", &["sales"], 2, AgentState::Online).await;
    // A claim whose claimer died before publishing (the store call alone).
    let claim = Claim {
        account_id: "acme".into(),
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        agent_id: "alice".into(),
        weight: ONE,
        headroom: 0,
        max_open: 0,
        warmup: None,
        now_ms: s.w.clock.now_ms(),
        history_window_ms: 0,
    };
    assert!(matches!(s.w.store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { .. }));
    // Within the grace (3 intervals) it may still be published by its claimer: kept pending,
    // the timer comes back although the queue is empty.
    s.w.clock.advance(SWEEP_INTERVAL);
    assert_eq!(s.sweep.once().await, 1);
    assert!(s.w.assignments().await.is_empty());
    assert!(s.timer_of("sales").await.is_some());
    for _ in 0..3 {
        s.w.clock.advance(SWEEP_INTERVAL);
        s.sweep.once().await;
    }
    assert_eq!(s.w.assignments().await, vec![("c1".to_owned(), "alice".to_owned())]);
    assert_eq!(s.timer_of("sales").await, None);
}

/// A route command redelivered after a crash between its enqueue and its timer write sets
/// the timer then: the conversation is not left without a sweep.
#[tokio::test]
async fn a_redelivered_route_command_sets_a_timer_its_first_delivery_lost() {
    let s = swept().await;
    s.accepted("c1", "sales").await;
    let shard = format!("{FAMILY}.{}", s.partition_of("sales"));
    assert!(s.w.store.cancel_timer(&shard, &keys::skill("acme", "sales")).await.unwrap(), "the lost write");
    assert_eq!(s.timer_of("sales").await, None);
    let cmd = RouteConversation { conversation_id: "c1".into(), skill_id: "sales".into(), ..Default::default() };
    s.w.engine.accept("acme", &cmd, "c1").await.unwrap();
    assert!(s.timer_of("sales").await.is_some());
}

/// R12.2, R12.6: a conversation transferred to an agent waits for that agent alone (another
/// agent ONLINE with room does not get it); when the skill's maximum wait runs out on the
/// durable timer, any agent of the skill may take it.
#[tokio::test]
async fn a_transfer_to_an_agent_waits_for_it_and_times_out_to_the_skill_r12_6() {
    let mut s = swept().await;
    s.own(&[0, 1, 2, 3]);
    s.w.agent("alice", &["sales"], 2, AgentState::Online).await;
    s.w.conversation("c1", "sales").await;
    assert_eq!(s.w.assignments().await, vec![("c1".to_owned(), "alice".to_owned())]);
    // bob is AWAY (a manager's transfer may target him, R12.3); carol is ONLINE with room.
    s.w.agent("bob", &["sales"], 2, AgentState::Away).await;
    s.w.agent("carol", &["sales"], 2, AgentState::Online).await;
    let transfer = RouteConversation {
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        avoid_agent_id: "alice".into(),
        assignment_version: 1,
        reason: "transfer".into(),
        suggested_agent_id: "bob".into(),
        ..Default::default()
    };
    s.w.engine.route("acme", &transfer, "t1").await.unwrap();
    let route = s.w.store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.suggested_agent_id.as_str()), (RouteStatus::Queued, "bob"));
    assert_eq!(route.queue_reason, QueueReason::TransferToAgent);
    s.sweep.once().await;
    for _ in 0..3 {
        s.w.clock.advance(SWEEP_INTERVAL);
        s.sweep.once().await;
    }
    assert_eq!(s.w.assignments().await.len(), 1, "carol does not get bob's conversation");
    // Two hours (the default maximum wait) later: any agent of the skill.
    s.w.clock.advance(Duration::from_secs(2 * 3600));
    s.sweep.once().await;
    s.w.clock.advance(SWEEP_INTERVAL);
    s.sweep.once().await;
    let assignments = s.w.assignments().await;
    assert_eq!(assignments.last().unwrap(), &("c1".to_owned(), "carol".to_owned()));
    let route = s.w.store.route("acme", "c1").await.unwrap().unwrap();
    let last = route.skill_history.last().unwrap();
    assert_eq!((last.skill_id.as_str(), last.reason), ("sales", QueueReason::SuggestedAgentTimeout));
}

/// R6.5: an offer's expiry is a durable timer: unanswered, it rings out on the sweep and goes to
/// the next agent (the one it rang for is kept away for the cooldown).
#[tokio::test]
async fn an_offer_rings_out_on_the_durable_timer_r6_5() {
    let mut s = swept().await;
    s.own(&[0, 1, 2, 3]);
    let mut config = switchyard_routing::RoutingConfig::default();
    config.account.acd_mode = switchyard_routing::AcdMode::RingOne;
    assert_eq!(s.w.platform.routing.save("acme", 0, config).await.unwrap(), Some(1));
    s.w.agent("alice", &["sales"], 2, AgentState::Online).await;
    s.w.agent("bob", &["sales"], 2, AgentState::Online).await;
    s.w.conversation("c1", "sales").await;
    let route = s.w.store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.offer_agents.clone()), (RouteStatus::Offered, vec!["alice".to_owned()]));
    // 72 s (the default ring timeout) later nobody answered.
    s.sweep.once().await;
    s.w.clock.advance(Duration::from_secs(72));
    s.sweep.once().await;
    let route = s.w.store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.offer_agents.clone()), (RouteStatus::Offered, vec!["bob".to_owned()]));
    assert!(s.w.store.get_agent("acme", "alice").await.unwrap().unwrap().load.is_empty(), "reservation freed");
}

/// R8.17 (manual-SLA capacity reduction on, threshold 10 min): set at 10:00 for an hour and
/// returned to the queue, the conversation waits non-actionable, behind one that is, until
/// 10:50 on the durable timer; then it is actionable and served first.
#[tokio::test]
async fn a_far_manual_time_back_in_the_queue_becomes_actionable_at_the_threshold_before_it_r8_17() {
    let mut s = swept().await;
    s.own(&[0, 1, 2, 3]);
    let mut config = switchyard_routing::RoutingConfig::default();
    config.account.capacity.manual_sla_reduction.enabled = true;
    config.account.capacity.manual_sla_reduction.threshold_ms = 10 * 60_000;
    assert_eq!(s.w.platform.routing.save("acme", 0, config).await.unwrap(), Some(1));
    s.w.agent("alice", &["sales"], 1, AgentState::Online).await;
    s.w.conversation("c1", "sales").await;
    assert_eq!(s.w.assignments().await, vec![("c1".to_owned(), "alice".to_owned())]);
    let set_at = s.w.clock.now_ms();
    let change = switchyard_proto::events::v1::ResponseTimeChanged {
        conversation_id: "c1".into(),
        sla: "manual".into(),
        from_ms: set_at + 3_600_000,
        skill_id: "sales".into(),
    };
    s.w.engine.response_time_changed("acme", &change, set_at).await.unwrap();
    // 10:20: alice goes away and returns it to the queue; c2 waits there too.
    s.w.clock.advance(Duration::from_secs(20 * 60));
    let away = AgentSession { logged_in: true, state: AgentState::Away, away_reason: String::new() };
    s.w.store.set_agent_session("acme", "alice", &away, s.w.clock.now_ms()).await.unwrap();
    let back = RouteConversation {
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        avoid_agent_id: "alice".into(),
        assignment_version: 1,
        reason: "back_to_queue".into(),
        ..Default::default()
    };
    s.w.engine.route("acme", &back, "b1").await.unwrap();
    s.w.conversation("c2", "sales").await;
    let route = s.w.store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.actionable, route.sla.as_str()), (RouteStatus::Queued, false, "manual"));
    let heads = s.w.store.queue_head("acme", "sales", 2).await.unwrap();
    assert_eq!(heads[0].conversation_id, "c2", "the actionable one first");
    // 10:49:59: still waiting; 10:50: actionable, at the top.
    let left = set_at + 50 * 60_000 - 1000 - s.w.clock.now_ms();
    s.w.clock.advance(Duration::from_millis(left as u64));
    s.sweep.once().await;
    assert!(!s.w.store.route("acme", "c1").await.unwrap().unwrap().actionable);
    s.w.clock.advance(Duration::from_secs(1));
    s.sweep.once().await;
    assert!(s.w.store.route("acme", "c1").await.unwrap().unwrap().actionable);
    let heads = s.w.store.queue_head("acme", "sales", 2).await.unwrap();
    assert_eq!(heads[0].conversation_id, "c1", "due at 11:00, before c2's default hour");
}
