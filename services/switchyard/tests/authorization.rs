//! Issue 10: who may call what. The whole RPC x role matrix, generated from the same table the
//! auth layer enforces (docs/security.md), plus every way a credential can be wrong, and a
//! hand-written list of the most dangerous cases checked on their own.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::raw::RawCodec;
use common::*;
use prost::Message;
use switchyard_auth::table::{Reach, TABLE};
use switchyard_auth::{Role, Signer};
use switchyard_proto::common::v1::Channel as ProtoChannel;
use switchyard_proto::connectors::v1 as conn;
use switchyard_proto::{
    admin::v1 as admin, agent::v1 as agent, auth::v1 as auth, automessages::v1 as am, capacity::v1 as cap,
};
use tonic::service::interceptor::InterceptedService;
use tonic::Code;

const HOUR: Duration = Duration::from_secs(3600);

/// A request of `method` about account acme and agent alice (the sample of every row).
fn sample(method: &str) -> Vec<u8> {
    let (a, al) = (String::from("acme"), String::from("alice"));
    let web = ProtoChannel::Web as i32;
    let name = method.rsplit_once('.').unwrap().1;
    match name {
        "ConnectorService/OpenConversation" => conn::OpenConversationRequest {
            account_id: a,
            channel: web,
            consumer_id: "c-1".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "ConnectorService/PublishMessage" => conn::PublishMessageRequest {
            account_id: a,
            conversation_id: "nope".into(),
            text: "hi".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "ConnectorService/PublishEvent" => {
            conn::PublishEventRequest { account_id: a, conversation_id: "nope".into(), event: None }.encode_to_vec()
        }
        "ConnectorService/CloseConversation" => {
            conn::CloseConversationRequest { account_id: a, conversation_id: "nope".into() }.encode_to_vec()
        }
        "ConnectorService/MarkUrgent" => {
            conn::MarkUrgentRequest { account_id: a, conversation_id: "nope".into() }.encode_to_vec()
        }
        "ConnectorService/WithdrawUrgent" => {
            conn::WithdrawUrgentRequest { account_id: a, conversation_id: "nope".into() }.encode_to_vec()
        }
        "ConnectorService/StreamOutbound" => {
            conn::StreamOutboundRequest { account_id: a, channel: web, from_sequence: None }.encode_to_vec()
        }
        "ConnectorService/AckOutbound" => {
            conn::AckOutboundRequest { account_id: a, channel: web, sequence: 1 }.encode_to_vec()
        }
        "AgentService/Login" => agent::LoginRequest { account_id: a, agent_id: al, initial_state: 0 }.encode_to_vec(),
        "AgentService/Logout" => agent::LogoutRequest { account_id: a, agent_id: al }.encode_to_vec(),
        "AgentService/SetState" => {
            agent::SetStateRequest { account_id: a, agent_id: al, state: 2, away_reason: String::new() }.encode_to_vec()
        }
        "AgentService/Subscribe" => agent::SubscribeRequest { account_id: a, agent_id: al }.encode_to_vec(),
        "AgentService/AcceptOffer" => {
            agent::AcceptOfferRequest { account_id: a, agent_id: al, offer_id: "o".into() }.encode_to_vec()
        }
        "AgentService/RejectOffer" => {
            agent::RejectOfferRequest { account_id: a, agent_id: al, offer_id: "o".into() }.encode_to_vec()
        }
        "AgentService/SendMessage" => {
            agent::SendMessageRequest { account_id: a, agent_id: al, conversation_id: "nope".into(), text: "hi".into() }
                .encode_to_vec()
        }
        "AgentService/CloseConversation" => {
            agent::CloseConversationRequest { account_id: a, agent_id: al, conversation_id: "nope".into() }
                .encode_to_vec()
        }
        "AgentService/GetTranscript" => agent::GetTranscriptRequest {
            account_id: a,
            agent_id: al,
            conversation_id: "nope".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "AgentService/BackToQueue" => {
            agent::BackToQueueRequest { account_id: a, agent_id: al, conversation_id: "nope".into() }.encode_to_vec()
        }
        "AgentService/TransferToSkill" => agent::TransferToSkillRequest {
            account_id: a,
            agent_id: al,
            conversation_id: "nope".into(),
            skill_id: "sales".into(),
        }
        .encode_to_vec(),
        "AgentService/TransferToAgent" => agent::TransferToAgentRequest {
            account_id: a,
            agent_id: al,
            conversation_id: "matrix".into(),
            target_agent_id: "bob".into(),
            skill_id: String::new(),
        }
        .encode_to_vec(),
        "AgentService/SetManualResponseTime" => agent::SetManualResponseTimeRequest {
            account_id: a,
            agent_id: al,
            conversation_id: "nope".into(),
            respond_by_ms: i64::MAX,
        }
        .encode_to_vec(),
        "AgentService/JoinConversation" => agent::JoinConversationRequest {
            account_id: a,
            agent_id: al,
            conversation_id: "nope".into(),
            role: agent::ParticipantRole::Manager as i32,
        }
        .encode_to_vec(),
        "AgentService/LeaveConversation" => {
            agent::LeaveConversationRequest { account_id: a, agent_id: al, conversation_id: "nope".into() }
                .encode_to_vec()
        }
        "RoutingAdminService/CreateAccount" => {
            admin::CreateAccountRequest { account_id: a, name: String::new() }.encode_to_vec()
        }
        "RoutingAdminService/CreateSkill" => admin::CreateSkillRequest {
            account_id: a,
            skill: Some(admin::Skill { skill_id: "matrix".into(), name: String::new() }),
        }
        .encode_to_vec(),
        "RoutingAdminService/ListSkills" => admin::ListSkillsRequest { account_id: a }.encode_to_vec(),
        "RoutingAdminService/GetQueue" => {
            admin::GetQueueRequest { account_id: a, skill_id: "sales".into(), limit: 0 }.encode_to_vec()
        }
        "RoutingAdminService/GetRoutingConfig" => admin::GetRoutingConfigRequest { account_id: a }.encode_to_vec(),
        "RoutingAdminService/SetAccountRouting" => {
            admin::SetAccountRoutingRequest { account_id: a, account: Some(Default::default()), expected_revision: 0 }
                .encode_to_vec()
        }
        "RoutingAdminService/SetSkillRouting" => admin::SetSkillRoutingRequest {
            account_id: a,
            skill_id: "sales".into(),
            skill: Some(Default::default()),
            expected_revision: 0,
        }
        .encode_to_vec(),
        "RoutingAdminService/SetProfileRules" => {
            admin::SetProfileRulesRequest { account_id: a, rules: vec![], expected_revision: 0 }.encode_to_vec()
        }
        "RoutingAdminService/PutEngagement" => admin::PutEngagementRequest {
            account_id: a,
            engagement: Some(admin::Engagement {
                campaign_id: "matrix".into(),
                engagement_id: "web".into(),
                name: String::new(),
                skill_id: String::new(),
            }),
            expected_revision: 0,
        }
        .encode_to_vec(),
        "RoutingAdminService/DeleteEngagement" => admin::DeleteEngagementRequest {
            account_id: a,
            campaign_id: "matrix".into(),
            engagement_id: "none".into(),
            expected_revision: 0,
        }
        .encode_to_vec(),
        "RoutingAdminService/SetVelocityRules" => {
            admin::SetVelocityRulesRequest { account_id: a, rules: vec![], expected_revision: 0 }.encode_to_vec()
        }
        "RoutingAdminService/ExplainRouting" => {
            admin::ExplainRoutingRequest { account_id: a, conversation_id: "matrix".into() }.encode_to_vec()
        }
        "RoutingAdminService/GetResponseTime" => {
            admin::GetResponseTimeRequest { account_id: a, conversation_id: "matrix".into() }.encode_to_vec()
        }
        "WorkingHoursAdminService/GetWorkingHours" => admin::GetWorkingHoursRequest { account_id: a }.encode_to_vec(),
        "WorkingHoursAdminService/PutWorkdays" => admin::PutWorkdaysRequest {
            account_id: a,
            workdays_id: "matrix".into(),
            workdays: Some(admin::Workdays { name: "matrix".into(), time_zone: "UTC".into(), ..Default::default() }),
            make_default: false,
            expected_revision: 0,
        }
        .encode_to_vec(),
        "WorkingHoursAdminService/DeleteWorkdays" => {
            admin::DeleteWorkdaysRequest { account_id: a, workdays_id: "none".into(), expected_revision: 0 }
                .encode_to_vec()
        }
        "WorkingHoursAdminService/PutSpecialOccasions" => admin::PutSpecialOccasionsRequest {
            account_id: a,
            occasions_id: "matrix".into(),
            occasions: Some(admin::SpecialOccasions {
                name: "matrix".into(),
                time_zone: "UTC".into(),
                occasions: vec![],
            }),
            make_default: false,
            expected_revision: 0,
        }
        .encode_to_vec(),
        "WorkingHoursAdminService/DeleteSpecialOccasions" => {
            admin::DeleteSpecialOccasionsRequest { account_id: a, occasions_id: "none".into(), expected_revision: 0 }
                .encode_to_vec()
        }
        "WorkingHoursAdminService/SetShiftStatus" => admin::SetShiftStatusRequest {
            account_id: a,
            mode: admin::HoursMode::Manual as i32,
            off_hours_until_ms: 0,
            expected_revision: 0,
        }
        .encode_to_vec(),
        "WorkingHoursAdminService/GetSkillHours" => {
            admin::GetSkillHoursRequest { account_id: a, skill_id: "sales".into(), at_ms: 0 }.encode_to_vec()
        }
        "CapacityAdminService/CreateAgent" => cap::CreateAgentRequest {
            account_id: a,
            agent: Some(cap::AgentSpec {
                agent_id: "matrix".into(),
                skill_ids: vec!["sales".into()],
                max_conversations: 1,
                bot: false,
                group_id: String::new(),
                nickname: String::new(),
            }),
        }
        .encode_to_vec(),
        "CapacityAdminService/UpdateAgent" => cap::UpdateAgentRequest {
            account_id: a,
            agent: Some(cap::AgentSpec {
                agent_id: al,
                skill_ids: vec!["sales".into()],
                max_conversations: 2,
                bot: false,
                group_id: String::new(),
                nickname: String::new(),
            }),
        }
        .encode_to_vec(),
        "CapacityAdminService/GetAgentLoad" => cap::GetAgentLoadRequest { account_id: a, agent_id: al }.encode_to_vec(),
        "CapacityAdminService/GetLoadMetrics" => cap::GetLoadMetricsRequest { account_id: a }.encode_to_vec(),
        "AutomaticMessagesAdminService/GetAutomaticMessages" => {
            am::GetAutomaticMessagesRequest { account_id: a }.encode_to_vec()
        }
        "AutomaticMessagesAdminService/SetAutomaticMessagesAccount" => {
            am::SetAutomaticMessagesAccountRequest { account_id: a, enabled: true, ..Default::default() }
                .encode_to_vec()
        }
        "AutomaticMessagesAdminService/SetAutomaticMessage" => am::SetAutomaticMessageRequest {
            account_id: a,
            event: am::AutomaticMessageEvent::Welcome as i32,
            text: Some("Hello from the matrix.".into()),
            ..Default::default()
        }
        .encode_to_vec(),
        "AutomaticMessagesAdminService/ListPlaceholders" => {
            am::ListPlaceholdersRequest { account_id: a }.encode_to_vec()
        }
        "AutomaticMessagesAdminService/Preview" => am::PreviewRequest {
            account_id: a,
            conversation_id: "none".into(),
            event: am::AutomaticMessageEvent::Welcome as i32,
        }
        .encode_to_vec(),
        "AuthAdminService/CreateApiKey" => {
            auth::CreateApiKeyRequest { account_id: a, name: "matrix".into(), channels: vec![] }.encode_to_vec()
        }
        "AuthAdminService/ListApiKeys" => auth::ListApiKeysRequest { account_id: a }.encode_to_vec(),
        "AuthAdminService/RevokeApiKey" => {
            auth::RevokeApiKeyRequest { account_id: a, key_id: "0000000000000000".into() }.encode_to_vec()
        }
        "AuthAdminService/ListAuditEvents" => auth::ListAuditEventsRequest { account_id: a, limit: 0 }.encode_to_vec(),
        other => panic!("the matrix has no sample request for {other}: add one"),
    }
}

fn service_of(method: &str) -> &'static str {
    if method.contains(".admin.") {
        "router"
    } else if method.contains(".capacity.") {
        "capacity"
    } else if method.contains(".automessages.") {
        "automessages"
    } else {
        "connectors"
    }
}

/// Calls `method` with `body` and the credential (none when None); the status, OK included.
async fn call(cluster: &Cluster, method: &str, body: Vec<u8>, credential: Option<&str>) -> tonic::Status {
    let bearer = match credential {
        Some(c) => switchyard_auth::client::Bearer::new(c).unwrap(),
        None => switchyard_auth::client::Bearer::none(),
    };
    let channel = InterceptedService::new(cluster.raw(service_of(method)).await, bearer);
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(format!("/{method}")).unwrap();
    let request = tonic::Request::new(Bytes::from(body));
    let streaming = method.ends_with("/Subscribe") || method.ends_with("/StreamOutbound");
    let result = if streaming {
        grpc.server_streaming(request, path, RawCodec).await.map(|_| ())
    } else {
        grpc.unary(request, path, RawCodec).await.map(|_| ())
    };
    result.err().unwrap_or_else(|| tonic::Status::ok(""))
}

fn token(signer: &Signer, account: &str, subject: &str, role: Role) -> String {
    signer.issue(account, subject, &[role], HOUR).unwrap()
}

async fn matrix_cluster() -> Cluster {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 2), ("bob", &["sales"], 2)]).await;
    setup_account(&cluster, "globex", &["sales"], &[("alice", &["sales"], 2)]).await;
    cluster
}

/// Every RPC with every role: allowed rows reach the handler (whatever it answers then),
/// the others are PERMISSION_DENIED; agents and bots as another agent are denied where the
/// grant is `own`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_with_every_role_is_allowed_exactly_as_the_table_says() {
    let cluster = matrix_cluster().await;
    let signer = cluster.auth.signer();
    let mut checked = 0;
    for rpc in TABLE {
        for role in Role::ALL {
            // Agents and bots once as alice (the request's agent) and once as bob.
            let subjects: &[&str] =
                if matches!(role, Role::Agent | Role::Bot) { &["alice", "bob"] } else { &["someone"] };
            for subject in subjects {
                let allowed = match rpc.grant_of(role).map(|g| g.reach) {
                    Some(Reach::Account) => true,
                    Some(Reach::Own) => *subject == "alice",
                    None => false,
                };
                let status =
                    call(&cluster, rpc.method, sample(rpc.method), Some(&token(&signer, "acme", subject, role))).await;
                if allowed {
                    assert!(
                        !matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated | Code::Unimplemented),
                        "{} as {role} {subject} must be allowed: {status:?}",
                        rpc.method
                    );
                } else {
                    assert_eq!(status.code(), Code::PermissionDenied, "{} as {role} {subject}: {status:?}", rpc.method);
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= TABLE.len() * 8, "{checked}");
    cluster.stop().await;
}

/// No credential, a malformed one, an expired token, a token not valid yet, one signed by
/// another key, one for another audience: UNAUTHENTICATED on every RPC, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_unauthenticated_on_every_rpc() {
    let cluster = matrix_cluster().await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signer = cluster.auth.signer();
    let other_key = Signer::hs256(common::auth::TEST_ISSUER, "switchyard", &[7u8; 32]);
    let other_audience = Signer::hs256(common::auth::TEST_ISSUER, "elsewhere", b"unused-unused-unused-unused-unused");
    let wrong: Vec<(&str, Option<String>)> = vec![
        ("none", None),
        ("not a token", Some("hello".into())),
        ("expired", Some(signer.issue_at("acme", "root", &[Role::Admin], now - 7200, now - 3600).unwrap())),
        ("not yet valid", Some(signer.issue_at("acme", "root", &[Role::Admin], now + 3600, now + 7200).unwrap())),
        ("another key", Some(token(&other_key, "acme", "root", Role::Admin))),
        ("another audience", Some(token(&other_audience, "acme", "root", Role::Admin))),
        ("unknown partner key", Some(switchyard_auth::apikey::generate("acme").secret)),
    ];
    for rpc in TABLE {
        for (what, credential) in &wrong {
            let status = call(&cluster, rpc.method, sample(rpc.method), credential.as_deref()).await;
            assert_eq!(status.code(), Code::Unauthenticated, "{} with {what}: {status:?}", rpc.method);
        }
    }
    // Nothing ran: the skill and the agent the samples would create do not exist.
    let mut admin = cluster.routing_admin().await;
    let skills = admin.list_skills(admin::ListSkillsRequest { account_id: "acme".into() }).await.unwrap().into_inner();
    assert!(skills.skills.iter().all(|s| s.skill_id != "matrix"));
    // Health and reflection stay open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(cluster.raw("router").await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
    cluster.stop().await;
}

/// A credential of another account is PERMISSION_DENIED, with the same message whether or not
/// the account asked for exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_credential_is_denied_alike_for_existing_and_missing_accounts() {
    let cluster = matrix_cluster().await;
    let globex_admin = token(&cluster.auth.signer(), "globex", "root", Role::Admin);
    let method = "switchyard.admin.v1.RoutingAdminService/ListSkills";
    let existing = call(
        &cluster,
        method,
        admin::ListSkillsRequest { account_id: "acme".into() }.encode_to_vec(),
        Some(&globex_admin),
    )
    .await;
    let missing = call(
        &cluster,
        method,
        admin::ListSkillsRequest { account_id: "nosuch".into() }.encode_to_vec(),
        Some(&globex_admin),
    )
    .await;
    assert_eq!((existing.code(), missing.code()), (Code::PermissionDenied, Code::PermissionDenied));
    assert_eq!(existing.message().replace("acme", "X"), missing.message().replace("nosuch", "X"));
    cluster.stop().await;
}

/// The cases that hurt most, by hand: each must be denied whatever the table generator does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_most_dangerous_cases_are_denied() {
    let cluster = matrix_cluster().await;
    let signer = cluster.auth.signer();
    let bob = token(&signer, "acme", "bob", Role::Agent);
    let alice = token(&signer, "acme", "alice", Role::Agent);
    let globex_partner = token(&signer, "globex", "p", Role::Partner);
    let acme_partner = token(&signer, "acme", "p", Role::Partner);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "agent bob sends as alice",
            "switchyard.agent.v1.AgentService/SendMessage",
            agent::SendMessageRequest {
                account_id: "acme".into(),
                agent_id: "alice".into(),
                conversation_id: "c".into(),
                text: "hi".into(),
            }
            .encode_to_vec(),
            &bob,
        ),
        (
            "agent bob logs in as alice",
            "switchyard.agent.v1.AgentService/Login",
            agent::LoginRequest { account_id: "acme".into(), agent_id: "alice".into(), initial_state: 1 }
                .encode_to_vec(),
            &bob,
        ),
        (
            "agent bob reads alice's transcript",
            "switchyard.agent.v1.AgentService/GetTranscript",
            agent::GetTranscriptRequest {
                account_id: "acme".into(),
                agent_id: "alice".into(),
                conversation_id: "c".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            &bob,
        ),
        (
            "agent bob subscribes to alice's events",
            "switchyard.agent.v1.AgentService/Subscribe",
            agent::SubscribeRequest { account_id: "acme".into(), agent_id: "alice".into() }.encode_to_vec(),
            &bob,
        ),
        (
            "partner of globex acks acme's outbox",
            "switchyard.connectors.v1.ConnectorService/AckOutbound",
            conn::AckOutboundRequest { account_id: "acme".into(), channel: ProtoChannel::Web as i32, sequence: 1 }
                .encode_to_vec(),
            &globex_partner,
        ),
        (
            "partner of globex reads acme's outbox",
            "switchyard.connectors.v1.ConnectorService/StreamOutbound",
            conn::StreamOutboundRequest {
                account_id: "acme".into(),
                channel: ProtoChannel::Web as i32,
                from_sequence: Some(0),
            }
            .encode_to_vec(),
            &globex_partner,
        ),
        (
            "agent alice raises her own max",
            "switchyard.capacity.v1.CapacityAdminService/UpdateAgent",
            cap::UpdateAgentRequest {
                account_id: "acme".into(),
                agent: Some(cap::AgentSpec {
                    agent_id: "alice".into(),
                    skill_ids: vec!["sales".into()],
                    max_conversations: 100,
                    bot: false,
                    group_id: String::new(),
                    nickname: String::new(),
                }),
            }
            .encode_to_vec(),
            &alice,
        ),
        (
            "agent alice creates an account",
            "switchyard.admin.v1.RoutingAdminService/CreateAccount",
            admin::CreateAccountRequest { account_id: "acme".into(), name: String::new() }.encode_to_vec(),
            &alice,
        ),
        (
            "a partner reads a transcript",
            "switchyard.agent.v1.AgentService/GetTranscript",
            agent::GetTranscriptRequest {
                account_id: "acme".into(),
                agent_id: "alice".into(),
                conversation_id: "c".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            &acme_partner,
        ),
        (
            "a partner mints itself a key",
            "switchyard.auth.v1.AuthAdminService/CreateApiKey",
            auth::CreateApiKeyRequest { account_id: "acme".into(), name: "mine".into(), channels: vec![] }
                .encode_to_vec(),
            &acme_partner,
        ),
    ];
    for (what, method, body, credential) in cases {
        let status = call(&cluster, method, body, Some(credential)).await;
        assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    }
    cluster.stop().await;
}
