//! Conformance of the conversation store family (`ConversationStore`: conversations and their
//! transcripts; outboxes and idempotency keys are in store_safety.rs), in memory and on a real
//! Redis. Rule numbers (R…) refer to the domain reference.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    open_one_conversation_per_consumer,
    open_burst_for_one_consumer_creates_one_conversation,
    close_frees_the_consumer,
    append_dedupes_and_rejects_closed,
);

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
