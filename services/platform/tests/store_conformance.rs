//! The state store: ping on both implementations, and the Redis store's own concerns (decoding
//! and errors, keys and hash tags). The families have their own suites, each a generic async
//! function per rule run against the in-memory store (`memory::<name>`) and against
//! `RedisStore` on a real `redis-server` (`redis::<name>`), so the two cannot drift:
//! agent_store_conformance.rs, conversation_store_conformance.rs, routing_store_conformance.rs,
//! claim_conformance.rs, timer_conformance.rs, store_safety.rs.
//!
//! A missing `redis-server` binary fails the redis tests with an install hint; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use switchyard_platform::store::*;
use switchyard_testkit::{unique, RedisServer};

mod support;
use support::*;

conformance!(ping_answers);

// --- ping, accounts, skills ---------------------------------------------------------------------

async fn ping_answers(store: Store) {
    store.ping().await.unwrap();
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
        store.enqueue("acct", "c1", SKILL, 1, &Placement::by_due(1)).await.unwrap();
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
        corrupt(
            store.enqueue("acct", "c2", SKILL, 1, &Placement::by_due(1)).await.map(|_| ()),
            "wrong type in a script",
        );
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
        store.requeue(&back_to_queue(account, "c1", "ann", 0, SKILL, 2)).await.unwrap();
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
