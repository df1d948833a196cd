//! Skill selection at open and the SLA-ordered queue, end to end in embedded mode through
//! gRPC: an explicit skill, an engagement, profile rules in order, the account default, the
//! unassigned skill (R4.2-R4.4); the profile and the skill path reach the agent (R5.7); an
//! unknown engagement is NOT_FOUND; first-time consumers are due sooner and served first
//! (R10.2, R9.3); a velocity rule moves a conversation up (R9.6).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_proto::admin::v1::*;
use switchyard_proto::connectors::v1 as conn;
use tonic::Code;

async fn configure(cluster: &Cluster) {
    let mut admin = cluster.routing_admin().await;
    let account = AccountRouting { default_skill_id: "general".into(), ..Default::default() };
    admin
        .set_account_routing(SetAccountRoutingRequest {
            account_id: "acme".into(),
            account: Some(account),
            expected_revision: 0,
        })
        .await
        .unwrap();
    let rules = vec![
        ProfileRule {
            name: "gold spanish".into(),
            all_of: vec![
                AttributeMatch { attribute: "ctype".into(), value: "gold".into() },
                AttributeMatch { attribute: "language".into(), value: "es".into() },
            ],
            skill_id: "vip-es".into(),
        },
        ProfileRule {
            name: "gold".into(),
            all_of: vec![AttributeMatch { attribute: "ctype".into(), value: "gold".into() }],
            skill_id: "vip".into(),
        },
    ];
    admin
        .set_profile_rules(SetProfileRulesRequest { account_id: "acme".into(), rules, expected_revision: 0 })
        .await
        .unwrap();
    for (engagement, skill) in [("web", "sales"), ("any", "")] {
        let engagement = Engagement {
            campaign_id: "spring".into(),
            engagement_id: engagement.into(),
            name: String::new(),
            skill_id: skill.into(),
        };
        admin
            .put_engagement(PutEngagementRequest {
                account_id: "acme".into(),
                engagement: Some(engagement),
                expected_revision: 0,
            })
            .await
            .unwrap();
    }
}

fn opening(
    consumer: &str,
    skill: &str,
    engagement: Option<&str>,
    profile: &[(&str, &str)],
) -> conn::OpenConversationRequest {
    conn::OpenConversationRequest {
        campaign: engagement.map(|e| conn::Campaign { campaign_id: "spring".into(), engagement_id: e.into() }),
        profile: profile.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..open("acme", consumer, skill, "")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skill_comes_from_the_first_source_that_names_one_r4_2() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "general", "vip", "vip-es", "support"], &[]).await;
    configure(&cluster).await;
    let gold = [("ctype", "GOLD"), ("language", "en")];
    let cases = [
        // Explicit skill beats engagement and profile.
        (opening("c1", "support", Some("web"), &gold), "support"),
        // The engagement's skill beats the profile rules.
        (opening("c2", "", Some("web"), &gold), "sales"),
        // "All skills" engagement: the profile rules decide; the first matching rule wins
        // (R4.3, case-insensitive).
        (opening("c3", "", Some("any"), &gold), "vip"),
        (opening("c4", "", None, &[("ctype", "gold"), ("language", "ES")]), "vip-es"),
        // No rule matches: the account default.
        (opening("c5", "", None, &[("ctype", "silver")]), "general"),
    ];
    let mut partner = cluster.connector().await;
    for (request, skill) in cases {
        let consumer = request.consumer_id.clone();
        let opened = partner.open_conversation(request).await.unwrap().into_inner();
        assert_eq!(opened.skill_id, skill, "{consumer}");
    }
    // Unknown engagement: NOT_FOUND, nothing opened.
    let err = partner.open_conversation(opening("c6", "", Some("gone"), &[])).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("spring/gone"), "{}", err.message());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configuration_a_conversation_goes_to_the_unassigned_skill_r4_4() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("a1", &["sales"], 2)]).await;
    let mut partner = cluster.connector().await;
    let opened = partner.open_conversation(opening("c1", "", None, &[("ctype", "gold")])).await.unwrap().into_inner();
    assert_eq!(opened.skill_id, "-1");
    // Any agent takes the unassigned skill; the profile and the skill path reach it (R5.7).
    let mut stream = online(&cluster, "acme", "a1").await;
    let assignment = expect_assigned(&mut stream).await;
    assert_eq!(assignment.conversation_id, opened.conversation_id);
    assert_eq!(assignment.profile.get("ctype").map(String::as_str), Some("gold"));
    let path: Vec<(&str, &str)> =
        assignment.skill_path.iter().map(|s| (s.skill_id.as_str(), s.reason.as_str())).collect();
    assert_eq!(path, [("-1", "unassigned")]);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engagement_is_on_the_skill_path_the_agent_sees() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "general", "vip", "vip-es"], &[("a1", &["sales"], 2)]).await;
    configure(&cluster).await;
    let mut stream = online(&cluster, "acme", "a1").await;
    let mut partner = cluster.connector().await;
    partner.open_conversation(opening("c1", "", Some("web"), &[])).await.unwrap();
    let assignment = expect_assigned(&mut stream).await;
    let step = &assignment.skill_path[0];
    assert_eq!(
        (step.skill_id.as_str(), step.reason.as_str(), step.detail.as_str()),
        ("sales", "engagement", "spring/web")
    );
    cluster.stop().await;
}

/// R10.2, R9.3, R9.6: with nobody online the queue shows its order: the first-time consumer
/// (10 min) before the returning ones (60 min), and a WhatsApp boost of 10x ahead of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_served_by_response_due_and_velocity_r9_3_r10_2() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut partner = cluster.connector().await;
    // "returning" had a conversation before: close it so the next one is not its first.
    let earlier = partner.open_conversation(opening("returning", "sales", None, &[])).await.unwrap().into_inner();
    partner
        .close_conversation(conn::CloseConversationRequest {
            account_id: "acme".into(),
            conversation_id: earlier.conversation_id,
        })
        .await
        .unwrap();
    let returning = partner.open_conversation(opening("returning", "sales", None, &[])).await.unwrap().into_inner();
    let first = partner.open_conversation(opening("newcomer", "sales", None, &[])).await.unwrap().into_inner();
    let mut admin = cluster.routing_admin().await;
    let boost = VelocityRule {
        name: "whatsapp".into(),
        multiplier: 10.0,
        when: Some(velocity_rule::When::Channel(switchyard_proto::common::v1::Channel::Whatsapp as i32)),
    };
    admin
        .set_velocity_rules(SetVelocityRulesRequest {
            account_id: "acme".into(),
            rules: vec![boost],
            expected_revision: 0,
        })
        .await
        .unwrap();
    let whatsapp = conn::OpenConversationRequest {
        channel: switchyard_proto::common::v1::Channel::Whatsapp as i32,
        ..opening("wa-returning", "sales", None, &[])
    };
    // Seen before on web: not its first conversation.
    let wa_earlier = partner.open_conversation(opening("wa-returning", "sales", None, &[])).await.unwrap().into_inner();
    partner
        .close_conversation(conn::CloseConversationRequest {
            account_id: "acme".into(),
            conversation_id: wa_earlier.conversation_id,
        })
        .await
        .unwrap();
    let boosted = partner.open_conversation(whatsapp).await.unwrap().into_inner();
    // Queued asynchronously by the router (the routing topic).
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 3 }).await;
    let queue = admin
        .get_queue(GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 0 })
        .await
        .unwrap()
        .into_inner();
    let order: Vec<(&str, &str, f64, u32)> =
        queue.entries.iter().map(|e| (e.conversation_id.as_str(), e.sla.as_str(), e.velocity, e.position)).collect();
    assert_eq!(
        order,
        [
            (boosted.conversation_id.as_str(), "default", 10.0, 1),
            (first.conversation_id.as_str(), "first_time", 1.0, 2),
            (returning.conversation_id.as_str(), "default", 1.0, 3),
        ]
    );
    let newcomer = &queue.entries[1];
    assert_eq!(newcomer.due_ms - newcomer.queued_at_ms, 600_000, "first-time response time 10 min (R10.12)");
    assert!(queue.entries.iter().all(|e| e.actionable));
    cluster.stop().await;
}

/// R10.4: a consumer message while queued restarts the due time and moves the conversation
/// behind the ones that have waited longer since their consumer last wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_message_restarts_the_due_time_of_a_queued_conversation_r10_4() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut partner = cluster.connector().await;
    let a = partner.open_conversation(opening("alice", "sales", None, &[])).await.unwrap().into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let b = partner.open_conversation(opening("bob", "sales", None, &[])).await.unwrap().into_inner();
    let order = || async {
        let queue = cluster
            .routing_admin()
            .await
            .get_queue(GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 0 })
            .await
            .unwrap()
            .into_inner();
        queue.entries.into_iter().map(|e| (e.conversation_id, e.due_ms)).collect::<Vec<_>>()
    };
    wait_until(|| async { order().await.len() == 2 }).await;
    let before = order().await;
    assert_eq!(before[0].0, a.conversation_id, "alice waited longer");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    partner
        .publish_message(conn::PublishMessageRequest {
            account_id: "acme".into(),
            conversation_id: a.conversation_id.clone(),
            text: "anyone there?".into(),
            partner_message_id: "m-1".into(),
        })
        .await
        .unwrap();
    wait_until(|| async { order().await[0].0 == b.conversation_id }).await;
    let after = order().await;
    assert!(after[1].1 > before[0].1, "alice's due time restarted: {before:?} -> {after:?}");
    cluster.stop().await;
}
