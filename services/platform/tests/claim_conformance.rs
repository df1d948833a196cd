//! Conformance of the arbiter (`RoutingStore::claim`, architecture §6): its outcomes, R8.6 and
//! its shared cases (`rules::R8_6_CASES`, pinning claim.lua to the Rust rule), atomicity under
//! concurrent callers, and claims pending until announced; in memory and on a real Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    claim_outcomes,
    claim_follows_the_shared_cases_of_r8_6,
    claim_capacity_rule_r8_6,
    claim_is_atomic_under_concurrency,
    claims_stay_pending_until_announced,
);

/// Each failed claim returns its reason and changes nothing (architecture §4: clear outcome,
/// loser retries with the next candidate). Invariant 5: an agent that is not ONLINE (or not
/// logged in, or without the skill) receives nothing.
async fn claim_outcomes(store: Store) {
    let a = unique("acct");
    queued_conversation(&store, &a, "c1", 100).await;
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    let unchanged = |store: Store, a: String| async move {
        assert_eq!(store.route(&a, "c1").await.unwrap().unwrap().status, RouteStatus::Queued);
        assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 1);
        assert!(store.get_agent(&a, "ann").await.unwrap().unwrap().load.is_empty());
    };

    // ConversationGone: never routed, queued on another skill, closed conversation.
    assert_eq!(store.claim(&claim_of(&a, "nope", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
    assert_eq!(
        store.claim(&Claim { skill_id: "sales".into(), ..claim_of(&a, "c1", "ann", ONE, 0) }).await.unwrap(),
        ClaimOutcome::ConversationGone
    );
    queued_conversation(&store, &a, "closed", 50).await;
    store.close_conversation(&a, "closed", 60, None).await.unwrap();
    assert_eq!(store.claim(&claim_of(&a, "closed", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
    store.release(&a, "closed", 10_000).await.unwrap();
    unchanged(store.clone(), a.clone()).await;

    // AgentUnavailable: unknown, never logged in (offline), logged out, not ONLINE, lacks skill.
    assert_eq!(store.claim(&claim_of(&a, "c1", "ghost", ONE, 0)).await.unwrap(), ClaimOutcome::AgentUnavailable);
    assert!(store.create_agent(&a, &spec("off", &[SKILL], 2)).await.unwrap());
    assert_eq!(store.claim(&claim_of(&a, "c1", "off", ONE, 0)).await.unwrap(), ClaimOutcome::AgentUnavailable);
    let sessions = [
        AgentSession { logged_in: false, ..online() },
        AgentSession { logged_in: true, state: AgentState::Away, away_reason: "lunch".into() },
        AgentSession { logged_in: true, state: AgentState::BackSoon, away_reason: String::new() },
        AgentSession { logged_in: true, state: AgentState::Offline, away_reason: String::new() },
    ];
    for session in sessions {
        assert!(store.set_agent_session(&a, "off", &session, 200).await.unwrap());
        assert_eq!(
            store.claim(&claim_of(&a, "c1", "off", ONE, 0)).await.unwrap(),
            ClaimOutcome::AgentUnavailable,
            "{session:?}"
        );
    }
    online_agent(&store, &a, "sales-only", &["sales"], 2).await;
    assert_eq!(store.claim(&claim_of(&a, "c1", "sales-only", ONE, 0)).await.unwrap(), ClaimOutcome::AgentUnavailable);
    // Invariant 7: an agent of another account cannot claim.
    let b = unique("acct");
    online_agent(&store, &b, "ann", &[SKILL], 2).await;
    assert_eq!(
        store.claim(&Claim { account_id: b.clone(), ..claim_of(&a, "c1", "ann", ONE, 0) }).await.unwrap(),
        ClaimOutcome::ConversationGone
    );
    unchanged(store.clone(), a.clone()).await;

    // AgentFull: a weight above max + headroom on an empty agent.
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", 2 * ONE + 1, 0)).await.unwrap(), ClaimOutcome::AgentFull);
    unchanged(store.clone(), a.clone()).await;

    // Claimed: leaves the queue, the route says assigned, the agent's load counts it.
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.agent_id.as_str(), route.version), (RouteStatus::Assigned, "ann", 1));
    assert_eq!(route.assigned_at_ms, 5_000, "when it was assigned (R14.13 counts from it)");
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!((load_of(&ann), ann.last_assigned_ms), (vec![("c1".to_string(), ONE)], 5_000));
    // Invariant 1: a second claim of the same conversation fails.
    online_agent(&store, &a, "bob", &[SKILL], 2).await;
    assert_eq!(store.claim(&claim_of(&a, "c1", "bob", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
}

/// Domain R8.6 through each store's claim (the in-memory store's, and claim.lua on Redis): the
/// shared cases give the outcomes the one Rust rule gives (`rules::R8_6_CASES`).
async fn claim_follows_the_shared_cases_of_r8_6(store: Store) {
    for (i, case) in rules::R8_6_CASES.iter().enumerate() {
        let a = unique("acct");
        online_agent(&store, &a, "ann", &[SKILL], case.max).await;
        for (j, weight) in case.held.iter().enumerate() {
            let id = format!("held{j}");
            queued_conversation(&store, &a, &id, j as i64).await;
            // Held already: taken whatever the rule says (a large headroom).
            let taken = store.claim(&claim_of(&a, &id, "ann", *weight, 1_000_000_000)).await.unwrap();
            assert!(matches!(taken, ClaimOutcome::Claimed { .. }), "case {i}: {taken:?}");
        }
        queued_conversation(&store, &a, "asked", 100).await;
        let outcome = store.claim(&claim_of(&a, "asked", "ann", case.weight, case.headroom)).await.unwrap();
        let expected = if case.may_take { "claimed" } else { "AgentFull" };
        let got = match outcome {
            ClaimOutcome::Claimed { .. } => "claimed",
            ClaimOutcome::AgentFull => "AgentFull",
            other => panic!("case {i}: {other:?}"),
        };
        assert_eq!(got, expected, "case {i}");
    }
}

/// Domain R8.6: an agent may take a conversation while used + weight <= max + headroom.
async fn claim_capacity_rule_r8_6(store: Store) {
    let a = unique("acct");
    // max 3, used 2.1 (1.0 + 1.1): may take 1.0 with headroom 0.5 -> 3.1; not another 1.0 (4.1).
    online_agent(&store, &a, "ann", &[SKILL], 3).await;
    for (id, at) in [("c1", 1), ("c2", 2), ("c3", 3), ("c4", 4), ("c5", 5)] {
        queued_conversation(&store, &a, id, at).await;
    }
    assert!(matches!(store.claim(&claim_of(&a, "c1", "ann", ONE, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert!(matches!(store.claim(&claim_of(&a, "c2", "ann", 1_100, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.get_agent(&a, "ann").await.unwrap().unwrap().capacity_used(), 2_100);
    assert!(matches!(store.claim(&claim_of(&a, "c3", "ann", ONE, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.get_agent(&a, "ann").await.unwrap().unwrap().capacity_used(), 3_100);
    assert_eq!(store.claim(&claim_of(&a, "c4", "ann", ONE, 500)).await.unwrap(), ClaimOutcome::AgentFull);
    // Exactly at the limit is allowed: 3.1 + 0.4 = 3.5 = max + headroom.
    assert!(matches!(store.claim(&claim_of(&a, "c4", "ann", 400, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.claim(&claim_of(&a, "c5", "ann", 1, 500)).await.unwrap(), ClaimOutcome::AgentFull);
    assert_eq!(store.get_agent(&a, "ann").await.unwrap().unwrap().capacity_used(), 3_500);

    // Weights 1.0 and headroom 0.5: the agent never exceeds max (2.0 + 1.0 > 2.5).
    online_agent(&store, &a, "bob", &[SKILL], 2).await;
    for (id, at) in [("d1", 11), ("d2", 12), ("d3", 13)] {
        queued_conversation(&store, &a, id, at).await;
    }
    assert!(matches!(store.claim(&claim_of(&a, "d1", "bob", ONE, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert!(matches!(store.claim(&claim_of(&a, "d2", "bob", ONE, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.claim(&claim_of(&a, "d3", "bob", ONE, 500)).await.unwrap(), ClaimOutcome::AgentFull);
    let bob = store.get_agent(&a, "bob").await.unwrap().unwrap();
    assert_eq!(bob.capacity_used(), 2 * ONE);
    assert_eq!(load_of(&bob), vec![("d1".to_string(), ONE), ("d2".to_string(), ONE)]);

    // A lower max after an update applies to the next claim; load is kept.
    assert!(store.update_agent(&a, &spec("bob", &[SKILL], 1)).await.unwrap());
    store.release(&a, "d1", 10_000).await.unwrap();
    assert_eq!(store.claim(&claim_of(&a, "d3", "bob", ONE, 500)).await.unwrap(), ClaimOutcome::AgentFull);
    store.release(&a, "d2", 10_000).await.unwrap();
    assert!(matches!(store.claim(&claim_of(&a, "d3", "bob", ONE, 500)).await.unwrap(), ClaimOutcome::Claimed { .. }));
}

/// Invariants 1 and 2 under contention: 20 queued conversations, 5 agents with max 2 (weight
/// 1.0, headroom 0.5), 100 concurrent tasks claiming random pairs. Each conversation is claimed
/// at most once, no agent goes over max, and after retries exactly min(20, 5 * 2) = 10 claims
/// succeed.
async fn claim_is_atomic_under_concurrency(store: Store) {
    let a = unique("acct");
    let conversations: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
    let agents: Vec<String> = (0..5).map(|i| format!("agent{i}")).collect();
    for (i, c) in conversations.iter().enumerate() {
        queued_conversation(&store, &a, c, i as i64).await;
    }
    for agent in &agents {
        online_agent(&store, &a, agent, &[SKILL], 2).await;
    }
    let claimed: Arc<Mutex<Vec<(String, String, u64)>>> = Arc::default();

    let attempt = |store: Store,
                   a: String,
                   c: String,
                   agent: String,
                   claimed: Arc<Mutex<Vec<(String, String, u64)>>>| async move {
        let outcome = store.claim(&claim_of(&a, &c, &agent, ONE, 500)).await.unwrap();
        if let ClaimOutcome::Claimed { version } = outcome {
            claimed.lock().unwrap().push((c, agent, version));
        }
        outcome
    };

    let tasks: Vec<_> = (0..100u64)
        .map(|task| {
            let (store, a, conversations, agents, claimed) =
                (store.clone(), a.clone(), conversations.clone(), agents.clone(), claimed.clone());
            tokio::spawn(async move {
                let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (task + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
                for _ in 0..10 {
                    let c = conversations[rng.below(conversations.len())].clone();
                    let agent = agents[rng.below(agents.len())].clone();
                    attempt(store.clone(), a.clone(), c, agent, claimed.clone()).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // Retries: offer every still-queued conversation to every agent until nobody has room.
    loop {
        let head = store.queue_head(&a, SKILL, 100).await.unwrap();
        let mut progress = false;
        'conversations: for entry in &head {
            for agent in &agents {
                match attempt(store.clone(), a.clone(), entry.conversation_id.clone(), agent.clone(), claimed.clone())
                    .await
                {
                    ClaimOutcome::Claimed { .. } => {
                        progress = true;
                        continue 'conversations;
                    }
                    ClaimOutcome::AgentFull => {}
                    other => panic!("unexpected {other:?} for a queued conversation and an online agent"),
                }
            }
        }
        if !progress {
            break;
        }
    }

    let claimed = claimed.lock().unwrap().clone();
    assert_eq!(claimed.len(), 10, "min(conversations, total capacity) claims succeed");
    let mut per_conversation: HashMap<&str, usize> = HashMap::new();
    let mut per_agent: HashMap<&str, Vec<String>> = HashMap::new();
    for (c, agent, version) in &claimed {
        *per_conversation.entry(c).or_default() += 1;
        per_agent.entry(agent).or_default().push(c.clone());
        assert_eq!(*version, 1);
        let route = store.route(&a, c).await.unwrap().unwrap();
        assert_eq!((route.status, &route.agent_id), (RouteStatus::Assigned, agent), "invariant 1");
    }
    assert!(per_conversation.values().all(|n| *n == 1), "invariant 1: claimed at most once: {per_conversation:?}");
    for agent in &agents {
        let record = store.get_agent(&a, agent).await.unwrap().unwrap();
        assert!(record.capacity_used() <= 2 * ONE, "invariant 2: {agent} over max: {:?}", record.load);
        let mut expected = per_agent.remove(agent.as_str()).unwrap_or_default();
        expected.sort();
        assert_eq!(load_of(&record).into_iter().map(|(c, _)| c).collect::<Vec<_>>(), expected);
        assert_eq!(record.capacity_used(), 2 * ONE, "every agent was filled");
    }
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 10);
    let still_queued: HashSet<String> =
        store.queue_head(&a, SKILL, 100).await.unwrap().into_iter().map(|e| e.conversation_id).collect();
    assert!(claimed.iter().all(|(c, _, _)| !still_queued.contains(c)), "a claimed conversation left the queue");
}

/// Invariant 3: a claim stays pending announcement until confirmed, so a crash between the
/// claim and its event cannot leave the agent unaware; confirming an old version keeps a
/// newer claim pending; routes no longer assigned drop out.
async fn claims_stay_pending_until_announced(store: Store) {
    let account = unique("acct");
    online_agent(&store, &account, "ann", &[SKILL], 5).await;
    for (i, conv) in ["p1", "p2", "p3"].iter().enumerate() {
        queued_conversation(&store, &account, conv, 100 + i as i64).await;
        let claim = Claim {
            account_id: account.clone(),
            conversation_id: (*conv).into(),
            skill_id: SKILL.into(),
            agent_id: "ann".into(),
            weight: ONE,
            headroom: 500,
            max_open: 0,
            warmup: None,
            now_ms: 1_000 + i as i64,
            history_window_ms: 0,
        };
        assert_eq!(store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
    }
    let pending =
        |v: Vec<(String, Route)>| v.into_iter().map(|(a, r)| (a, r.conversation_id, r.version)).collect::<Vec<_>>();
    assert_eq!(
        pending(store.unannounced(1_001, 10).await.unwrap()),
        vec![(account.clone(), "p1".into(), 1), (account.clone(), "p2".into(), 1)],
        "oldest first, only those claimed at or before the cut-off"
    );
    // One account's, with their claim times (what a skill's sweep reads); not another's.
    let of = |v: Vec<(i64, Route)>| v.into_iter().map(|(at, r)| (at, r.conversation_id)).collect::<Vec<_>>();
    assert_eq!(
        of(store.unannounced_of(&account, 10).await.unwrap()),
        [(1_000, "p1".into()), (1_001, "p2".into()), (1_002, "p3".into())]
    );
    assert_eq!(of(store.unannounced_of(&account, 1).await.unwrap()), [(1_000, "p1".into())]);
    assert!(store.unannounced_of(&unique("acct"), 10).await.unwrap().is_empty());
    store.announced(&account, "p1", 1).await.unwrap();
    store.announced(&account, "p2", 7).await.unwrap(); // not the current version: stays
    assert_eq!(
        store.release(&account, "p3", 10_000).await.unwrap(),
        ReleaseOutcome::FreedAgent { agent_id: "ann".into(), skill_id: SKILL.into() }
    );
    assert_eq!(pending(store.unannounced(i64::MAX, 10).await.unwrap()), vec![(account.clone(), "p2".into(), 1)]);
    // The closed one left the pending set for good.
    store.announced(&account, "p2", 1).await.unwrap();
    assert!(store.unannounced(i64::MAX, 10).await.unwrap().is_empty());
}
