//! Issue 10: partner API keys (created, shown once, stored hashed, scoped to channels, last
//! use recorded, revoked), the audit trail of admin changes, and turning authentication off
//! only explicitly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_auth::client::Bearer;
use switchyard_auth::Role;
use switchyard_proto::auth::v1 as auth;
use switchyard_proto::common::v1::Channel as ProtoChannel;
use switchyard_proto::connectors::v1 as conn;
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

async fn partner_with(cluster: &Cluster, key: &str) -> ConnectorServiceClient<InterceptedService<Channel, Bearer>> {
    ConnectorServiceClient::new(InterceptedService::new(cluster.raw("connectors").await, Bearer::new(key).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_key_works_until_revoked_and_only_on_its_channels() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut admin = cluster.auth_admin().await;
    let created = admin
        .create_api_key(auth::CreateApiKeyRequest {
            account_id: "acme".into(),
            name: "sms partner".into(),
            channels: vec![ProtoChannel::Sms as i32],
        })
        .await
        .unwrap()
        .into_inner();
    let key = created.key.unwrap();
    assert!(created.secret.starts_with("syk_") && !created.secret.contains(&key.name));

    let mut partner = partner_with(&cluster, &created.secret).await;
    let mut sms = open("acme", "+15550100", "sales", "pm-1");
    sms.channel = ProtoChannel::Sms as i32;
    let opened = partner.open_conversation(sms).await.unwrap().into_inner();
    // Scoped to SMS: a web open, and a message into a web conversation, are denied.
    let denied = partner.open_conversation(open("acme", "c-web", "sales", "pm-2")).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let web = cluster.connector().await.open_conversation(open("acme", "c-web", "sales", "pm-3")).await.unwrap();
    let into_web = conn::PublishMessageRequest {
        account_id: "acme".into(),
        conversation_id: web.into_inner().conversation_id,
        text: "hi".into(),
        partner_message_id: String::new(),
    };
    assert_eq!(partner.publish_message(into_web).await.unwrap_err().code(), Code::PermissionDenied);

    // Listed without its secret, with its last use.
    common::wait_until(|| {
        let mut admin = admin.clone();
        async move {
            let keys = admin.list_api_keys(auth::ListApiKeysRequest { account_id: "acme".into() }).await.unwrap();
            keys.into_inner().keys.iter().any(|k| k.name == "sms partner" && k.last_used_ms > 0)
        }
    })
    .await;

    admin
        .revoke_api_key(auth::RevokeApiKeyRequest { account_id: "acme".into(), key_id: key.key_id.clone() })
        .await
        .unwrap();
    let close = conn::CloseConversationRequest { account_id: "acme".into(), conversation_id: opened.conversation_id };
    let status = partner.close_conversation(close).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "a revoked key: {status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
    let missing = admin
        .revoke_api_key(auth::RevokeApiKeyRequest { account_id: "acme".into(), key_id: "0123456789abcdef".into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // The store holds the digest, never the key.
    let store = cluster.memory.clone().unwrap();
    let stored = switchyard_platform::store::AccessStore::api_key(&*store, "acme", &key.key_id).await.unwrap().unwrap();
    assert_eq!(stored.secret_sha256.len(), 32);
    assert!(!format!("{stored:?}").contains(created.secret.rsplit('.').next().unwrap()));
    cluster.stop().await;
}

/// Every admin change is in the audit trail: who, with which credential, what, when.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_are_audited_and_failed_ones_are_not() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 2)]).await;
    let mut admin = switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient::new(
        cluster.as_role("router", Role::Admin, "carol").await,
    );
    let skill = |id: &str| switchyard_proto::admin::v1::CreateSkillRequest {
        account_id: "acme".into(),
        skill: Some(switchyard_proto::admin::v1::Skill { skill_id: id.into(), name: String::new() }),
    };
    admin.create_skill(skill("billing")).await.unwrap();
    assert_eq!(admin.create_skill(skill("billing")).await.unwrap_err().code(), Code::AlreadyExists);
    let mut trail = cluster.auth_admin().await;
    let mut events = Vec::new();
    for _ in 0..100 {
        events = trail
            .list_audit_events(auth::ListAuditEventsRequest { account_id: "acme".into(), limit: 0 })
            .await
            .unwrap()
            .into_inner()
            .events;
        if events.iter().any(|e| e.actor == "carol") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let carol: Vec<_> = events.iter().filter(|e| e.actor == "carol").collect();
    assert_eq!(carol.len(), 1, "one change succeeded, one failed: {events:?}");
    let event = carol[0];
    assert!(event.rpc.ends_with("RoutingAdminService/CreateSkill"), "{event:?}");
    assert!(event.request.contains("billing"), "{event:?}");
    assert_eq!(event.credential, format!("jwt:{}", common::auth::TEST_ISSUER));
    assert_eq!(event.roles, ["admin"]);
    assert!(event.at_ms > 0);
    // The setup's own changes are there too (account, skill, agent), newest first.
    assert!(events.len() >= 4 && events.windows(2).all(|w| w[0].at_ms >= w[1].at_ms), "{events:?}");
    let too_many = trail.list_audit_events(auth::ListAuditEventsRequest { account_id: "acme".into(), limit: 5000 });
    assert_eq!(too_many.await.unwrap_err().code(), Code::InvalidArgument);
    cluster.stop().await;
}

/// `auth.mode = "disabled"` is the only way to run without credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_off_only_when_disabled_explicitly() {
    let on = Cluster::embedded().await;
    let mut anonymous = switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient::new(
        on.raw("router").await,
    );
    let request = switchyard_proto::admin::v1::CreateAccountRequest { account_id: "acme".into(), name: String::new() };
    assert_eq!(anonymous.create_account(request.clone()).await.unwrap_err().code(), Code::Unauthenticated);
    on.stop().await;
    let off = Cluster::on(Backend::Embedded, |c| c.auth.mode = switchyard_auth::AuthMode::Disabled).await;
    let mut anonymous = switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient::new(
        off.raw("router").await,
    );
    anonymous.create_account(request).await.unwrap();
    off.stop().await;
}

/// The ops port stays open for probes and scrapers: what it serves names no account, agent,
/// consumer or conversation, and no credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_endpoints_expose_no_ids_or_secrets() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acct-7f3a", &["sales"], &[("agent-9c1e", &["sales"], 2)]).await;
    let mut stream = online(&cluster, "acct-7f3a", "agent-9c1e").await;
    let opened = cluster
        .connector()
        .await
        .open_conversation(open("acct-7f3a", "+15550177", "sales", "pm-1"))
        .await
        .unwrap()
        .into_inner();
    expect_assigned(&mut stream).await;
    let token =
        cluster.auth.signer().issue("acct-7f3a", "agent-9c1e", &[Role::Agent], Duration::from_secs(60)).unwrap();
    for service in switchyard::Service::ALL {
        for path in ["/metrics", "/build", "/health/readyz", "/health/livez"] {
            let (_, body) = http_get(&format!("{}{path}", cluster.ops[service.name()])).await.unwrap();
            for secret in ["acct-7f3a", "agent-9c1e", "+15550177", opened.conversation_id.as_str(), token.as_str()] {
                assert!(!body.contains(secret), "{} {path} shows {secret}", service.name());
            }
        }
    }
    cluster.stop().await;
}

/// Bad input to the key admin RPCs names the field and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_requests_name_the_field_and_create_nothing() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut admin = cluster.auth_admin().await;
    let create = |name: &str, channels: Vec<i32>| auth::CreateApiKeyRequest {
        account_id: "acme".into(),
        name: name.into(),
        channels,
    };
    for (request, field) in [
        (create("", vec![]), "name"),
        (create("line\nbreak", vec![]), "name"),
        (create(&"x".repeat(129), vec![]), "name"),
        (create("p", vec![ProtoChannel::Unspecified as i32]), "channels[0]"),
        (create("p", vec![ProtoChannel::Sms as i32, 99]), "channels[1]"),
    ] {
        let status = admin.create_api_key(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let violations = status.get_details_bad_request().map(|b| b.field_violations).unwrap_or_default();
        assert_eq!(violations.first().map(|v| v.field.as_str()), Some(field), "{status:?}");
    }
    // Admin of an account that was never created: NOT_FOUND, nothing stored.
    let globex = switchyard_proto::auth::v1::auth_admin_service_client::AuthAdminServiceClient::new(
        cluster.as_role("connectors", Role::Admin, "root").await,
    );
    let missing = globex
        .clone()
        .create_api_key(auth::CreateApiKeyRequest { account_id: "globex".into(), name: "p".into(), channels: vec![] })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");
    let bad_id = admin
        .revoke_api_key(auth::RevokeApiKeyRequest { account_id: "acme".into(), key_id: "no/slash".into() })
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Code::InvalidArgument, "{bad_id:?}");
    let store = cluster.memory.clone().unwrap();
    for account in ["acme", "globex"] {
        let keys = switchyard_platform::store::AccessStore::list_api_keys(&*store, account).await.unwrap();
        assert!(keys.is_empty(), "{account}: {keys:?}");
    }
    cluster.stop().await;
}
