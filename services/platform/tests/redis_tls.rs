//! The Redis store over TLS (`rediss://`, rustls) with an ACL user, against redis-server started
//! with `--tls-port` and certificates made here: store operations work; a wrong password, an
//! untrusted server certificate and a missing client certificate fail with an error that names
//! the server and never the password. The same on a three-node cluster with TLS between
//! everyone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::*;
use switchyard_testkit::{unique, RedisCluster, RedisServer, RedisServerOptions, RedisTlsFiles, TestPki};

const USER: &str = "switchyard";
const PASSWORD: &str = "c0rrect-h0rse";

fn server_options(pki: &TestPki, auth_clients: bool) -> RedisServerOptions {
    let server = pki.server();
    RedisServerOptions {
        tls: Some(RedisTlsFiles { cert: server.cert, key: server.key, ca: pki.ca_file(), auth_clients }),
        users: vec![(USER.to_owned(), PASSWORD.to_owned())],
        cluster: false,
    }
}

fn client_options(url: &str, pki: &TestPki, password: &str) -> RedisOptions {
    let mut options = RedisOptions::new(url);
    options.username = Some(USER.into());
    options.password = Some(password.into());
    options.tls_ca_pem = Some(pki.ca_pem.clone().into_bytes());
    options
}

/// A store operation that writes and reads back.
async fn round_trip(store: &RedisStore) {
    store.ping().await.expect("ping");
    let account = unique("acct");
    assert!(store.create_account(&account, "Acme").await.unwrap());
    assert!(store.account_exists(&account).await.unwrap());
    let spec = AgentSpec {
        agent_id: "a1".into(),
        skill_ids: vec!["sales".into()],
        max_conversations: 2,
        bot: false,
        group_id: String::new(),
        nickname: String::new(),
    };
    assert!(store.create_agent(&account, &spec).await.unwrap());
    let agent = store.get_agent(&account, "a1").await.unwrap().expect("agent stored");
    assert_eq!(agent.spec, spec);
}

fn message(err: StoreError) -> String {
    err.to_string()
}

#[tokio::test]
async fn store_operations_run_over_tls_as_an_acl_user() {
    let pki = TestPki::new("redis").unwrap();
    let server = RedisServer::start_with(false, server_options(&pki, false)).await.unwrap();
    assert!(server.url().starts_with("rediss://"));
    let options = client_options(&server.url(), &pki, PASSWORD);
    let store = RedisStore::connect_with(&options, &unique("sy-tls"), Retention::default()).await.unwrap();
    round_trip(&store).await;

    // The user and password in the URL work the same.
    let url = format!("rediss://{USER}:{PASSWORD}@127.0.0.1:{}", server.port());
    let mut options = RedisOptions::new(url);
    options.tls_ca_pem = Some(pki.ca_pem.clone().into_bytes());
    let store = RedisStore::connect_with(&options, &unique("sy-tls"), Retention::default()).await.unwrap();
    round_trip(&store).await;
}

#[tokio::test]
async fn a_wrong_password_fails_naming_the_server_not_the_password() {
    let pki = TestPki::new("redis").unwrap();
    let server = RedisServer::start_with(false, server_options(&pki, false)).await.unwrap();
    let options = client_options(&server.url(), &pki, "wr0ng-passw0rd");
    let err = message(RedisStore::connect_with(&options, "sy", Retention::default()).await.unwrap_err());
    assert!(err.contains(&format!("127.0.0.1:{}", server.port())), "{err}");
    assert!(err.to_lowercase().contains("pass"), "says what failed: {err}");
    assert!(!err.contains("wr0ng-passw0rd") && !err.contains(PASSWORD), "{err}");

    // Without credentials the server refuses every command (the default user is off).
    let mut anonymous = RedisOptions::new(server.url());
    anonymous.tls_ca_pem = Some(pki.ca_pem.clone().into_bytes());
    let refused = match RedisStore::connect_with(&anonymous, "sy", Retention::default()).await {
        Err(err) => message(err),
        Ok(store) => message(store.ping().await.unwrap_err()),
    };
    assert!(refused.contains("NOAUTH") || refused.to_lowercase().contains("auth"), "{refused}");
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_refused() {
    let pki = TestPki::new("redis").unwrap();
    let other = TestPki::new("other").unwrap();
    let server = RedisServer::start_with(false, server_options(&pki, false)).await.unwrap();
    let options = client_options(&server.url(), &other, PASSWORD);
    let err = message(RedisStore::connect_with(&options, "sy", Retention::default()).await.unwrap_err());
    assert!(err.contains(&format!("127.0.0.1:{}", server.port())) && err.contains("TLS"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "names the certificate: {err}");
    assert!(!err.contains(PASSWORD), "{err}");

    // Plain TCP against the TLS port does not pass for a server either.
    let plain = RedisOptions::new(format!("redis://127.0.0.1:{}", server.port()));
    assert!(RedisStore::connect_with(&plain, "sy", Retention::default()).await.is_err());
}

#[tokio::test]
async fn a_server_that_asks_for_client_certificates_gets_one() {
    let pki = TestPki::new("redis").unwrap();
    let server = RedisServer::start_with(false, server_options(&pki, true)).await.unwrap();
    let without = client_options(&server.url(), &pki, PASSWORD);
    assert!(RedisStore::connect_with(&without, "sy", Retention::default()).await.is_err());

    let client = pki.client();
    let mut with = without.clone();
    with.tls_client = Some((std::fs::read(client.cert).unwrap(), std::fs::read(client.key).unwrap()));
    let store = RedisStore::connect_with(&with, &unique("sy-mtls"), Retention::default()).await.unwrap();
    round_trip(&store).await;
}

#[tokio::test]
async fn a_cluster_over_tls_with_an_acl_user() {
    let pki = TestPki::new("redis-cluster").unwrap();
    let cluster = RedisCluster::start_with(server_options(&pki, false)).await.unwrap();
    let mut options = client_options(&cluster.url(), &pki, PASSWORD);
    options.cluster_nodes = cluster.urls()[1..].to_vec();
    let store = RedisStore::connect_with(&options, &unique("sy-cluster-tls"), Retention::default()).await.unwrap();
    assert!(store.is_cluster());
    // Accounts spread over the nodes' slots.
    for _ in 0..5 {
        round_trip(&store).await;
    }
}
