//! The routing configuration RPCs end to end in embedded mode, through gRPC: defaults read
//! back filled in, each part replaced and validated against the account's skills, fallback
//! cycles refused naming the cycle (R5.1, R5.2), stale revisions refused, nothing written on a
//! refusal, and every change in the audit trail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use prost_types::Duration;
use switchyard_proto::admin::v1::*;
use switchyard_proto::auth::v1::ListAuditEventsRequest;
use tonic::Code;

fn secs(seconds: i64) -> Option<Duration> {
    Some(Duration { seconds, nanos: 0 })
}

fn fallback(skill: &str) -> SkillRouting {
    SkillRouting { fallback_skill_id: skill.into(), ..Default::default() }
}

async fn config(cluster: &Cluster) -> GetRoutingConfigResponse {
    cluster
        .routing_admin()
        .await
        .get_routing_config(GetRoutingConfigRequest { account_id: "acme".into() })
        .await
        .unwrap()
        .into_inner()
}

async fn set_skill(cluster: &Cluster, skill: &str, routing: SkillRouting) -> Result<u64, tonic::Status> {
    let request = SetSkillRoutingRequest {
        account_id: "acme".into(),
        skill_id: skill.into(),
        skill: Some(routing),
        expected_revision: 0,
    };
    cluster.routing_admin().await.set_skill_routing(request).await.map(|r| r.into_inner().revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_settings_default_validate_and_read_back() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "support"], &[]).await;
    let initial = config(&cluster).await;
    assert_eq!(initial.revision, 0);
    let account = initial.config.unwrap().account.unwrap();
    assert_eq!(account.acd_mode, AcdMode::AutoAccept as i32);
    assert_eq!(account.ring_timeout, secs(72), "R3.6 default");
    assert_eq!(account.fallback_after_transfer, Some(true), "R5.6 default");
    let times = account.response_times.unwrap();
    assert_eq!((times.default_time, times.first_time), (secs(3600), secs(600)), "R10.12 examples");

    let mut admin = cluster.routing_admin().await;
    let ring_one = AccountRouting {
        default_skill_id: "sales".into(),
        fallback_skill_id: "support".into(),
        acd_mode: AcdMode::RingOne as i32,
        ring_timeout: secs(30),
        ..Default::default()
    };
    let request = |account: AccountRouting| SetAccountRoutingRequest {
        account_id: "acme".into(),
        account: Some(account),
        expected_revision: 0,
    };
    let saved = admin.set_account_routing(request(ring_one)).await.unwrap().into_inner();
    assert_eq!(saved.revision, 1);
    let account = config(&cluster).await.config.unwrap().account.unwrap();
    assert_eq!((account.acd_mode, account.ring_timeout), (AcdMode::RingOne as i32, secs(30)));
    assert_eq!(account.default_skill_id, "sales");
    assert_eq!(account.reject_cooldown, secs(300), "unset settings take their default");

    // Refusals name the field and write nothing.
    let refusals = [
        (AccountRouting { ring_timeout: secs(1), ..Default::default() }, Code::InvalidArgument, "account.ring_timeout"),
        (
            AccountRouting { ring_timeout: Some(Duration { seconds: -5, nanos: 0 }), ..Default::default() },
            Code::InvalidArgument,
            "account.ring_timeout",
        ),
        (AccountRouting { acd_mode: 42, ..Default::default() }, Code::InvalidArgument, "account.acd_mode"),
        (
            AccountRouting { default_skill_id: "ghost".into(), ..Default::default() },
            Code::FailedPrecondition,
            "account.default_skill_id",
        ),
    ];
    for (account, code, field) in refusals {
        let err = admin
            .set_account_routing(SetAccountRoutingRequest {
                account_id: "acme".into(),
                account: Some(account),
                expected_revision: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(err.message().contains(field), "{field}: {}", err.message());
    }
    assert_eq!(config(&cluster).await.revision, 1, "no refusal wrote anything");

    // A stale expected revision is refused; the current one applies.
    let stale = SetAccountRoutingRequest {
        account_id: "acme".into(),
        account: Some(AccountRouting::default()),
        expected_revision: 7,
    };
    let err = admin.set_account_routing(stale.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("revision 1, not 7"), "{}", err.message());
    let current = SetAccountRoutingRequest { expected_revision: 1, ..stale };
    assert_eq!(admin.set_account_routing(current).await.unwrap().into_inner().revision, 2);

    // Unknown account.
    let err = admin.get_routing_config(GetRoutingConfigRequest { account_id: "nobody".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    cluster.stop().await;
}

/// R5.1/R5.2: chains are allowed, a cycle (also one through the account fallback) is refused at
/// save naming it, and the refused change is not written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_cycles_are_refused_at_save_r5_1() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["a", "b", "c", "d"], &[]).await;
    assert_eq!(set_skill(&cluster, "a", fallback("b")).await.unwrap(), 1);
    assert_eq!(set_skill(&cluster, "b", fallback("c")).await.unwrap(), 2);
    let err = set_skill(&cluster, "c", fallback("a")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("a -> b -> c -> a"), "{}", err.message());
    let err = set_skill(&cluster, "c", fallback("c")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("skill.fallback_skill_id"), "{}", err.message());
    // R5.2: with the account fallback d, c (no fallback of its own) falls back to d: the chain
    // a -> b -> c -> d. d falling back to a would close a cycle through the account fallback.
    let mut admin = cluster.routing_admin().await;
    let account = AccountRouting { fallback_skill_id: "d".into(), ..Default::default() };
    let request = SetAccountRoutingRequest { account_id: "acme".into(), account: Some(account), expected_revision: 0 };
    assert_eq!(admin.set_account_routing(request).await.unwrap().into_inner().revision, 3);
    let err = set_skill(&cluster, "d", fallback("a")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("a -> b -> c -> d -> a"), "{}", err.message());
    let skills = config(&cluster).await.config.unwrap().skills;
    assert_eq!(skills.len(), 2, "only a and b were saved: {skills:?}");
    assert_eq!(config(&cluster).await.revision, 3);

    // Unknown skills: the one configured is NOT_FOUND, a referenced one FAILED_PRECONDITION.
    let err = set_skill(&cluster, "ghost", fallback("a")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = set_skill(&cluster, "d", fallback("ghost")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("skill.fallback_skill_id"), "{}", err.message());
    // A group split that does not add up to 100 (R8.20) names its field.
    let split = SkillRouting {
        group_split: vec![
            GroupSplit { group_id: "g1".into(), priority: 1, percent: 60 },
            GroupSplit { group_id: "g2".into(), priority: 2, percent: 30 },
        ],
        ..Default::default()
    };
    let err = set_skill(&cluster, "d", split).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("skill.group_split"), "{}", err.message());
    cluster.stop().await;
}

/// Profile rules, engagements and velocity rules are replaced as parts, validated, and each
/// change is in the account's audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_engagements_are_saved_and_audited() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "vip"], &[]).await;
    let mut admin = cluster.routing_admin().await;
    let gold = ProfileRule {
        name: "gold".into(),
        all_of: vec![AttributeMatch { attribute: "ctype".into(), value: "GOLD".into() }],
        skill_id: "vip".into(),
    };
    admin
        .set_profile_rules(SetProfileRulesRequest {
            account_id: "acme".into(),
            rules: vec![gold],
            expected_revision: 0,
        })
        .await
        .unwrap();
    let engagement = Engagement {
        campaign_id: "spring".into(),
        engagement_id: "web".into(),
        name: "web".into(),
        skill_id: "sales".into(),
    };
    admin
        .put_engagement(PutEngagementRequest {
            account_id: "acme".into(),
            engagement: Some(engagement.clone()),
            expected_revision: 0,
        })
        .await
        .unwrap();
    let whatsapp = VelocityRule {
        name: "whatsapp".into(),
        multiplier: 2.0,
        when: Some(velocity_rule::When::Channel(switchyard_proto::common::v1::Channel::Whatsapp as i32)),
    };
    admin
        .set_velocity_rules(SetVelocityRulesRequest {
            account_id: "acme".into(),
            rules: vec![whatsapp],
            expected_revision: 0,
        })
        .await
        .unwrap();
    let stored = config(&cluster).await;
    assert_eq!(stored.revision, 3);
    let stored = stored.config.unwrap();
    assert_eq!(stored.profile_rules[0].skill_id, "vip");
    assert_eq!(stored.engagements, vec![engagement]);
    assert_eq!(stored.velocity_rules[0].multiplier, 2.0);

    let bad =
        VelocityRule { name: "x".into(), multiplier: 0.0, when: Some(velocity_rule::When::ReturnedToQueue(true)) };
    let err = admin
        .set_velocity_rules(SetVelocityRulesRequest {
            account_id: "acme".into(),
            rules: vec![bad],
            expected_revision: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("rules[0].multiplier"), "{}", err.message());
    let missing = DeleteEngagementRequest {
        account_id: "acme".into(),
        campaign_id: "spring".into(),
        engagement_id: "sms".into(),
        expected_revision: 0,
    };
    assert_eq!(admin.delete_engagement(missing).await.unwrap_err().code(), Code::NotFound);
    let delete = DeleteEngagementRequest {
        account_id: "acme".into(),
        campaign_id: "spring".into(),
        engagement_id: "web".into(),
        expected_revision: 0,
    };
    assert_eq!(admin.delete_engagement(delete).await.unwrap().into_inner().revision, 4);

    // Every change is audited (R-security: admin changes are recorded once they answered OK).
    let trail = cluster
        .auth_admin()
        .await
        .list_audit_events(ListAuditEventsRequest { account_id: "acme".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .events;
    let rpcs: Vec<&str> = trail.iter().map(|e| e.rpc.as_str()).collect();
    for rpc in ["SetProfileRules", "PutEngagement", "SetVelocityRules", "DeleteEngagement"] {
        let count = rpcs.iter().filter(|r| r.ends_with(rpc)).count();
        assert_eq!(count, 1, "{rpc} in {rpcs:?}");
    }
    assert!(!rpcs.iter().any(|r| r.ends_with("GetRoutingConfig")), "reads are not audited");
    cluster.stop().await;
}

/// R4.7, R4.8: a transfer outside the skill's transfer list is FAILED_PRECONDITION and moves
/// nothing; to a listed skill it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_keep_to_the_transfer_list_r4_8() {
    let cluster = Cluster::embedded().await;
    setup_account(
        &cluster,
        "acme",
        &["sales", "vip", "billing"],
        &[("alice", &["sales"], 2), ("bob", &["billing"], 2)],
    )
    .await;
    let list =
        SkillRouting { transfer_list: Some(TransferList { skill_ids: vec!["billing".into()] }), ..Default::default() };
    set_skill(&cluster, "sales", list).await.unwrap();
    let mut alice = online(&cluster, "acme", "alice").await;
    let opened =
        cluster.connector().await.open_conversation(open("acme", "k1", "sales", "")).await.unwrap().into_inner();
    expect_assigned(&mut alice).await;
    let transfer = |to: &str| switchyard_proto::agent::v1::TransferToSkillRequest {
        account_id: "acme".into(),
        agent_id: "alice".into(),
        conversation_id: opened.conversation_id.clone(),
        skill_id: to.into(),
    };
    let mut agent = cluster.agent().await;
    let err = agent.transfer_to_skill(transfer("vip")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("may not transfer to skill vip"), "{}", err.message());
    assert_eq!(queue_depth(&cluster, "acme", "vip").await, 0);
    // billing's agent bob is not logged in: the transferred conversation waits there.
    agent.transfer_to_skill(transfer("billing")).await.unwrap();
    wait_until(|| async { queue_depth(&cluster, "acme", "billing").await == 1 }).await;
    cluster.stop().await;
}
