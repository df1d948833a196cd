//! Conformance of the store's data-safety rules, against the in-memory store and Redis:
//! idempotency keys scoped to (account, channel, consumer) within a window; no message dropped
//! or over its limits; requeues that apply once; and retention, so nothing grows with the
//! number of conversations ever handled. Partner outboxes: `outbox_conformance.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_platform::store::*;
use switchyard_testkit::{unique, RedisServer};

mod support;
use support::*;

conformance!(
    open_dedupe_is_scoped_to_channel_and_consumer,
    consumer_messages_are_limited_per_conversation_and_by_rate,
    transcript_pages_and_tail,
    enqueue_and_claim_keep_closed_conversations_out_of_queues,
    requeue_applies_once_per_assignment,
);

fn on_channel(id: &str, consumer: &str, partner: &str, channel: i32) -> NewConversation {
    NewConversation { channel, ..new_conversation(id, consumer, partner) }
}

fn existing(outcome: OpenOutcome) -> String {
    match outcome {
        OpenOutcome::Existing(rec) => rec.conversation_id,
        other => panic!("expected Existing, got {other:?}"),
    }
}

/// Finding 2: `partner_message_id` was deduplicated per account, so consumer B opening with
/// the id consumer A used got A's conversation (and B's text landed in A's transcript), and
/// after A's conversation closed, consumer C got the closed conversation. Keys are scoped to
/// (account, channel, consumer). Invariant 6 still holds for one consumer.
async fn open_dedupe_is_scoped_to_channel_and_consumer(store: Store) {
    let a = unique("acct");
    let first = created(store.open_conversation(&a, &new_conversation("c1", "alice", "pm-1")).await.unwrap());
    assert_eq!(
        first,
        ConversationRecord {
            conversation_id: "c1".into(),
            consumer_id: "alice".into(),
            channel: 3,
            skill_id: SKILL.into(),
            language: "en".into(),
            status: ConversationStatus::Open,
            opened_at_ms: 1_000,
            closed_at_ms: 0,
            pending: PendingSide::Agent,
            last_consumer_message_ms: 0,
            last_agent_message_ms: 0,
            waiting_since_ms: 1_000,
            readers: Vec::new(),
            managers: Vec::new(),
            profile: [("tier".to_owned(), "gold".to_owned())].into(),
            skill_reason: "requested".into(),
            skill_detail: String::new(),
            first_conversation: true,
        }
    );
    // The same consumer repeating the id: the same conversation, nothing written.
    assert_eq!(existing(store.open_conversation(&a, &new_conversation("c2", "alice", "pm-1")).await.unwrap()), "c1");
    assert_eq!(store.get_conversation(&a, "c2").await.unwrap(), None);
    // Another consumer with the same id: its own conversation.
    let bob = created(store.open_conversation(&a, &new_conversation("c3", "bob", "pm-1")).await.unwrap());
    assert_eq!((bob.conversation_id.as_str(), bob.consumer_id.as_str()), ("c3", "bob"));

    // After the close, alice's repeat still answers c1 (a late redelivery opens nothing) ...
    store.close_conversation(&a, "c1", 9_000, None).await.unwrap();
    let repeat = store.open_conversation(&a, &new_conversation("c4", "alice", "pm-1")).await.unwrap();
    let OpenOutcome::Existing(rec) = repeat else { panic!("expected Existing, got {repeat:?}") };
    assert_eq!((rec.conversation_id.as_str(), rec.status), ("c1", ConversationStatus::Closed));
    // ... but consumer carol gets a new one, never the closed conversation of someone else.
    let carol = created(store.open_conversation(&a, &new_conversation("c5", "carol", "pm-1")).await.unwrap());
    assert_eq!(carol.conversation_id, "c5");
    // On another channel the same consumer's id is another key.
    let other_channel = store.open_conversation(&a, &on_channel("c6", "alice", "pm-1", 4)).await.unwrap();
    assert_eq!(created(other_channel).channel, 4);

    // Invariant 7: another account is unrelated.
    let b = unique("acct");
    created(store.open_conversation(&b, &new_conversation("c1", "alice", "pm-1")).await.unwrap());
}

/// Finding 4: one chatty consumer could grow a transcript without bound. A conversation holds
/// at most `max_messages`; a consumer sends at most its rate (a burst of N, then one per
/// 60 s / N), counted on its channel across its conversations; agents are not rate-limited; a
/// redelivery is still answered as a duplicate.
async fn consumer_messages_are_limited_per_conversation_and_by_rate(store: Store) {
    let a = unique("acct");
    created(store.open_conversation(&a, &new_conversation("c1", "alice", "")).await.unwrap());
    let limited =
        |text: &str, dedupe: &str, at: i64| NewMessage { consumer_rate_per_minute: Some(3), ..msg(text, dedupe, at) };
    for i in 0..3 {
        let outcome = store.append_message(&a, "c1", &limited("hi", &format!("m{i}"), 10_000), None).await.unwrap();
        assert!(matches!(outcome, AppendOutcome::Appended(_)), "{outcome:?}");
    }
    assert_eq!(
        store.append_message(&a, "c1", &limited("4th", "m3", 10_000), None).await.unwrap(),
        AppendOutcome::RateLimited { retry_after_ms: 20_000 }
    );
    // Nothing was written by the refusal; a redelivered message is still its duplicate.
    assert_eq!(store.transcript_tail(&a, "c1", 0).await.unwrap().1, 3);
    assert!(matches!(
        store.append_message(&a, "c1", &limited("hi", "m1", 10_000), None).await.unwrap(),
        AppendOutcome::Duplicate(_)
    ));
    // An agent's message does not count against the consumer.
    let agent = NewMessage { from: 2, sender_id: "ann".into(), ..msg("hello", "", 10_000) };
    assert!(matches!(store.append_message(&a, "c1", &agent, None).await.unwrap(), AppendOutcome::Appended(_)));
    // Another consumer has its own budget; the same consumer after one interval may send one.
    created(store.open_conversation(&a, &new_conversation("c2", "bob", "")).await.unwrap());
    assert!(matches!(
        store.append_message(&a, "c2", &limited("hi", "", 10_000), None).await.unwrap(),
        AppendOutcome::Appended(_)
    ));
    assert!(matches!(
        store.append_message(&a, "c1", &limited("later", "m4", 30_000), None).await.unwrap(),
        AppendOutcome::Appended(_)
    ));
    assert!(matches!(
        store.append_message(&a, "c1", &limited("again", "m5", 30_000), None).await.unwrap(),
        AppendOutcome::RateLimited { .. }
    ));

    // The per-conversation limit counts every message, whoever sent it.
    let capped = |text: &str| NewMessage { max_messages: 6, ..msg(text, "", 40_000) };
    assert!(matches!(
        store.append_message(&a, "c1", &capped("sixth"), None).await.unwrap(),
        AppendOutcome::Appended(_)
    ));
    assert_eq!(
        store.append_message(&a, "c1", &capped("seventh"), None).await.unwrap(),
        AppendOutcome::TooManyMessages { limit: 6 }
    );
    assert_eq!(store.transcript_tail(&a, "c1", 0).await.unwrap().1, 6);
}

/// Finding 4: assignments carry only the newest messages; the rest is read page by page.
async fn transcript_pages_and_tail(store: Store) {
    let a = unique("acct");
    created(store.open_conversation(&a, &new_conversation("c1", "alice", "")).await.unwrap());
    for i in 1..=7 {
        store.append_message(&a, "c1", &msg(&format!("t{i}"), "", i), None).await.unwrap();
    }
    let texts = |m: Vec<StoredMessage>| m.into_iter().map(|m| (m.sequence, m.text)).collect::<Vec<_>>();
    assert_eq!(
        texts(store.transcript_page(&a, "c1", 0, 3).await.unwrap()),
        [(1, "t1".into()), (2, "t2".into()), (3, "t3".into())]
    );
    assert_eq!(texts(store.transcript_page(&a, "c1", 5, 10).await.unwrap()), [(6, "t6".into()), (7, "t7".into())]);
    assert!(store.transcript_page(&a, "c1", 7, 10).await.unwrap().is_empty());
    assert!(store.transcript_page(&a, "c1", u64::MAX, 10).await.unwrap().is_empty());
    assert!(store.transcript_page(&a, "c1", 0, 0).await.unwrap().is_empty());
    let (tail, total) = store.transcript_tail(&a, "c1", 2).await.unwrap();
    assert_eq!((texts(tail), total), (vec![(6, "t6".into()), (7, "t7".into())], 7));
    let (tail, total) = store.transcript_tail(&a, "c1", 100).await.unwrap();
    assert_eq!((tail.len(), tail[0].sequence, total), (7, 1, 7));
    assert_eq!(store.transcript_tail(&a, "nope", 5).await.unwrap(), (vec![], 0));
}

/// A route command for a closed conversation queues nothing, and a claim that finds a queued
/// conversation closed takes it out of the queue (no entry waits forever on a dead id).
async fn enqueue_and_claim_keep_closed_conversations_out_of_queues(store: Store) {
    let a = unique("acct");
    assert_eq!(store.enqueue(&a, "ghost", SKILL, 1, &Placement::by_due(1)).await.unwrap(), EnqueueOutcome::NotOpen);
    open(&store, &a, "closed").await;
    store.close_conversation(&a, "closed", 2, None).await.unwrap();
    assert_eq!(store.enqueue(&a, "closed", SKILL, 3, &Placement::by_due(3)).await.unwrap(), EnqueueOutcome::NotOpen);
    assert_eq!(store.route(&a, "closed").await.unwrap(), None, "nothing written");

    queued_conversation(&store, &a, "c1", 5).await;
    store.close_conversation(&a, "c1", 6, None).await.unwrap();
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
    assert!(store.active_skills().await.unwrap().iter().all(|(acct, _)| acct != &a));
}

/// Finding 6: a redelivered back-to-queue requeued twice. A requeue names the assignment it
/// returns; the same one again is recognised, a stale one changes nothing, a closed
/// conversation is left alone.
async fn requeue_applies_once_per_assignment(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    queued_conversation(&store, &a, "c1", 1).await;
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 2, SKILL, 10)).await.unwrap(),
        RequeueOutcome::NotAssigned,
        "stale"
    );
    assert_eq!(store.requeue(&back_to_queue(&a, "c1", "ann", 1, SKILL, 10)).await.unwrap(), RequeueOutcome::Requeued);
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.requeued_version), (RouteStatus::Queued, 1));
    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 1, SKILL, 11)).await.unwrap(),
        RequeueOutcome::AlreadyRequeued
    );
    // Back to the same agent (nobody else): the redelivered requeue of assignment 1 does not
    // take assignment 2 away.
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { version: 2 });
    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 1, SKILL, 12)).await.unwrap(),
        RequeueOutcome::AlreadyRequeued
    );
    assert_eq!(store.route(&a, "c1").await.unwrap().unwrap().status, RouteStatus::Assigned);
    assert_eq!(store.get_agent(&a, "ann").await.unwrap().unwrap().load.len(), 1);
    // Closed: nothing to do, nothing to announce.
    store.close_conversation(&a, "c1", 13, None).await.unwrap();
    store.release(&a, "c1", 14).await.unwrap();
    assert_eq!(store.requeue(&back_to_queue(&a, "c1", "ann", 2, SKILL, 15)).await.unwrap(), RequeueOutcome::Closed);
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
}

// --- retention: nothing grows with the conversations ever handled --------------------------------

const SHORT: Retention = Retention { closed_ms: 400, dedupe_ms: 400, consumer_ms: 400 };
/// Long enough that the churn's keys are all still there when it ends.
const GROWTH: Retention = Retention { closed_ms: 3_000, dedupe_ms: 3_000, consumer_ms: 3_000 };

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Opens, talks in, routes, assigns, closes and releases `n` conversations of `a`, with the
/// clock as Redis sees it (retention is real time there).
async fn churn(store: &Store, a: &str, n: usize) {
    for i in 0..n {
        let id = format!("churn-{i}");
        let now = now_ms();
        let open = NewConversation {
            opened_at_ms: now,
            ..new_conversation(&id, &format!("consumer-{i}"), &format!("pm-{i}"))
        };
        created(store.open_conversation(a, &open).await.unwrap());
        let m = NewMessage { consumer_rate_per_minute: Some(60), ..msg("hello", &format!("pm-{i}"), now) };
        store.append_message(a, &id, &m, None).await.unwrap();
        assert_eq!(store.enqueue(a, &id, SKILL, now, &Placement::by_due(now)).await.unwrap(), EnqueueOutcome::Queued);
        assert!(matches!(
            store.claim(&Claim { now_ms: now, ..claim_of(a, &id, "ann", ONE, 0) }).await.unwrap(),
            ClaimOutcome::Claimed { .. }
        ));
        store.announced(a, &id, 1).await.unwrap();
        let write = OutboxWrite { channel: 3, payload: Bytes::from_static(b"closed") };
        store.close_conversation(a, &id, now, Some(&write)).await.unwrap();
        store.release(a, &id, now).await.unwrap();
    }
    let last = store.outbox_read(a, 3, 0, 100_000).await.unwrap().last().map_or(0, |e| e.sequence);
    store.outbox_delivered(a, 3, last).await.unwrap();
    store.outbox_ack(a, 3, last).await.unwrap();
}

#[tokio::test]
async fn memory_store_sizes_return_to_their_baseline_after_retention() {
    let memory = Arc::new(MemoryStore::with_retention(GROWTH));
    let store: Store = memory.clone();
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 10_000).await;
    let past_retention = || now_ms() + GROWTH.closed_ms.max(GROWTH.dedupe_ms) + 61_000;
    // What one account keeps whatever it handled (an outbox's counters) exists after the first.
    churn(&store, &a, 1).await;
    store.maintain(past_retention()).await.unwrap();
    let baseline = memory.sizes();
    churn(&store, &a, 2_000).await;
    assert!(memory.sizes()["conversations"] >= 2_000, "the churn's state is kept for the retention");
    store.maintain(past_retention()).await.unwrap();
    assert_eq!(memory.sizes(), baseline);
}

#[tokio::test]
async fn redis_key_count_returns_to_its_baseline_after_retention() {
    let server = RedisServer::start().await.expect("start redis-server");
    let prefix = unique("sy-growth");
    let store: Store = Arc::new(RedisStore::connect(&server.url(), &prefix, GROWTH).await.unwrap());
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 10_000).await;
    let mut con = ::redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    // What stays whatever was handled (the outbox counters, the index of active accounts)
    // exists after the first conversation; the baseline is taken once that one expired.
    churn(&store, &a, 1).await;
    let baseline = settle(&mut con, &prefix, None).await;
    churn(&store, &a, 2_000).await;
    let after_churn = count_keys(&mut con, &prefix).await;
    assert!(after_churn > baseline + 2_000, "{after_churn} keys after the churn, {baseline} before");
    let now = settle(&mut con, &prefix, Some(baseline)).await;
    assert_eq!(now, baseline, "keys of finished conversations outlived the retention");
}

/// Waits (at most 15 s) until the key count reaches `target`, or stops changing past the
/// retention when there is no target; returns the count.
async fn settle(con: &mut ::redis::aio::MultiplexedConnection, prefix: &str, target: Option<usize>) -> usize {
    tokio::time::sleep(Duration::from_millis(GROWTH.closed_ms as u64)).await;
    let mut now = count_keys(con, prefix).await;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = count_keys(con, prefix).await;
        let done = match target {
            Some(t) => next == t,
            None => next == now,
        };
        now = next;
        if done {
            break;
        }
    }
    now
}

/// Keys under `prefix`, counted with SCAN (KEYS would block a real server).
async fn count_keys(con: &mut ::redis::aio::MultiplexedConnection, prefix: &str) -> usize {
    let mut cursor: u64 = 0;
    let mut count = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await
            .unwrap();
        count += keys.len();
        if next == 0 {
            return count;
        }
        cursor = next;
    }
}

/// Finding 2's window: a partner message id is remembered for the dedupe window only.
async fn dedupe_window_ends(store: Store) {
    let a = unique("acct");
    let start = now_ms();
    let open = |id: &str, at: i64| NewConversation { opened_at_ms: at, ..new_conversation(id, "alice", "pm-1") };
    created(store.open_conversation(&a, &open("c1", start)).await.unwrap());
    store.close_conversation(&a, "c1", start, None).await.unwrap();
    assert_eq!(existing(store.open_conversation(&a, &open("c2", start + 10)).await.unwrap()), "c1");
    tokio::time::sleep(Duration::from_millis(SHORT.dedupe_ms as u64 + 200)).await;
    let later = now_ms();
    store.maintain(later).await.unwrap();
    let fresh = created(store.open_conversation(&a, &open("c3", later)).await.unwrap());
    assert_eq!(fresh.conversation_id, "c3", "the same id after the window is a new open");
}

#[tokio::test]
async fn memory_dedupe_window_ends() {
    dedupe_window_ends(Arc::new(MemoryStore::with_retention(SHORT))).await;
}

#[tokio::test]
async fn redis_dedupe_window_ends() {
    let server = RedisServer::start().await.expect("start redis-server");
    let store = RedisStore::connect(&server.url(), &unique("sy-window"), SHORT).await.unwrap();
    dedupe_window_ends(Arc::new(store)).await;
}
