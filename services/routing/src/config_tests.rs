use super::*;

#[test]
fn defaults_match_the_documented_values() {
    let account = AccountRouting::default();
    assert_eq!(account.acd_mode, AcdMode::AutoAccept);
    assert_eq!(account.ring_timeout_ms, 72_000);
    assert_eq!(account.reject_cooldown_ms, 300_000);
    assert!(account.fallback_after_transfer, "R5.6 default on");
    assert_eq!(account.history_window_ms, 604_800_000);
    assert_eq!(account.transfer_to_agent_max_wait_ms, 7_200_000, "R12.6 2 h");
    assert_eq!(
        account.response_times,
        ResponseTimes { default_ms: 3_600_000, urgent_ms: 600_000, first_time_ms: 600_000 }
    );
    let skill = SkillRouting::default();
    assert!(skill.can_transfer, "R4.7 canTransfer defaults to true");
    assert!(!skill.fallback_when_all_agents_away);
    assert_eq!(skill.unassigned_policy, UnassignedPolicy::Unassigned, "R4.5");
    assert_eq!(RoutingConfig::default().skill("nope"), &skill);
}

#[test]
fn json_round_trip_keeps_every_field() {
    let mut config = RoutingConfig::default();
    config.account.default_skill = Some("sales".into());
    config.account.acd_mode = AcdMode::RingAll;
    config.skills.insert(
        "sales".into(),
        SkillRouting {
            response_times: ResponseTimeOverrides { urgent_ms: Some(120_000), ..Default::default() },
            fallback_skill: Some("support".into()),
            transfer_list: Some(vec!["support".into()]),
            group_split: vec![GroupSplit { group_id: "g1".into(), priority: 1, percent: 100 }],
            unassigned_policy: UnassignedPolicy::Keep,
            ..Default::default()
        },
    );
    config.profile_rules.push(ProfileRule {
        name: "vip".into(),
        all_of: vec![AttributeMatch { attribute: "ctype".into(), value: "VIP".into() }],
        skill_id: "sales".into(),
    });
    config.engagements.insert(
        engagement_key("c1", "e1"),
        Engagement { campaign_id: "c1".into(), engagement_id: "e1".into(), name: "web".into(), skill_id: None },
    );
    config.velocity_rules.push(VelocityRule {
        name: "twice".into(),
        when: VelocityCondition::MinTransfers { count: 2 },
        multiplier: 1.5,
    });
    let bytes = config.to_json().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(r#""acd_mode":"ring_all""#), "{text}");
    assert!(text.contains(r#""unassigned_policy":"keep""#), "{text}");
    assert!(text.contains(r#""when":{"kind":"min_transfers","count":2}"#), "{text}");
    assert_eq!(RoutingConfig::from_json(&bytes).unwrap(), config);
}

#[test]
fn older_or_newer_documents_load_with_defaults() {
    let json = br#"{
        "account": {"default_skill": "sales", "added_later": 7},
        "skills": {"sales": {"can_transfer": false}},
        "velocity_rules": [{"name": "rtq", "when": {"kind": "returned_to_queue"}}],
        "unknown_top_level": {"x": 1}
    }"#;
    let config = RoutingConfig::from_json(json).unwrap();
    assert_eq!(config.account.default_skill.as_deref(), Some("sales"));
    assert_eq!(config.account.ring_timeout_ms, 72_000);
    assert!(config.account.fallback_after_transfer);
    assert!(!config.skill("sales").can_transfer);
    assert_eq!(config.skill("sales").unassigned_policy, UnassignedPolicy::Unassigned);
    assert_eq!(config.velocity_rules[0].multiplier, 1.0);
    assert_eq!(RoutingConfig::from_json(b"{}").unwrap(), RoutingConfig::default());
}

#[test]
fn r4_3_attribute_values_match_case_insensitively_names_exactly() {
    let profile = BTreeMap::from([("ctype".to_string(), "vIp".to_string())]);
    let rule = AttributeMatch { attribute: "ctype".into(), value: "VIP".into() };
    assert!(rule.matches(&profile));
    assert!(!AttributeMatch { attribute: "CTYPE".into(), value: "vip".into() }.matches(&profile));
    assert!(!AttributeMatch { attribute: "ctype".into(), value: "vi".into() }.matches(&profile));
    assert!(eq_ignore_case("ÉCOLE", "école"));
}
