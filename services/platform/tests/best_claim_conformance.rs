//! Conformance of the assignment decision (`RoutingStore::claim_best`): the agent index it walks
//! follows every session, skill, max and load change (R6.1), its order is the rank of R6.2/R6.3,
//! the returning agent goes last (R6.4), the unassigned skill is any agent's (R4.4), and it is
//! atomic under concurrent callers; in memory, on one Redis and on a Redis Cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    best_claim_follows_the_rank_r6_3,
    best_claim_index_follows_sessions_skills_and_max_r6_1,
    best_claim_passes_over_the_returning_agent_r6_4,
    best_claim_reports_who_was_passed_and_why,
    best_claim_on_the_unassigned_skill_takes_any_agent_r4_4,
    best_claim_is_atomic_under_concurrency,
    best_claim_via_another_skill_moves_it_only_when_an_agent_there_takes_it_r5_4,
    skill_presence_counts_holders_connected_and_online_r5_5,
    best_claim_keeps_to_the_groups_and_cascades_r8_20,
    best_claim_prefers_the_consumers_last_agent_within_the_window_r6_2,
    a_transfer_to_an_agent_is_for_that_agent_until_dropped_r12_2,
);

/// R12.2, R12.6: a conversation transferred to an agent goes only to that agent (when ONLINE
/// with room), by the decision and by the single-agent claim; once the suggestion is dropped,
/// to any agent of the skill.
async fn a_transfer_to_an_agent_is_for_that_agent_until_dropped_r12_2(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    online_agent(&store, &a, "bob", &[SKILL], 1).await;
    queued_conversation(&store, &a, "c1", 1).await;
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 10)).await, "ann");
    let transfer = Requeue { suggested_agent: "bob".into(), ..back_to_queue(&a, "c1", "ann", 1, SKILL, 20) };
    assert_eq!(store.requeue(&transfer).await.unwrap(), RequeueOutcome::Requeued);
    assert_eq!(store.queue_head(&a, SKILL, 10).await.unwrap()[0].suggested_agent_id, "bob");
    // bob is full: nobody else gets it, and the decision says why.
    queued_conversation(&store, &a, "other", 2).await;
    assert!(matches!(store.claim(&claim_of(&a, "other", "bob", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    let outcome = store.claim_best(&best(&a, "c1", SKILL, 30)).await.unwrap();
    assert_eq!(outcome, BestOutcome::NoAgent { passed: vec![("bob".into(), PassReason::Full)] });
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 500)).await.unwrap(), ClaimOutcome::AgentUnavailable);
    // bob frees up: he gets it.
    store.close_conversation(&a, "other", 40, None).await.unwrap();
    store.release(&a, "other", 40).await.unwrap();
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 50)).await, "bob");
    assert_eq!(store.drop_suggested_agent(&a, "c1", 60).await.unwrap(), None, "taken: nothing to drop");
    // Again, and this time the suggestion runs out (R12.6): any agent of the skill.
    let version = store.route(&a, "c1").await.unwrap().unwrap().version;
    let again = Requeue { suggested_agent: "bob".into(), ..back_to_queue(&a, "c1", "bob", version, SKILL, 70) };
    store.requeue(&again).await.unwrap();
    let away = AgentSession { state: AgentState::Away, ..online() };
    store.set_agent_session(&a, "bob", &away, 75).await.unwrap();
    let outcome = store.claim_best(&best(&a, "c1", SKILL, 80)).await.unwrap();
    assert_eq!(outcome, BestOutcome::NoAgent { passed: vec![("bob".into(), PassReason::Unavailable)] });
    assert_eq!(store.drop_suggested_agent(&a, "c1", 90).await.unwrap(), Some(SKILL.to_owned()));
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.suggested_agent_id.as_str(), route.queue_reason), ("", QueueReason::SuggestedAgentTimeout));
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 100)).await, "ann");
}

/// R6.2 (3): the agent who last served the consumer gets its next conversation when eligible
/// and within the window, ahead of better-ranked agents; otherwise the rank decides.
async fn best_claim_prefers_the_consumers_last_agent_within_the_window_r6_2(store: Store) {
    let a = unique("acct");
    const HOUR: i64 = 3_600_000;
    online_agent(&store, &a, "ann", &[SKILL], 3).await;
    online_agent(&store, &a, "bob", &[SKILL], 3).await;
    let conversation = |id: &str, consumer: &str| {
        let (store, a, id, consumer) = (store.clone(), a.clone(), id.to_owned(), consumer.to_owned());
        async move {
            created(store.open_conversation(&a, &new_conversation(&id, &consumer, "")).await.unwrap());
            assert_eq!(store.enqueue(&a, &id, SKILL, 1, &Placement::by_due(1)).await.unwrap(), EnqueueOutcome::Queued);
        }
    };
    let remembering =
        |c: &str, now: i64, window: i64| BestClaim { history_window_ms: window, ..best(&a, c, SKILL, now) };
    conversation("c1", "kim").await;
    assert_eq!(claimed_by(&store, &remembering("c1", 1_000, HOUR)).await, "ann", "idle, id order");
    store.close_conversation(&a, "c1", 2_000, None).await.unwrap();
    store.release(&a, "c1", 2_000).await.unwrap();
    // ann gets busier than bob: by rank bob is next.
    conversation("other", "lee").await;
    assert!(matches!(
        store.claim(&claim_of(&a, "other", "ann", ONE, 500)).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));
    conversation("c2", "kim").await;
    assert_eq!(claimed_by(&store, &remembering("c2", 4_000, HOUR)).await, "ann", "kim's last agent");
    let (log, _) = store.routing_log(&a, "c2").await.unwrap();
    assert_eq!(log.last().unwrap().reason, "consumer_history");
    store.close_conversation(&a, "c2", 5_000, None).await.unwrap();
    store.release(&a, "c2", 5_000).await.unwrap();
    // Off (window 0), or past the window: the rank decides.
    conversation("c3", "kim").await;
    assert_eq!(claimed_by(&store, &remembering("c3", 6_000, 0)).await, "bob");
    store.close_conversation(&a, "c3", 7_000, None).await.unwrap();
    store.release(&a, "c3", 7_000).await.unwrap();
    conversation("c4", "kim").await;
    // bob served kim last at 6 s (without remembering: window 0), so ann is still remembered
    // from 4 s; an hour later she is not.
    assert_eq!(claimed_by(&store, &remembering("c4", 4_000 + HOUR + 1, HOUR)).await, "bob");
    // Not ONLINE: never preferred (peer lessons 10, 11). bob served kim last (c4).
    let later = 4_000 + HOUR + 2;
    store.close_conversation(&a, "c4", later, None).await.unwrap();
    store.release(&a, "c4", later).await.unwrap();
    let away = AgentSession { state: AgentState::Away, ..online() };
    store.set_agent_session(&a, "bob", &away, later).await.unwrap();
    conversation("c5", "kim").await;
    assert_eq!(claimed_by(&store, &remembering("c5", later, HOUR)).await, "ann", "kim's last agent bob is away");
}

/// R8.20, R6.8: only agents of the conversation's groups are candidates; the allocated group
/// first, a cascade group only when no agent of the allocated one can take it.
async fn best_claim_keeps_to_the_groups_and_cascades_r8_20(store: Store) {
    let a = unique("acct");
    let grouped = |id: &str, group: &str| AgentSpec { group_id: group.into(), ..spec(id, &[SKILL], 1) };
    for (id, group) in [("east-1", "east"), ("west-1", "west"), ("loner", "")] {
        assert!(store.create_agent(&a, &grouped(id, group)).await.unwrap());
        store.set_agent_session(&a, id, &online(), 10).await.unwrap();
    }
    assert_eq!(store.get_agent(&a, "east-1").await.unwrap().unwrap().spec.group_id, "east");
    let mut allocated = Placement::by_due(1);
    allocated.agent_group = "west".into();
    for c in ["c1", "c2", "c3"] {
        open(&store, &a, c).await;
        assert_eq!(store.enqueue(&a, c, SKILL, 1, &allocated).await.unwrap(), EnqueueOutcome::Queued);
    }
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert!(head.iter().all(|e| e.agent_group == "west"), "{head:?}");
    let in_groups = |c: &str, groups: &[&str]| BestClaim {
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..best(&a, c, SKILL, 100)
    };
    // west-1 first although east-1 ranks ahead by id; the group-less agent is never a candidate.
    assert_eq!(claimed_by(&store, &in_groups("c1", &["west", "east"])).await, "west-1");
    // west is full (max 1): the cascade group takes it.
    assert_eq!(claimed_by(&store, &in_groups("c2", &["west", "east"])).await, "east-1");
    let outcome = store.claim_best(&in_groups("c3", &["west", "east"])).await.unwrap();
    let BestOutcome::NoAgent { mut passed } = outcome else { panic!("{outcome:?}") };
    passed.sort();
    assert_eq!(
        passed,
        [
            ("east-1".into(), PassReason::Full),
            ("loner".into(), PassReason::OtherGroup),
            ("west-1".into(), PassReason::Full)
        ]
    );
    // Without groups any agent may take it.
    assert_eq!(claimed_by(&store, &best(&a, "c3", SKILL, 200)).await, "loner");
}

/// R5.4, R5.7: a conversation queued on one skill goes to an agent of the fallback skill and
/// moves there with the change recorded; with nobody there able to take it nothing changes.
async fn best_claim_via_another_skill_moves_it_only_when_an_agent_there_takes_it_r5_4(store: Store) {
    let a = unique("acct");
    queued_conversation(&store, &a, "c1", 1).await;
    let via =
        |to: &str| BestClaim { via_skill: to.into(), via_reason: QueueReason::Fallback, ..best(&a, "c1", SKILL, 500) };
    assert_eq!(store.claim_best(&via("sales")).await.unwrap(), BestOutcome::NoAgent { passed: vec![] });
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.skill_id.as_str()), (RouteStatus::Queued, SKILL), "nothing changed");
    online_agent(&store, &a, "sam", &["sales"], 1).await;
    assert_eq!(claimed_by(&store, &via("sales")).await, "sam");
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!(
        (route.status, route.skill_id.as_str(), route.agent_id.as_str()),
        (RouteStatus::Assigned, "sales", "sam")
    );
    let last = route.skill_history.last().unwrap();
    assert_eq!((last.skill_id.as_str(), last.reason, last.at_ms), ("sales", QueueReason::Fallback, 500));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0, "left its old queue");
    // Released from the skill it moved to.
    store.close_conversation(&a, "c1", 600, None).await.unwrap();
    let released = store.release(&a, "c1", 600).await.unwrap();
    assert_eq!(released, ReleaseOutcome::FreedAgent { agent_id: "sam".into(), skill_id: "sales".into() });
}

/// R4.5, R5.5: holders, logged in and ONLINE per skill follow logins, states and skill changes.
async fn skill_presence_counts_holders_connected_and_online_r5_5(store: Store) {
    let a = unique("acct");
    let presence = |skill: &'static str| {
        let (store, a) = (store.clone(), a.clone());
        async move {
            let p = store.skill_presence(&a, skill).await.unwrap();
            (p.holders, p.connected, p.online)
        }
    };
    assert_eq!(presence(SKILL).await, (0, 0, 0));
    assert!(store.create_agent(&a, &spec("ann", &[SKILL], 2)).await.unwrap());
    assert!(store.create_agent(&a, &spec("bob", &[SKILL, "sales"], 2)).await.unwrap());
    assert_eq!(presence(SKILL).await, (2, 0, 0), "never logged in");
    store.set_agent_session(&a, "ann", &online(), 10).await.unwrap();
    let away = AgentSession { state: AgentState::Away, ..online() };
    store.set_agent_session(&a, "bob", &away, 10).await.unwrap();
    assert_eq!(presence(SKILL).await, (2, 2, 1));
    assert_eq!(presence("sales").await, (1, 1, 0), "bob is away");
    assert_eq!(presence("-1").await, (2, 2, 1), "the unassigned skill: every logged-in agent");
    store.set_agent_session(&a, "ann", &AgentSession { logged_in: false, ..online() }, 20).await.unwrap();
    assert_eq!(presence(SKILL).await, (2, 1, 0));
    // bob loses the skill.
    assert!(store.update_agent(&a, &spec("bob", &["sales"], 2)).await.unwrap());
    assert_eq!(presence(SKILL).await, (1, 0, 0));
    assert_eq!(presence("sales").await, (1, 1, 0));
}

fn best(account: &str, conversation: &str, skill: &str, now_ms: i64) -> BestClaim {
    BestClaim {
        account_id: account.into(),
        conversation_id: conversation.into(),
        skill_id: skill.into(),
        weight: ONE,
        headroom: 500,
        max_open: 0,
        warmup: None,
        now_ms,
        scan: 64,
        via_skill: String::new(),
        via_reason: QueueReason::New,
        groups: Vec::new(),
        history_window_ms: 0,
        offer: None,
    }
}

async fn claimed_by(store: &Store, claim: &BestClaim) -> String {
    match store.claim_best(claim).await.unwrap() {
        BestOutcome::Claimed { agent_id, .. } => agent_id,
        other => panic!("{} not claimed: {other:?}", claim.conversation_id),
    }
}

/// R6.2/R6.3: lowest load ratio first, then the longest since the last assignment, then id.
async fn best_claim_follows_the_rank_r6_3(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "small", &[SKILL], 1).await;
    online_agent(&store, &a, "big", &[SKILL], 4).await;
    for i in 1..=5 {
        queued_conversation(&store, &a, &format!("c{i}"), i).await;
    }
    // Both idle at 0 % and never assigned: id order.
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 1_000)).await, "big");
    // big 25 %, small 0 %.
    assert_eq!(claimed_by(&store, &best(&a, "c2", SKILL, 2_000)).await, "small");
    // small 100 % (full at max 1 + 0.5), big 25 %.
    assert_eq!(claimed_by(&store, &best(&a, "c3", SKILL, 3_000)).await, "big");
    assert_eq!(claimed_by(&store, &best(&a, "c4", SKILL, 4_000)).await, "big");
    // Closing c2 frees small (0 %): the release re-ranks it ahead of big (75 %).
    store.close_conversation(&a, "c2", 4_500, None).await.unwrap();
    store.release(&a, "c2", 4_500).await.unwrap();
    assert_eq!(claimed_by(&store, &best(&a, "c5", SKILL, 5_000)).await, "small");

    // Equal ratios: the one idle longest first, whatever the id.
    let b = unique("acct");
    online_agent(&store, &b, "x", &[SKILL], 2).await;
    online_agent(&store, &b, "y", &[SKILL], 2).await;
    for i in 1..=4 {
        queued_conversation(&store, &b, &format!("d{i}"), i).await;
    }
    assert_eq!(claimed_by(&store, &best(&b, "d1", SKILL, 10_000)).await, "x");
    assert_eq!(claimed_by(&store, &best(&b, "d2", SKILL, 20_000)).await, "y");
    // Both at 50 %: x was assigned at 10 s, y at 20 s.
    assert_eq!(claimed_by(&store, &best(&b, "d3", SKILL, 30_000)).await, "x");
}

/// R6.1: only logged-in ONLINE holders of the skill with room; the index follows every change.
async fn best_claim_index_follows_sessions_skills_and_max_r6_1(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 1).await;
    queued_conversation(&store, &a, "c1", 1).await;
    let away = AgentSession { logged_in: true, state: AgentState::Away, away_reason: "lunch".into() };
    let no_agent = BestOutcome::NoAgent { passed: vec![] };
    for session in [
        away,
        AgentSession { state: AgentState::BackSoon, ..online() },
        AgentSession { state: AgentState::Offline, ..online() },
        AgentSession { logged_in: false, ..online() },
    ] {
        store.set_agent_session(&a, "ann", &session, 200).await.unwrap();
        assert_eq!(store.claim_best(&best(&a, "c1", SKILL, 300)).await.unwrap(), no_agent, "{session:?}");
    }
    // Losing the skill takes the agent out of the skill's index, gaining it puts it in.
    store.set_agent_session(&a, "ann", &online(), 400).await.unwrap();
    assert!(store.update_agent(&a, &spec("ann", &["sales"], 1)).await.unwrap());
    assert_eq!(store.claim_best(&best(&a, "c1", SKILL, 500)).await.unwrap(), no_agent);
    assert!(store.update_agent(&a, &spec("ann", &["sales", SKILL], 1)).await.unwrap());
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 600)).await, "ann");
    // Full at max 1; raising max makes room.
    queued_conversation(&store, &a, "c2", 2).await;
    let full = BestOutcome::NoAgent { passed: vec![("ann".into(), PassReason::Full)] };
    assert_eq!(store.claim_best(&best(&a, "c2", SKILL, 700)).await.unwrap(), full);
    assert!(store.update_agent(&a, &spec("ann", &["sales", SKILL], 2)).await.unwrap());
    assert_eq!(claimed_by(&store, &best(&a, "c2", SKILL, 800)).await, "ann");
    // A claim of another skill's conversation is gone, not given.
    queued_conversation(&store, &a, "c3", 3).await;
    assert_eq!(store.claim_best(&best(&a, "c3", "sales", 900)).await.unwrap(), BestOutcome::ConversationGone);
    // Another account's agents are not candidates (invariant 7).
    let b = unique("acct");
    online_agent(&store, &b, "bob", &[SKILL], 5).await;
    let c3 = store.claim_best(&best(&a, "c3", SKILL, 1_000)).await.unwrap();
    assert_eq!(c3, BestOutcome::NoAgent { passed: vec![("ann".into(), PassReason::Full)] });
}

/// R6.4: the agent that returned the conversation is passed over while another can take it,
/// and gets it back when none can.
async fn best_claim_passes_over_the_returning_agent_r6_4(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 3).await;
    queued_conversation(&store, &a, "c1", 1).await;
    let version = match store.claim_best(&best(&a, "c1", SKILL, 100)).await.unwrap() {
        BestOutcome::Claimed { agent_id, version } if agent_id == "ann" => version,
        other => panic!("{other:?}"),
    };
    let requeued = store.requeue(&back_to_queue(&a, "c1", "ann", version, SKILL, 200)).await.unwrap();
    assert_eq!(requeued, RequeueOutcome::Requeued);
    // ann is the only candidate: she gets it back.
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 300)).await, "ann");
    let version = store.route(&a, "c1").await.unwrap().unwrap().version;
    store.requeue(&back_to_queue(&a, "c1", "ann", version, SKILL, 400)).await.unwrap();
    // bob is busier than ann (ann holds nothing now) but not the one who returned it.
    online_agent(&store, &a, "bob", &[SKILL], 3).await;
    queued_conversation(&store, &a, "other", 2).await;
    assert_eq!(claimed_by(&store, &best(&a, "other", SKILL, 450)).await, "bob");
    assert_eq!(claimed_by(&store, &best(&a, "c1", SKILL, 500)).await, "bob");
}

async fn best_claim_reports_who_was_passed_and_why(store: Store) {
    let a = unique("acct");
    // ann: max 1 holding one (full); bob: max 3 holding two (66 %, room); cid: max 2 holding
    // one (50 %, room) returned c9.
    online_agent(&store, &a, "ann", &[SKILL], 1).await;
    online_agent(&store, &a, "bob", &[SKILL], 3).await;
    online_agent(&store, &a, "cid", &[SKILL], 2).await;
    for (i, agent) in [(1, "ann"), (2, "bob"), (3, "bob"), (4, "cid")] {
        let c = format!("c{i}");
        queued_conversation(&store, &a, &c, i).await;
        assert!(matches!(store.claim(&claim_of(&a, &c, agent, ONE, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    }
    queued_conversation(&store, &a, "c9", 9).await;
    let version = match store.claim(&claim_of(&a, "c9", "cid", ONE, 500)).await.unwrap() {
        ClaimOutcome::Claimed { version } => version,
        other => panic!("{other:?}"),
    };
    store.requeue(&back_to_queue(&a, "c9", "cid", version, SKILL, 6_000)).await.unwrap();
    // Order: cid 50 %, bob 66 %, ann 100 %. cid avoided, bob takes it.
    assert_eq!(claimed_by(&store, &best(&a, "c9", SKILL, 7_000)).await, "bob");
    // Now bob is full (3.0 + 1.0 > 3.5) and ann too; a fresh conversation goes to cid (50 %),
    // and the next one finds everybody full.
    queued_conversation(&store, &a, "c10", 10).await;
    assert_eq!(claimed_by(&store, &best(&a, "c10", SKILL, 8_000)).await, "cid");
    queued_conversation(&store, &a, "c11", 11).await;
    let outcome = store.claim_best(&best(&a, "c11", SKILL, 9_000)).await.unwrap();
    let BestOutcome::NoAgent { mut passed } = outcome else { panic!("{outcome:?}") };
    passed.sort();
    let full = PassReason::Full;
    assert_eq!(passed, vec![("ann".into(), full), ("bob".into(), full), ("cid".into(), full)]);
    // The scan bound: only the first member of the index is considered.
    let outcome = store.claim_best(&BestClaim { scan: 1, ..best(&a, "c11", SKILL, 9_000) }).await.unwrap();
    let BestOutcome::NoAgent { passed } = outcome else { panic!("{outcome:?}") };
    assert_eq!(passed.len(), 1);
}

/// R4.4: the unassigned skill is held by every agent, whatever its skills.
async fn best_claim_on_the_unassigned_skill_takes_any_agent_r4_4(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "sales-only", &["sales"], 1).await;
    online_agent(&store, &a, "no-skills", &[], 1).await;
    for c in ["u1", "u2", "u3"] {
        open(&store, &a, c).await;
        assert_eq!(
            store.enqueue(&a, c, UNASSIGNED_SKILL, 1, &Placement::by_due(1)).await.unwrap(),
            EnqueueOutcome::Queued
        );
    }
    let mut got = vec![
        claimed_by(&store, &best(&a, "u1", UNASSIGNED_SKILL, 10)).await,
        claimed_by(&store, &best(&a, "u2", UNASSIGNED_SKILL, 20)).await,
    ];
    got.sort();
    assert_eq!(got, ["no-skills", "sales-only"]);
    assert!(matches!(
        store.claim_best(&best(&a, "u3", UNASSIGNED_SKILL, 30)).await.unwrap(),
        BestOutcome::NoAgent { .. }
    ));
    // The single-agent claim agrees (the AgentAvailable path): the agent u1 freed takes u3.
    store.close_conversation(&a, "u1", 40, None).await.unwrap();
    let ReleaseOutcome::FreedAgent { agent_id, .. } = store.release(&a, "u1", 40).await.unwrap() else {
        panic!("u1 was assigned")
    };
    let claim = Claim { skill_id: UNASSIGNED_SKILL.into(), ..claim_of(&a, "u3", &agent_id, ONE, 500) };
    assert!(matches!(store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { .. }), "{claim:?}");
}

/// 20 conversations, 5 agents of max 2 (weight 1.0, headroom 0.5), 100 concurrent decisions:
/// each conversation is given once, no agent goes over max, exactly 10 are given.
async fn best_claim_is_atomic_under_concurrency(store: Store) {
    let a = unique("acct");
    let conversations: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
    for (i, c) in conversations.iter().enumerate() {
        queued_conversation(&store, &a, c, i as i64).await;
    }
    for i in 0..5 {
        online_agent(&store, &a, &format!("agent{i}"), &[SKILL], 2).await;
    }
    let given: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let tasks: Vec<_> = (0..100usize)
        .map(|task| {
            let (store, a, c, given) = (store.clone(), a.clone(), conversations[task % 20].clone(), given.clone());
            tokio::spawn(async move {
                if let BestOutcome::Claimed { agent_id, version } =
                    store.claim_best(&best(&a, &c, SKILL, task as i64)).await.unwrap()
                {
                    assert_eq!(version, 1);
                    given.lock().unwrap().push((c, agent_id));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let given = given.lock().unwrap().clone();
    assert_eq!(given.len(), 10, "min(conversations, total capacity): {given:?}");
    let mut per_agent: HashMap<&str, usize> = HashMap::new();
    let mut conversations_given: Vec<&str> = given.iter().map(|(c, _)| c.as_str()).collect();
    conversations_given.sort();
    conversations_given.dedup();
    assert_eq!(conversations_given.len(), 10, "invariant 1: each given once");
    for (c, agent) in &given {
        *per_agent.entry(agent).or_default() += 1;
        let route = store.route(&a, c).await.unwrap().unwrap();
        assert_eq!((route.status, &route.agent_id), (RouteStatus::Assigned, agent));
    }
    assert!(per_agent.values().all(|n| *n == 2), "invariant 2 and lowest load first: {per_agent:?}");
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 10);
}
