//! The state store conformance suite (architecture §5, §7): every test is one generic async
//! function over `Arc<dyn StateStore>`, run against the in-memory store (`memory::<name>`) and
//! against `RedisStore` on a real `redis-server` started for the test (`redis::<name>`), so the
//! two implementations cannot drift. Invariant numbers refer to architecture §6, rule numbers
//! (R…) to the domain reference.
//!
//! A missing `redis-server` binary fails the redis tests with an install hint; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use switchyard_platform::store::*;
use switchyard_testkit::{unique, RedisServer};

mod support;
use support::*;

conformance!(
    ping_answers,
    accounts_and_skills,
    agents_create_update_and_skill_index,
    agent_session_tracks_state_since,
    open_one_conversation_per_consumer,
    open_burst_for_one_consumer_creates_one_conversation,
    close_frees_the_consumer,
    append_dedupes_and_rejects_closed,
    enqueue_is_idempotent_and_ignored_after_release,
    queue_order_is_oldest_first,
    claim_outcomes,
    claims_stay_pending_until_announced,
    claim_capacity_rule_r8_6,
    claim_follows_the_shared_cases_of_r8_6,
    claim_is_atomic_under_concurrency,
    release_frees_agent_or_leaves_queue,
    requeue_only_from_the_assigned_agent,
    active_skills_tracks_non_empty_queues,
);

// --- ping, accounts, skills ---------------------------------------------------------------------

async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
}

/// Invariant 7: one account never sees another account's skills.
async fn accounts_and_skills(store: Store) {
    let (a, b) = (unique("acct"), unique("acct"));
    assert!(!store.account_exists(&a).await.unwrap());
    assert!(store.create_account(&a, "Acme").await.unwrap());
    assert!(!store.create_account(&a, "Acme again").await.unwrap(), "create_account is create-if-absent");
    assert!(store.account_exists(&a).await.unwrap());
    assert!(!store.account_exists(&b).await.unwrap());

    let skill = |id: &str, name: &str| SkillRecord { skill_id: id.into(), name: name.into() };
    assert!(store.create_skill(&a, &skill("sales", "Sales")).await.unwrap());
    assert!(store.create_skill(&a, &skill("billing", "Billing")).await.unwrap());
    assert!(!store.create_skill(&a, &skill("sales", "Other name")).await.unwrap(), "skill id already exists");
    assert_eq!(
        store.list_skills(&a).await.unwrap(),
        vec![skill("billing", "Billing"), skill("sales", "Sales")],
        "sorted by skill id; the first name wins"
    );
    assert!(store.skill_exists(&a, "sales").await.unwrap());
    assert!(!store.skill_exists(&a, "support").await.unwrap());

    assert!(store.list_skills(&b).await.unwrap().is_empty());
    assert!(!store.skill_exists(&b, "sales").await.unwrap());
    assert!(store.create_skill(&b, &skill("sales", "B sales")).await.unwrap(), "same id in another account");
}

// --- agents -----------------------------------------------------------------------------------

async fn agents_create_update_and_skill_index(store: Store) {
    let a = unique("acct");
    assert_eq!(store.get_agent(&a, "ann").await.unwrap(), None);
    assert!(store.create_agent(&a, &AgentSpec { bot: true, ..spec("ann", &["sales", "billing"], 3) }).await.unwrap());
    assert!(!store.create_agent(&a, &spec("ann", &["other"], 9)).await.unwrap(), "agent already exists");

    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!(
        ann,
        AgentRecord {
            account_id: a.clone(),
            spec: AgentSpec { bot: true, ..spec("ann", &["sales", "billing"], 3) },
            logged_in: false,
            state: AgentState::Offline,
            away_reason: String::new(),
            state_since_ms: 0,
            last_assigned_ms: 0,
            load: vec![],
        }
    );

    assert!(store.create_agent(&a, &spec("bob", &["billing"], 2)).await.unwrap());
    assert!(store.create_agent(&a, &spec("al", &["billing", "support"], 1)).await.unwrap());
    let names = |agents: Vec<AgentRecord>| agents.into_iter().map(|x| x.spec.agent_id).collect::<Vec<_>>();
    assert_eq!(names(store.agents_with_skill(&a, "billing").await.unwrap()), ["al", "ann", "bob"], "sorted by id");
    assert_eq!(names(store.agents_with_skill(&a, "sales").await.unwrap()), ["ann"]);
    assert!(store.agents_with_skill(&a, "nobody").await.unwrap().is_empty());

    // Update replaces the spec and moves the agent between skill indexes; session is kept.
    assert!(!store.update_agent(&a, &spec("zed", &["sales"], 1)).await.unwrap(), "unknown agent");
    assert!(store.set_agent_session(&a, "ann", &online(), 10).await.unwrap());
    assert!(store.update_agent(&a, &spec("ann", &["support", "sales"], 5)).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!(ann.spec, spec("ann", &["support", "sales"], 5));
    assert!(ann.logged_in);
    assert_eq!(ann.state, AgentState::Online);
    assert_eq!(names(store.agents_with_skill(&a, "billing").await.unwrap()), ["al", "bob"]);
    assert_eq!(names(store.agents_with_skill(&a, "support").await.unwrap()), ["al", "ann"]);
    assert_eq!(names(store.agents_with_skill(&a, "sales").await.unwrap()), ["ann"]);
    let full = store.agents_with_skill(&a, "sales").await.unwrap();
    assert_eq!(full, vec![ann], "agents_with_skill returns whole records");

    // An agent with no skills is listed nowhere. Invariant 7: nothing leaks across accounts.
    assert!(store.update_agent(&a, &spec("al", &[], 1)).await.unwrap());
    assert_eq!(names(store.agents_with_skill(&a, "support").await.unwrap()), ["ann"]);
    let other = unique("acct");
    assert_eq!(store.get_agent(&other, "ann").await.unwrap(), None);
    assert!(store.agents_with_skill(&other, "sales").await.unwrap().is_empty());
}

async fn agent_session_tracks_state_since(store: Store) {
    let a = unique("acct");
    let away = |reason: &str| AgentSession { logged_in: true, state: AgentState::Away, away_reason: reason.into() };
    assert!(!store.set_agent_session(&a, "ann", &online(), 10).await.unwrap(), "unknown agent");
    assert!(store.create_agent(&a, &spec("ann", &[SKILL], 2)).await.unwrap());

    assert!(store.set_agent_session(&a, "ann", &online(), 10).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.logged_in, ann.state, ann.state_since_ms) == (true, AgentState::Online, 10));

    // Same state and reason: state_since stays even if login changes.
    let logged_out_online = AgentSession { logged_in: false, ..online() };
    assert!(store.set_agent_session(&a, "ann", &logged_out_online, 20).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.logged_in, ann.state, ann.state_since_ms) == (false, AgentState::Online, 10));

    assert!(store.set_agent_session(&a, "ann", &away("lunch"), 30).await.unwrap());
    assert!(store.set_agent_session(&a, "ann", &away("lunch"), 40).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.state, ann.away_reason.as_str(), ann.state_since_ms) == (AgentState::Away, "lunch", 30));

    // A new reason is a change.
    assert!(store.set_agent_session(&a, "ann", &away("meeting"), 50).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.away_reason.as_str(), ann.state_since_ms) == ("meeting", 50));
}

// --- conversations ------------------------------------------------------------------------------

/// Domain R1.12: a consumer has at most one open conversation per account.
async fn open_one_conversation_per_consumer(store: Store) {
    let a = unique("acct");
    let first = store.open_conversation(&a, &new_conversation("c1", "alice", "pm-1")).await.unwrap();
    let OpenOutcome::Created(first) = first else { panic!("expected Created, got {first:?}") };

    let second = store.open_conversation(&a, &new_conversation("c2", "alice", "pm-2")).await.unwrap();
    assert_eq!(second, OpenOutcome::Existing(first.clone()));
    let no_id = store.open_conversation(&a, &new_conversation("c3", "alice", "")).await.unwrap();
    assert_eq!(no_id, OpenOutcome::Existing(first.clone()));
    assert_eq!(store.get_conversation(&a, "c2").await.unwrap(), None);

    // pm-2 now points at c1 too: after c1 closes, a redelivery of pm-2 still opens nothing.
    store.close_conversation(&a, "c1", 9_000, None).await.unwrap();
    match store.open_conversation(&a, &new_conversation("c4", "alice", "pm-2")).await.unwrap() {
        OpenOutcome::Existing(rec) => assert_eq!(rec.conversation_id, "c1"),
        other => panic!("expected Existing, got {other:?}"),
    }

    // Another consumer, or the same consumer in another account, gets its own conversation.
    assert!(matches!(
        store.open_conversation(&a, &new_conversation("c5", "bob", "pm-5")).await.unwrap(),
        OpenOutcome::Created(_)
    ));
    let b = unique("acct");
    assert!(matches!(
        store.open_conversation(&b, &new_conversation("c6", "alice", "pm-6")).await.unwrap(),
        OpenOutcome::Created(_)
    ));
}

/// Invariant 6: a burst of inbound messages from one consumer never creates two
/// conversations. 50 concurrent opens, each with its own partner message id and conversation id.
async fn open_burst_for_one_consumer_creates_one_conversation(store: Store) {
    let a = unique("acct");
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            tokio::spawn(async move {
                store.open_conversation(&a, &new_conversation(&format!("c{i}"), "alice", &format!("pm-{i}"))).await
            })
        })
        .collect();
    let mut created = 0;
    let mut seen = HashSet::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            OpenOutcome::Created(rec) => {
                created += 1;
                seen.insert(rec.conversation_id);
            }
            OpenOutcome::Existing(rec) => {
                seen.insert(rec.conversation_id);
            }
        }
    }
    assert_eq!(created, 1, "exactly one open creates");
    assert_eq!(seen.len(), 1, "every open returns the same conversation: {seen:?}");
    let winner = seen.into_iter().next().unwrap();
    store.close_conversation(&a, &winner, 5_000, None).await.unwrap();
    let mut existing = 0;
    for i in 0..50 {
        if store.get_conversation(&a, &format!("c{i}")).await.unwrap().is_some() {
            existing += 1;
        }
        // Every partner message id of the burst now dedupes to the winner, even closed.
        match store.open_conversation(&a, &new_conversation("late", "alice", &format!("pm-{i}"))).await.unwrap() {
            OpenOutcome::Existing(rec) => assert_eq!(rec.conversation_id, winner),
            other => panic!("expected Existing, got {other:?}"),
        }
    }
    assert_eq!(existing, 1, "one conversation record");
}

async fn close_frees_the_consumer(store: Store) {
    let a = unique("acct");
    assert_eq!(store.close_conversation(&a, "nope", 1, None).await.unwrap(), CloseOutcome::NotFound);
    store.open_conversation(&a, &new_conversation("c1", "alice", "pm-1")).await.unwrap();

    let closed = match store.close_conversation(&a, "c1", 9_000, None).await.unwrap() {
        CloseOutcome::Closed(rec) => rec,
        other => panic!("expected Closed, got {other:?}"),
    };
    assert_eq!(
        (closed.status, closed.closed_at_ms, closed.consumer_id.as_str()),
        (ConversationStatus::Closed, 9_000, "alice")
    );
    assert_eq!(store.get_conversation(&a, "c1").await.unwrap(), Some(closed.clone()));
    assert_eq!(store.close_conversation(&a, "c1", 9_500, None).await.unwrap(), CloseOutcome::AlreadyClosed(closed));

    // The consumer is free: a new message opens a new conversation.
    let next = store.open_conversation(&a, &new_conversation("c2", "alice", "pm-2")).await.unwrap();
    let OpenOutcome::Created(next) = next else { panic!("expected Created, got {next:?}") };
    assert_eq!((next.conversation_id.as_str(), next.status), ("c2", ConversationStatus::Open));
    // Closing the old one again does not free the consumer's new conversation.
    store.close_conversation(&a, "c1", 9_600, None).await.unwrap();
    assert_eq!(
        store.open_conversation(&a, &new_conversation("c3", "alice", "pm-3")).await.unwrap(),
        OpenOutcome::Existing(next)
    );
}

/// Invariant 4: a redelivered message changes nothing.
async fn append_dedupes_and_rejects_closed(store: Store) {
    let a = unique("acct");
    assert_eq!(store.append_message(&a, "nope", &message("hi", "m0"), None).await.unwrap(), AppendOutcome::NotFound);
    assert!(store.transcript_page(&a, "nope", 0, 1000).await.unwrap().is_empty());
    store.open_conversation(&a, &new_conversation("c1", "alice", "")).await.unwrap();

    let texts = ["hello", "line one\nline two ✓", "", "third"];
    let mut stored = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let outcome = store.append_message(&a, "c1", &message(text, &format!("m{i}")), None).await.unwrap();
        let AppendOutcome::Appended(m) = outcome else { panic!("expected Appended, got {outcome:?}") };
        assert_eq!(
            m,
            StoredMessage {
                sequence: i as u64 + 1,
                from: 1,
                sender_id: "consumer-1".into(),
                text: text.to_string(),
                sent_at_ms: 2_000
            }
        );
        stored.push(m);
    }
    // Same dedupe id, even with other content: the first one, nothing written.
    let dup = store.append_message(&a, "c1", &message("changed", "m1"), None).await.unwrap();
    assert_eq!(dup, AppendOutcome::Duplicate(stored[1].clone()));
    // No dedupe id: never deduped.
    for _ in 0..2 {
        let AppendOutcome::Appended(m) = store.append_message(&a, "c1", &message("again", ""), None).await.unwrap()
        else {
            panic!("expected Appended")
        };
        stored.push(m);
    }
    assert_eq!(store.transcript_page(&a, "c1", 0, 1000).await.unwrap(), stored);
    assert_eq!(stored.iter().map(|m| m.sequence).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);

    // Dedupe ids are per conversation.
    store.open_conversation(&a, &new_conversation("c2", "bob", "")).await.unwrap();
    assert!(matches!(
        store.append_message(&a, "c2", &message("x", "m1"), None).await.unwrap(),
        AppendOutcome::Appended(_)
    ));

    // Closed: new messages are rejected, a redelivery still answers Duplicate.
    store.close_conversation(&a, "c1", 9_000, None).await.unwrap();
    assert_eq!(store.append_message(&a, "c1", &message("late", "m9"), None).await.unwrap(), AppendOutcome::Closed);
    assert_eq!(store.append_message(&a, "c1", &message("late", ""), None).await.unwrap(), AppendOutcome::Closed);
    assert_eq!(
        store.append_message(&a, "c1", &message("x", "m0"), None).await.unwrap(),
        AppendOutcome::Duplicate(stored[0].clone())
    );
    assert_eq!(store.transcript_page(&a, "c1", 0, 1000).await.unwrap(), stored);
}

// --- partner outbox ------------------------------------------------------------------------------

// --- queues and routes ------------------------------------------------------------------------

/// Invariant 4 (redelivered enqueue changes nothing) and invariant 3 (a released conversation
/// is not resurrected by a late enqueue).
async fn enqueue_is_idempotent_and_ignored_after_release(store: Store) {
    let a = unique("acct");
    assert_eq!(store.route(&a, "c1").await.unwrap(), None);
    queued_conversation(&store, &a, "c1", 100).await;
    let queued = Route {
        conversation_id: "c1".into(),
        skill_id: SKILL.into(),
        status: RouteStatus::Queued,
        agent_id: String::new(),
        version: 0,
        queued_at_ms: 100,
        requeued_version: 0,
    };
    assert_eq!(store.route(&a, "c1").await.unwrap(), Some(queued.clone()));
    assert_eq!(store.enqueue(&a, "c1", SKILL, 200).await.unwrap(), EnqueueOutcome::Unchanged(RouteStatus::Queued));
    assert_eq!(store.enqueue(&a, "c1", "sales", 200).await.unwrap(), EnqueueOutcome::Unchanged(RouteStatus::Queued));
    assert_eq!(store.route(&a, "c1").await.unwrap(), Some(queued));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 1);
    assert_eq!(store.queue_depth(&a, "sales").await.unwrap(), 0);

    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    assert!(matches!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.enqueue(&a, "c1", SKILL, 300).await.unwrap(), EnqueueOutcome::Unchanged(RouteStatus::Assigned));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);

    store.release(&a, "c1", 10_000).await.unwrap();
    assert_eq!(store.enqueue(&a, "c1", SKILL, 400).await.unwrap(), EnqueueOutcome::Unchanged(RouteStatus::Closed));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);

    // Released before it was ever routed: the late enqueue is ignored too.
    assert_eq!(store.release(&a, "c2", 10_000).await.unwrap(), ReleaseOutcome::Unchanged);
    let closed = store.route(&a, "c2").await.unwrap().unwrap();
    assert_eq!(closed.status, RouteStatus::Closed);
    assert_eq!(store.enqueue(&a, "c2", SKILL, 500).await.unwrap(), EnqueueOutcome::Unchanged(RouteStatus::Closed));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
}

/// Oldest first; equal times ordered by conversation id (the in-memory BTreeSet order).
async fn queue_order_is_oldest_first(store: Store) {
    let a = unique("acct");
    assert!(store.queue_head(&a, SKILL, 10).await.unwrap().is_empty());
    for (id, at) in [("c5", 500), ("c1", 100), ("c3", 300), ("b3", 300), ("c0", -50), ("d3", 300)] {
        queued_conversation(&store, &a, id, at).await;
    }
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!(ids(&head), ["c0", "c1", "b3", "c3", "d3", "c5"]);
    assert_eq!(head.iter().map(|e| e.queued_at_ms).collect::<Vec<_>>(), [-50, 100, 300, 300, 300, 500]);
    assert!(head.iter().all(|e| e.avoid_agent_id.is_empty()));
    assert_eq!(ids(&store.queue_head(&a, SKILL, 2).await.unwrap()), ["c0", "c1"]);
    assert!(store.queue_head(&a, SKILL, 0).await.unwrap().is_empty());
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 6);

    // Realistic epoch-ms timestamps keep their exact value.
    let now = 1_754_000_000_123;
    queued_conversation(&store, &a, "late", now).await;
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!((head[6].conversation_id.as_str(), head[6].queued_at_ms), ("late", now));

    // Queues are per skill and per account (invariant 7).
    open(&store, &a, "s1").await;
    store.enqueue(&a, "s1", "sales", 1).await.unwrap();
    assert_eq!(ids(&store.queue_head(&a, "sales", 10).await.unwrap()), ["s1"]);
    assert!(store.queue_head(&unique("acct"), SKILL, 10).await.unwrap().is_empty());
}

// --- the arbiter ----------------------------------------------------------------------------------

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

async fn release_frees_agent_or_leaves_queue(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    queued_conversation(&store, &a, "queued", 100).await;
    queued_conversation(&store, &a, "assigned", 200).await;
    queued_conversation(&store, &a, "other", 300).await;
    assert!(matches!(
        store.claim(&claim_of(&a, "assigned", "ann", ONE, 0)).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));

    // Still queued: it leaves the queue.
    assert_eq!(
        store.release(&a, "queued", 10_000).await.unwrap(),
        ReleaseOutcome::LeftQueue { skill_id: SKILL.into() }
    );
    assert_eq!(ids(&store.queue_head(&a, SKILL, 10).await.unwrap()), ["other"]);
    assert_eq!(store.route(&a, "queued").await.unwrap().unwrap().status, RouteStatus::Closed);
    assert_eq!(store.release(&a, "queued", 10_000).await.unwrap(), ReleaseOutcome::Unchanged, "idempotent");

    // Assigned: the agent's load no longer counts it.
    assert_eq!(
        store.release(&a, "assigned", 10_000).await.unwrap(),
        ReleaseOutcome::FreedAgent { agent_id: "ann".into(), skill_id: SKILL.into() }
    );
    assert!(store.get_agent(&a, "ann").await.unwrap().unwrap().load.is_empty());
    let route = store.route(&a, "assigned").await.unwrap().unwrap();
    assert_eq!((route.status, route.version), (RouteStatus::Closed, 1));
    assert_eq!(store.release(&a, "assigned", 10_000).await.unwrap(), ReleaseOutcome::Unchanged, "idempotent");
    assert_eq!(store.claim(&claim_of(&a, "assigned", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);

    // The freed capacity is usable at once (invariant 5).
    assert!(store.update_agent(&a, &spec("ann", &[SKILL], 1)).await.unwrap());
    assert!(matches!(store.claim(&claim_of(&a, "other", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));

    // Never routed: unchanged, and a route now says closed.
    assert_eq!(store.release(&a, "never", 10_000).await.unwrap(), ReleaseOutcome::Unchanged);
    assert_eq!(
        store.route(&a, "never").await.unwrap(),
        Some(Route {
            conversation_id: "never".into(),
            skill_id: String::new(),
            status: RouteStatus::Closed,
            agent_id: String::new(),
            version: 0,
            queued_at_ms: 0,
            requeued_version: 0,
        })
    );
}

/// Back to queue / transfer (R6.4: the returning agent is remembered to be avoided).
async fn requeue_only_from_the_assigned_agent(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL, "sales"], 2).await;
    online_agent(&store, &a, "bob", &[SKILL, "sales"], 2).await;
    queued_conversation(&store, &a, "c1", 100).await;

    assert_eq!(store.requeue(&a, "c1", "ann", 0, "sales", 150).await.unwrap(), RequeueOutcome::NotAssigned, "queued");
    assert_eq!(store.requeue(&a, "nope", "ann", 0, "sales", 150).await.unwrap(), RequeueOutcome::NotAssigned);
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
    assert_eq!(
        store.requeue(&a, "c1", "bob", 0, "sales", 150).await.unwrap(),
        RequeueOutcome::NotAssigned,
        "other agent"
    );
    assert_eq!(store.route(&a, "c1").await.unwrap().unwrap().status, RouteStatus::Assigned);

    assert_eq!(store.requeue(&a, "c1", "ann", 0, "sales", 200).await.unwrap(), RequeueOutcome::Requeued);
    assert!(store.get_agent(&a, "ann").await.unwrap().unwrap().load.is_empty(), "agent freed");
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!(
        route,
        Route {
            conversation_id: "c1".into(),
            skill_id: "sales".into(),
            status: RouteStatus::Queued,
            agent_id: "ann".into(),
            version: 1,
            queued_at_ms: 200,
            requeued_version: 1,
        }
    );
    assert_eq!(
        store.queue_head(&a, "sales", 10).await.unwrap(),
        vec![QueueEntry { conversation_id: "c1".into(), queued_at_ms: 200, avoid_agent_id: "ann".into() }]
    );
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
    assert_eq!(
        store.requeue(&a, "c1", "ann", 0, "sales", 250).await.unwrap(),
        RequeueOutcome::NotAssigned,
        "not twice"
    );

    // Claimable again, on the new skill only.
    assert_eq!(store.claim(&claim_of(&a, "c1", "bob", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
    let sales = |agent: &str| Claim { skill_id: "sales".into(), ..claim_of(&a, "c1", agent, ONE, 0) };
    assert_eq!(store.claim(&sales("bob")).await.unwrap(), ClaimOutcome::Claimed { version: 2 });
    assert_eq!(store.route(&a, "c1").await.unwrap().unwrap().agent_id, "bob");
    assert_eq!(store.requeue(&a, "c1", "ann", 0, SKILL, 300).await.unwrap(), RequeueOutcome::NotAssigned);
    assert_eq!(store.requeue(&a, "c1", "bob", 0, SKILL, 300).await.unwrap(), RequeueOutcome::Requeued);
    assert_eq!(store.queue_head(&a, SKILL, 10).await.unwrap()[0].avoid_agent_id, "bob");
    assert!(store.get_agent(&a, "bob").await.unwrap().unwrap().load.is_empty());

    // Released while queued after a requeue: leaves that queue.
    assert_eq!(store.release(&a, "c1", 10_000).await.unwrap(), ReleaseOutcome::LeftQueue { skill_id: SKILL.into() });
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
}

/// The router loads the queues of active skills on start (architecture §3): every non-empty
/// queue is listed, an emptied one is not.
async fn active_skills_tracks_non_empty_queues(store: Store) {
    let (a, b) = (unique("acct"), unique("acct"));
    assert!(store.active_skills().await.unwrap().is_empty());
    online_agent(&store, &a, "ann", &[SKILL, "sales"], 5).await;

    queued_conversation(&store, &a, "c1", 1).await;
    queued_conversation(&store, &a, "c2", 2).await;
    open(&store, &b, "x1").await;
    store.enqueue(&b, "x1", "support", 1).await.unwrap();
    let mut expected = vec![(a.clone(), SKILL.to_string()), (b.clone(), "support".to_string())];
    expected.sort();
    assert_eq!(store.active_skills().await.unwrap(), expected);

    // A redelivered enqueue on another skill changes nothing.
    store.enqueue(&a, "c1", "sales", 3).await.unwrap();
    assert_eq!(store.active_skills().await.unwrap(), expected);

    // Claim one: still non-empty. Claim the other: gone.
    assert!(matches!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.active_skills().await.unwrap(), expected);
    assert!(matches!(store.claim(&claim_of(&a, "c2", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.active_skills().await.unwrap(), vec![(b.clone(), "support".to_string())]);

    // Requeue marks the target skill active.
    assert_eq!(store.requeue(&a, "c1", "ann", 0, "sales", 10).await.unwrap(), RequeueOutcome::Requeued);
    let mut expected = vec![(a.clone(), "sales".to_string()), (b.clone(), "support".to_string())];
    expected.sort();
    assert_eq!(store.active_skills().await.unwrap(), expected);

    // Release of the last queued conversation empties it.
    assert_eq!(
        store.release(&b, "x1", 10_000).await.unwrap(),
        ReleaseOutcome::LeftQueue { skill_id: "support".into() }
    );
    assert_eq!(store.active_skills().await.unwrap(), vec![(a.clone(), "sales".to_string())]);
    store.release(&a, "c1", 10_000).await.unwrap();
    assert!(store.active_skills().await.unwrap().is_empty());

    // And it comes back with the next enqueue.
    open(&store, &b, "x2").await;
    store.enqueue(&b, "x2", "support", 20).await.unwrap();
    assert_eq!(store.active_skills().await.unwrap(), vec![(b, "support".to_string())]);
}

// --- Redis only: decoding and errors ----------------------------------------------------------

mod redis_only {
    use super::*;
    use ::redis::AsyncCommands;

    async fn raw(server: &RedisServer) -> ::redis::aio::MultiplexedConnection {
        let client = ::redis::Client::open(server.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// Malformed stored values are `StoreError::Corrupt`, never a panic.
    #[tokio::test]
    async fn malformed_values_are_corrupt() {
        let server = RedisServer::start().await.expect("start redis-server");
        let prefix = unique("sy-corrupt");
        let store = RedisStore::connect(&server.url(), &prefix, Retention::default()).await.unwrap();
        let mut con = raw(&server).await;
        let key = |family: &str, id: &str| format!("{prefix}:{{acct}}:{family}:{id}");
        let corrupt = |r: Result<(), StoreError>, what: &str| {
            assert!(matches!(r, Err(StoreError::Corrupt(_))), "{what}: {r:?}");
        };

        // Agent with a non-numeric max and an unknown state.
        assert!(store.create_agent("acct", &spec("ann", &[SKILL], 2)).await.unwrap());
        let _: () = con.hset(key("agent", "ann"), "max", "two").await.unwrap();
        corrupt(store.get_agent("acct", "ann").await.map(|_| ()), "agent max");
        corrupt(store.agents_with_skill("acct", SKILL).await.map(|_| ()), "agents_with_skill");
        let _: () = con.hset(key("agent", "ann"), "max", "2").await.unwrap();
        let _: () = con.hset(key("agent", "ann"), "state", "dancing").await.unwrap();
        corrupt(store.get_agent("acct", "ann").await.map(|_| ()), "agent state");
        let _: () = con.hset(key("agent", "ann"), "state", "online").await.unwrap();
        let _: () = con.hset(key("agent", "ann"), "logged_in", "1").await.unwrap();

        // A load weight that is not a number: the claim script refuses instead of guessing.
        store.open_conversation("acct", &new_conversation("c1", "alice", "")).await.unwrap();
        store.enqueue("acct", "c1", SKILL, 1).await.unwrap();
        let _: () = con.hset(key("agent-load", "ann"), "cX", "heavy").await.unwrap();
        corrupt(store.claim(&claim_of("acct", "c1", "ann", ONE, 0)).await.map(|_| ()), "claim with bad load");
        assert_eq!(store.queue_depth("acct", SKILL).await.unwrap(), 1, "nothing changed");

        // Conversation, route, transcript, outbox.
        // (An unknown status is a newer version's, read as `Newer`: forward_compat.rs.)
        let _: () = con.hset(key("conv", "c1"), "status", "").await.unwrap();
        corrupt(store.get_conversation("acct", "c1").await.map(|_| ()), "conversation status");
        corrupt(store.append_message("acct", "c1", &message("x", ""), None).await.map(|_| ()), "append to bad status");
        let _: () = con.hdel(key("route", "c1"), "version").await.unwrap();
        corrupt(store.route("acct", "c1").await.map(|_| ()), "route missing field");
        let _: () = con.rpush(key("transcript", "c1"), "garbage").await.unwrap();
        corrupt(store.transcript_page("acct", "c1", 0, 1000).await.map(|_| ()), "transcript line");
        let _: () = con.hset(key("outbox-meta", "1"), "acked", "-x").await.unwrap();
        corrupt(store.outbox_acked("acct", 1).await.map(|_| ()), "outbox acked");
        corrupt(store.outbox_ack("acct", 1, 1).await.map(|_| ()), "outbox ack");

        // A key of the wrong type.
        let _: () = con.set(key("route", "c2"), "not a hash").await.unwrap();
        corrupt(store.route("acct", "c2").await.map(|_| ()), "wrong type");
        corrupt(store.enqueue("acct", "c2", SKILL, 1).await.map(|_| ()), "wrong type in a script");
    }

    /// Connection errors are `StoreError::Unavailable`.
    #[tokio::test]
    async fn lost_server_is_unavailable() {
        let server = RedisServer::start().await.expect("start redis-server");
        let store = RedisStore::connect(&server.url(), &unique("sy-down"), Retention::default()).await.unwrap();
        store.ping().await.unwrap();
        let url = server.url();
        drop(server);
        let r = store.ping().await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        let r = store.claim(&claim_of("acct", "c1", "ann", ONE, 0)).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        let r = RedisStore::connect(&url, "p", Retention::default()).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{:?}", r.map(|_| ()));
    }

    #[tokio::test]
    async fn prefix_cannot_change_the_hash_tag() {
        let r = RedisStore::connect("redis://127.0.0.1:1", "bad{prefix}", Retention::default()).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{:?}", r.map(|_| ()));
    }

    /// Account ids cannot break out of their hash tag or reach another account's keys
    /// (invariant 7): every key of an account holds the same `{...}` tag.
    #[tokio::test]
    async fn every_key_of_an_account_shares_its_hash_tag() {
        let server = RedisServer::start().await.expect("start redis-server");
        let prefix = unique("sy-tag");
        let store: Store = Arc::new(RedisStore::connect(&server.url(), &prefix, Retention::default()).await.unwrap());
        let account = "we}ird:{acct}%";
        store.create_account(account, "Weird").await.unwrap();
        store.create_skill(account, &SkillRecord { skill_id: SKILL.into(), name: "B".into() }).await.unwrap();
        online_agent(&store, account, "ann", &[SKILL], 2).await;
        queued_conversation(&store, account, "c1", 1).await;
        store.append_message(account, "c1", &message("hi", "m1"), None).await.unwrap();
        store.outbox_append(account, 1, "d1", "", Bytes::from_static(b"x")).await.unwrap();
        assert!(matches!(
            store.claim(&claim_of(account, "c1", "ann", ONE, 0)).await.unwrap(),
            ClaimOutcome::Claimed { .. }
        ));
        assert_eq!(store.active_skills().await.unwrap(), vec![]);
        store.requeue(account, "c1", "ann", 0, SKILL, 2).await.unwrap();
        assert_eq!(store.active_skills().await.unwrap(), vec![(account.to_string(), SKILL.to_string())]);

        let mut con = raw(&server).await;
        let keys: Vec<String> = con.keys(format!("{prefix}:*")).await.unwrap();
        let tag = format!("{prefix}:{{we%7Dird%3A%7Bacct%7D%25}}:");
        let mut families = HashSet::new();
        for key in &keys {
            if key == &format!("{prefix}:active-accounts") {
                continue;
            }
            let rest = key.strip_prefix(&tag).unwrap_or_else(|| panic!("{key} lacks the account tag"));
            families.insert(rest.split(':').next().unwrap().to_string());
        }
        assert!(families.len() >= 12, "{families:?}");
        // And another account with a similar id sees nothing of it.
        assert!(!store.account_exists("we").await.unwrap());
        assert_eq!(store.get_agent("we}ird", "ann").await.unwrap(), None);
    }
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
            now_ms: 1_000 + i as i64,
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
