//! Conformance of the partner outboxes, against the in-memory store and Redis: sequences and
//! idempotent appends until the ack, acks that cannot pass what was delivered, an entry about a
//! conversation written once for as long as the conversation is kept, and nothing after a
//! conversation's close (issue 8, findings 5 and 6).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    outbox_sequences_and_idempotent_append_until_ack,
    outbox_ack_needs_delivery_and_trims,
    an_entry_about_a_conversation_is_written_once_even_after_its_ack,
    nothing_follows_the_close_on_the_partner_stream,
);

async fn outbox_sequences_and_idempotent_append_until_ack(store: Store) {
    let a = unique("acct");
    let payload = |s: &str| Bytes::from(s.to_owned());
    assert!(store.outbox_read(&a, 7, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.outbox_acked(&a, 7).await.unwrap(), 0);
    assert_eq!(store.outbox_append(&a, 7, "d1", "", payload("one")).await.unwrap(), OutboxAppend::Appended(1));
    assert_eq!(store.outbox_append(&a, 7, "d2", "", payload("two")).await.unwrap(), OutboxAppend::Appended(2));
    assert_eq!(store.outbox_append(&a, 7, "d1", "", payload("changed")).await.unwrap(), OutboxAppend::Duplicate(1));
    let binary = Bytes::from_static(b"\x00\xff\n{bin}\x00");
    assert_eq!(store.outbox_append(&a, 7, "d3", "", binary.clone()).await.unwrap(), OutboxAppend::Appended(3));
    // An empty dedupe id means none: each call appends.
    assert_eq!(store.outbox_append(&a, 7, "", "", payload("e1")).await.unwrap(), OutboxAppend::Appended(4));
    assert_eq!(store.outbox_append(&a, 7, "", "", payload("e1")).await.unwrap(), OutboxAppend::Appended(5));
    // Sequences are per (account, channel).
    assert_eq!(store.outbox_append(&a, 8, "d1", "", payload("x")).await.unwrap(), OutboxAppend::Appended(1));
    assert_eq!(
        store.outbox_append(&unique("acct"), 7, "d1", "", payload("y")).await.unwrap(),
        OutboxAppend::Appended(1)
    );

    let entry = |sequence: u64, p: Bytes| OutboxEntry { sequence, payload: p, message_sequence: 0 };
    let all = store.outbox_read(&a, 7, 0, 100).await.unwrap();
    assert_eq!(
        all,
        vec![
            entry(1, payload("one")),
            entry(2, payload("two")),
            entry(3, binary),
            entry(4, payload("e1")),
            entry(5, payload("e1"))
        ]
    );
    assert_eq!(store.outbox_read(&a, 7, 2, 2).await.unwrap(), all[2..4].to_vec(), "after, limit");
    assert!(store.outbox_read(&a, 7, 2, 0).await.unwrap().is_empty());
    assert!(store.outbox_read(&a, 7, u64::MAX, 10).await.unwrap().is_empty());

    // Acknowledged entries take their dedupe ids with them (nothing grows with the stream).
    store.outbox_delivered(&a, 7, 2).await.unwrap();
    assert_eq!(store.outbox_ack(&a, 7, 2).await.unwrap(), AckOutcome::Acked);
    assert_eq!(store.outbox_append(&a, 7, "d1", "", payload("new")).await.unwrap(), OutboxAppend::Appended(6));
    assert_eq!(store.outbox_append(&a, 7, "d3", "", payload("kept")).await.unwrap(), OutboxAppend::Duplicate(3));
}

/// Finding 5: an ack of a sequence no stream had delivered was accepted and dropped entries
/// nobody had seen.
async fn outbox_ack_needs_delivery_and_trims(store: Store) {
    let a = unique("acct");
    for i in 1..=5u64 {
        store.outbox_append(&a, 1, &format!("d{i}"), "", Bytes::from(format!("p{i}"))).await.unwrap();
    }
    assert_eq!(store.outbox_ack(&a, 1, 1).await.unwrap(), AckOutcome::NotDelivered { delivered: 0 });
    store.outbox_delivered(&a, 1, 3).await.unwrap();
    assert_eq!(store.outbox_ack(&a, 1, 4).await.unwrap(), AckOutcome::NotDelivered { delivered: 3 });
    let seqs = |entries: Vec<OutboxEntry>| entries.into_iter().map(|e| e.sequence).collect::<Vec<_>>();
    assert_eq!(seqs(store.outbox_read(&a, 1, 0, 10).await.unwrap()), [1, 2, 3, 4, 5], "a refused ack drops nothing");

    assert_eq!(store.outbox_ack(&a, 1, 3).await.unwrap(), AckOutcome::Acked);
    assert_eq!(store.outbox_acked(&a, 1).await.unwrap(), 3);
    assert_eq!(seqs(store.outbox_read(&a, 1, 0, 10).await.unwrap()), [4, 5], "acked entries are dropped");
    assert_eq!(store.outbox_ack(&a, 1, 2).await.unwrap(), AckOutcome::Acked, "an old ack is fine");
    assert_eq!(store.outbox_acked(&a, 1).await.unwrap(), 3, "never moves backwards");

    // Delivered never moves back and never past the last entry.
    store.outbox_delivered(&a, 1, 2).await.unwrap();
    store.outbox_delivered(&a, 1, 1_000).await.unwrap();
    assert_eq!(store.outbox_ack(&a, 1, 6).await.unwrap(), AckOutcome::NotDelivered { delivered: 5 });
    assert_eq!(store.outbox_ack(&a, 1, 5).await.unwrap(), AckOutcome::Acked);
    assert!(store.outbox_read(&a, 1, 0, 10).await.unwrap().is_empty());
    // Per channel.
    assert_eq!(store.outbox_ack(&a, 2, 1).await.unwrap(), AckOutcome::NotDelivered { delivered: 0 });
}

/// An entry about a conversation ("agent joined" of one assignment) is written once for as
/// long as the conversation is kept: its dedupe id outlives the partner's ack, so a second
/// writer of the same announcement (the agent's first reply) cannot repeat it after the ack.
async fn an_entry_about_a_conversation_is_written_once_even_after_its_ack(store: Store) {
    let a = unique("acct");
    open(&store, &a, "c1").await;
    let joined = || Bytes::from_static(b"joined");
    assert_eq!(store.outbox_append(&a, 3, "joined:c1:1", "c1", joined()).await.unwrap(), OutboxAppend::Appended(1));
    store.outbox_delivered(&a, 3, 1).await.unwrap();
    assert_eq!(store.outbox_ack(&a, 3, 1).await.unwrap(), AckOutcome::Acked);
    assert_eq!(store.outbox_append(&a, 3, "joined:c1:1", "c1", joined()).await.unwrap(), OutboxAppend::Duplicate(1));
    assert!(store.outbox_read(&a, 3, 0, 10).await.unwrap().is_empty(), "nothing written again");
    // Another assignment is another announcement.
    assert_eq!(store.outbox_append(&a, 3, "joined:c1:2", "c1", joined()).await.unwrap(), OutboxAppend::Appended(2));
}

/// Finding 6: "agent joined" could follow "closed" on the partner stream. Entries about a
/// conversation are refused once it closed; an agent's message and the close are written to
/// the outbox in the same step as the transcript and the record, so their order there is
/// the order in which they happened.
async fn nothing_follows_the_close_on_the_partner_stream(store: Store) {
    let a = unique("acct");
    created(store.open_conversation(&a, &new_conversation("c1", "alice", "")).await.unwrap());
    let joined = Bytes::from_static(b"joined");
    assert_eq!(store.outbox_append(&a, 3, "j1", "c1", joined.clone()).await.unwrap(), OutboxAppend::Appended(1));
    assert_eq!(store.outbox_append(&a, 3, "j2", "nope", joined.clone()).await.unwrap(), OutboxAppend::NotOpen);

    let reply = NewMessage { from: 2, sender_id: "ann".into(), ..msg("hello", "", 5) };
    let write = OutboxWrite { channel: 3, payload: Bytes::from_static(b"reply") };
    let AppendOutcome::Appended(stored) = store.append_message(&a, "c1", &reply, Some(&write)).await.unwrap() else {
        panic!("expected Appended")
    };
    let closed = OutboxWrite { channel: 3, payload: Bytes::from_static(b"closed") };
    assert!(matches!(store.close_conversation(&a, "c1", 9, Some(&closed)).await.unwrap(), CloseOutcome::Closed(_)));
    // A second close writes no second "closed"; a late "joined" is refused.
    assert!(matches!(
        store.close_conversation(&a, "c1", 10, Some(&closed)).await.unwrap(),
        CloseOutcome::AlreadyClosed(_)
    ));
    assert_eq!(store.outbox_append(&a, 3, "j3", "c1", joined.clone()).await.unwrap(), OutboxAppend::NotOpen);
    // A refused message writes nothing to the outbox either.
    assert_eq!(store.append_message(&a, "c1", &reply, Some(&write)).await.unwrap(), AppendOutcome::Closed);
    assert_eq!(
        store.outbox_read(&a, 3, 0, 10).await.unwrap(),
        vec![
            OutboxEntry { sequence: 1, payload: joined, message_sequence: 0 },
            OutboxEntry { sequence: 2, payload: Bytes::from_static(b"reply"), message_sequence: stored.sequence },
            OutboxEntry { sequence: 3, payload: Bytes::from_static(b"closed"), message_sequence: 0 },
        ]
    );
}
