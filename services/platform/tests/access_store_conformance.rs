//! `AccessStore` conformance: partner API keys and the audit trail behave the same on the
//! in-memory store and on a real redis-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::Store;
use switchyard_platform::store::*;

fn key(account: &str, id: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        account_id: account.into(),
        key_id: id.into(),
        name: "sms partner".into(),
        secret_sha256: vec![7; 32],
        channels: vec![3, 4],
        created_at_ms: 1_000,
        created_by: "admin-1".into(),
        revoked_at_ms: None,
        last_used_ms: None,
    }
}

async fn api_keys_are_created_once_listed_touched_and_revoked(store: Store) {
    assert!(store.create_api_key(&key("acme", "k1")).await.unwrap());
    assert!(!store.create_api_key(&ApiKeyRecord { name: "other".into(), ..key("acme", "k1") }).await.unwrap());
    assert!(store.create_api_key(&key("acme", "k0")).await.unwrap());
    assert!(store.create_api_key(&key("globex", "k1")).await.unwrap());

    assert_eq!(store.api_key("acme", "k1").await.unwrap(), Some(key("acme", "k1")), "the first create wins");
    assert_eq!(store.api_key("acme", "nope").await.unwrap(), None);
    let ids: Vec<_> = store.list_api_keys("acme").await.unwrap().into_iter().map(|k| k.key_id).collect();
    assert_eq!(ids, ["k0", "k1"]);

    store.touch_api_key("acme", "k1", 5_000).await.unwrap();
    store.touch_api_key("acme", "missing", 5_000).await.unwrap();
    assert_eq!(store.api_key("acme", "missing").await.unwrap(), None, "a touch never creates a key");
    assert!(store.revoke_api_key("acme", "k1", 6_000).await.unwrap());
    assert!(store.revoke_api_key("acme", "k1", 9_000).await.unwrap());
    assert!(!store.revoke_api_key("acme", "missing", 6_000).await.unwrap());
    let k1 = store.api_key("acme", "k1").await.unwrap().unwrap();
    assert_eq!((k1.last_used_ms, k1.revoked_at_ms), (Some(5_000), Some(6_000)), "the first revoke time stays");
    let other = store.api_key("globex", "k1").await.unwrap().unwrap();
    assert_eq!(other.revoked_at_ms, None, "accounts do not share keys");
}

async fn the_audit_trail_is_newest_first_per_account_and_capped(store: Store) {
    for i in 0..5 {
        let record = AuditRecord {
            event_id: format!("e{i}"),
            account_id: "acme".into(),
            at_ms: i,
            actor: "root".into(),
            credential: "jwt:switchyard".into(),
            roles: vec!["admin".into()],
            rpc: "switchyard.admin.v1.RoutingAdminService/CreateSkill".into(),
            request: format!("skill {i}"),
        };
        store.append_audit(&record, 3).await.unwrap();
    }
    let trail = store.audit_trail("acme", 10).await.unwrap();
    let ids: Vec<_> = trail.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids, ["e4", "e3", "e2"]);
    assert_eq!(store.audit_trail("acme", 1).await.unwrap().len(), 1);
    assert!(store.audit_trail("globex", 10).await.unwrap().is_empty());
    assert!(store.audit_trail("acme", 0).await.unwrap().is_empty());
}

conformance!(
    api_keys_are_created_once_listed_touched_and_revoked,
    the_audit_trail_is_newest_first_per_account_and_capped
);
