//! Conformance of the automatic-message family (`AutoMessageStore`: the settings document and
//! the consumers' last auto close), in memory and on a real Redis (`memory::<name>`,
//! `redis::<name>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(settings_are_saved_by_compare_and_set, the_latest_auto_close_is_remembered);

async fn settings_are_saved_by_compare_and_set(store: Store) {
    let a = unique("acct");
    assert_eq!(store.automessages_config(&a).await.unwrap(), (0, None));
    assert_eq!(store.automessages_config_revision(&a).await.unwrap(), 0);
    let first = Bytes::from_static(b"{\"enabled\":true}");
    assert_eq!(store.save_automessages_config(&a, 0, first.clone()).await.unwrap(), ConfigSave::Saved { revision: 1 });
    assert_eq!(store.automessages_config(&a).await.unwrap(), (1, Some(first.clone())));
    let stale = store.save_automessages_config(&a, 0, Bytes::from_static(b"{}")).await.unwrap();
    assert_eq!(stale, ConfigSave::Conflict { current: 1 }, "a save over a stale revision changes nothing");
    assert_eq!(store.automessages_config(&a).await.unwrap(), (1, Some(first)));
    // Apart from the routing configuration of the same account.
    assert_eq!(store.routing_config_revision(&a).await.unwrap(), 0);
}

async fn the_latest_auto_close_is_remembered(store: Store) {
    let a = unique("acct");
    assert_eq!(store.last_auto_close(&a, "u1").await.unwrap(), None);
    let keep = 48 * 3600 * 1000;
    store.note_auto_close(&a, "u1", 2_000, keep).await.unwrap();
    store.note_auto_close(&a, "u1", 1_000, keep).await.unwrap();
    assert_eq!(
        store.last_auto_close(&a, "u1").await.unwrap(),
        Some(2_000),
        "an older (redelivered) close does not win"
    );
    store.note_auto_close(&a, "u1", 3_000, keep).await.unwrap();
    assert_eq!(store.last_auto_close(&a, "u1").await.unwrap(), Some(3_000));
    assert_eq!(store.last_auto_close(&a, "u2").await.unwrap(), None, "per consumer");
    assert_eq!(store.last_auto_close(&unique("other"), "u1").await.unwrap(), None, "per account");
}
