use super::*;
use crate::config::{AttributeMatch, Engagement, GroupSplit, ProfileRule, VelocityRule};

fn known() -> BTreeSet<String> {
    ["a", "b", "c", "d", "sales"].into_iter().map(String::from).collect()
}

fn check(config: &RoutingConfig) -> Result<(), ConfigError> {
    config.validate(&known())
}

/// The error, asserted to be of `kind` on `field`.
fn refused(config: &RoutingConfig, kind: ErrorKind, field: &str) -> ConfigError {
    let err = check(config).expect_err("expected a refusal");
    assert_eq!((err.kind, err.field.as_str()), (kind, field), "{err}");
    err
}

fn skill_mut<'a>(config: &'a mut RoutingConfig, id: &str) -> &'a mut SkillRouting {
    config.skills.entry(id.to_string()).or_default()
}

fn split(groups: &[(&str, u32, u32)]) -> Vec<GroupSplit> {
    groups
        .iter()
        .map(|(id, priority, percent)| GroupSplit { group_id: id.to_string(), priority: *priority, percent: *percent })
        .collect()
}

#[test]
fn defaults_are_valid() {
    assert_eq!(check(&RoutingConfig::default()), Ok(()));
}

#[test]
fn error_displays_field_then_message() {
    let mut config = RoutingConfig::default();
    config.account.ring_timeout_ms = 1;
    let err = refused(&config, ErrorKind::Invalid, "account.ring_timeout_ms");
    assert_eq!(err.to_string(), "account.ring_timeout_ms: must be between 5s and 10m, got 1 ms");
}

type Setter = fn(&mut RoutingConfig, u64);

#[test]
fn every_duration_bound_at_and_beyond_its_edge() {
    let cases: [(&str, Setter, u64, u64); 10] = [
        ("account.ring_timeout_ms", |c, v| c.account.ring_timeout_ms = v, 5_000, 600_000),
        ("account.reject_cooldown_ms", |c, v| c.account.reject_cooldown_ms = v, 0, 86_400_000),
        ("account.history_window_ms", |c, v| c.account.history_window_ms = v, 0, 7_776_000_000),
        ("account.response_times.default_ms", |c, v| c.account.response_times.default_ms = v, 60_000, 2_592_000_000),
        ("account.response_times.urgent_ms", |c, v| c.account.response_times.urgent_ms = v, 60_000, 2_592_000_000),
        (
            "account.response_times.first_time_ms",
            |c, v| c.account.response_times.first_time_ms = v,
            60_000,
            2_592_000_000,
        ),
        (
            "account.transfer_to_agent_max_wait_ms",
            |c, v| c.account.transfer_to_agent_max_wait_ms = v,
            60_000,
            604_800_000,
        ),
        (
            "skills[a].response_times.urgent_ms",
            |c, v| skill_mut(c, "a").response_times.urgent_ms = Some(v),
            60_000,
            2_592_000_000,
        ),
        (
            "skills[a].response_times.first_time_ms",
            |c, v| skill_mut(c, "a").response_times.first_time_ms = Some(v),
            60_000,
            2_592_000_000,
        ),
        (
            "skills[a].transfer_to_agent_max_wait_ms",
            |c, v| skill_mut(c, "a").transfer_to_agent_max_wait_ms = Some(v),
            60_000,
            604_800_000,
        ),
    ];
    for (field, set, min, max) in cases {
        for (value, ok) in
            [(min, true), (max, true), (max + 1, false)].into_iter().chain(min.checked_sub(1).map(|v| (v, false)))
        {
            let mut config = RoutingConfig::default();
            set(&mut config, value);
            match check(&config) {
                Ok(()) => assert!(ok, "{field} = {value} accepted"),
                Err(err) => {
                    assert!(!ok, "{field} = {value} refused: {err}");
                    assert_eq!((err.kind, err.field.as_str()), (ErrorKind::Invalid, field));
                }
            }
        }
    }
}

#[test]
fn r4_2_r5_2_default_and_fallback_skills_must_be_known_real_skills() {
    let mut config = RoutingConfig::default();
    config.account.default_skill = Some("ghost".into());
    let err = refused(&config, ErrorKind::UnknownSkill, "account.default_skill");
    assert_eq!(err.message, "unknown skill ghost");
    config.account.default_skill = Some("-1".into());
    refused(&config, ErrorKind::Invalid, "account.default_skill");
    config.account.default_skill = Some(String::new());
    refused(&config, ErrorKind::Invalid, "account.default_skill");
    config.account.default_skill = Some("sales".into());
    config.account.fallback_skill = Some("-1".into());
    refused(&config, ErrorKind::Invalid, "account.fallback_skill");
    config.account.fallback_skill = Some("a".into());
    skill_mut(&mut config, "sales").fallback_skill = Some("ghost".into());
    refused(&config, ErrorKind::UnknownSkill, "skills[sales].fallback_skill");
    skill_mut(&mut config, "sales").fallback_skill = Some("-1".into());
    refused(&config, ErrorKind::Invalid, "skills[sales].fallback_skill");
    skill_mut(&mut config, "sales").fallback_skill = Some("b".into());
    assert_eq!(check(&config), Ok(()));
}

#[test]
fn skill_keys_must_be_known_or_unassigned() {
    let mut config = RoutingConfig::default();
    skill_mut(&mut config, "-1").can_transfer = false;
    assert_eq!(check(&config), Ok(()), "-1 may be configured");
    skill_mut(&mut config, "ghost");
    refused(&config, ErrorKind::UnknownSkill, "skills[ghost]");
}

#[test]
fn r10_9_unassigned_skill_takes_no_fallback_or_response_times() {
    let mut config = RoutingConfig::default();
    skill_mut(&mut config, "-1").fallback_skill = Some("a".into());
    refused(&config, ErrorKind::Invalid, "skills[-1].fallback_skill");
    let mut config = RoutingConfig::default();
    skill_mut(&mut config, "-1").response_times.default_ms = Some(600_000);
    refused(&config, ErrorKind::Invalid, "skills[-1].response_times.default_ms");
}

#[test]
fn r5_1_a_skill_cannot_fall_back_to_itself() {
    let mut config = RoutingConfig::default();
    skill_mut(&mut config, "a").fallback_skill = Some("a".into());
    let err = refused(&config, ErrorKind::Invalid, "skills[a].fallback_skill");
    assert_eq!(err.message, "a skill cannot fall back to itself");
}

#[test]
fn r5_1_cycle_refusal_names_the_cycle() {
    let mut config = RoutingConfig::default();
    skill_mut(&mut config, "b").fallback_skill = Some("c".into());
    skill_mut(&mut config, "c").fallback_skill = Some("a".into());
    skill_mut(&mut config, "a").fallback_skill = Some("b".into());
    let err = refused(&config, ErrorKind::Cycle, "skills[a].fallback_skill");
    assert_eq!(err.message, "fallback cycle a -> b -> c -> a");
    skill_mut(&mut config, "c").fallback_skill = Some("d".into());
    assert_eq!(check(&config), Ok(()), "a chain is fine");
}

#[test]
fn r5_2_cycle_through_the_account_fallback_is_refused() {
    let mut config = RoutingConfig::default();
    config.account.fallback_skill = Some("b".into());
    skill_mut(&mut config, "b").fallback_skill = Some("a".into());
    let err = refused(&config, ErrorKind::Cycle, "account.fallback_skill");
    assert_eq!(err.message, "fallback cycle a -> b -> a");
    assert_eq!(err.to_string(), "account.fallback_skill: fallback cycle a -> b -> a");
}

#[test]
fn r4_8_transfer_list_entries_and_size() {
    let mut config = RoutingConfig::default();
    skill_mut(&mut config, "a").transfer_list = Some(vec!["b".into(), "-1".into(), "ghost".into()]);
    refused(&config, ErrorKind::UnknownSkill, "skills[a].transfer_list[2]");
    skill_mut(&mut config, "a").transfer_list = Some(vec!["b".into(); 500]);
    assert_eq!(check(&config), Ok(()));
    skill_mut(&mut config, "a").transfer_list = Some(vec!["b".into(); 501]);
    refused(&config, ErrorKind::Invalid, "skills[a].transfer_list");
}

#[test]
fn r8_20_group_split_rules() {
    let set = |groups: &[(&str, u32, u32)]| {
        let mut config = RoutingConfig::default();
        skill_mut(&mut config, "a").group_split = split(groups);
        config
    };
    assert_eq!(check(&set(&[])), Ok(()));
    assert_eq!(check(&set(&[("g1", 1, 99), ("g2", 2, 1)])), Ok(()));
    assert_eq!(check(&set(&[("a_b.c:d-E9", 1, 50), (&"x".repeat(64), 1, 50)])), Ok(()));
    refused(&set(&[("g1", 1, 100)]), ErrorKind::Invalid, "skills[a].group_split");
    let err = refused(&set(&[("g1", 1, 50), ("g2", 1, 49)]), ErrorKind::Invalid, "skills[a].group_split");
    assert_eq!(err.message, "percents must sum to 100, got 99 (R8.20)");
    refused(&set(&[("g1", 1, 50), ("g2", 1, 51)]), ErrorKind::Invalid, "skills[a].group_split");
    refused(&set(&[("g1", 1, 100), ("g2", 1, 0)]), ErrorKind::Invalid, "skills[a].group_split[1].percent");
    refused(&set(&[("g1", 1, 101), ("g2", 1, 1)]), ErrorKind::Invalid, "skills[a].group_split[0].percent");
    refused(&set(&[("g1", 0, 50), ("g2", 1, 50)]), ErrorKind::Invalid, "skills[a].group_split[0].priority");
    let err = refused(&set(&[("g1", 1, 50), ("g1", 2, 50)]), ErrorKind::Invalid, "skills[a].group_split[1].group_id");
    assert_eq!(err.message, "duplicate group g1");
    refused(&set(&[("", 1, 50), ("g2", 1, 50)]), ErrorKind::Invalid, "skills[a].group_split[0].group_id");
    refused(&set(&[("g 1", 1, 50), ("g2", 1, 50)]), ErrorKind::Invalid, "skills[a].group_split[0].group_id");
    refused(&set(&[("g1", 1, 50), (&"x".repeat(65), 1, 50)]), ErrorKind::Invalid, "skills[a].group_split[1].group_id");
}

fn rule(conditions: usize, skill: &str) -> ProfileRule {
    ProfileRule {
        name: "r".into(),
        all_of: vec![AttributeMatch { attribute: "ctype".into(), value: "vip".into() }; conditions],
        skill_id: skill.into(),
    }
}

#[test]
fn r4_3_profile_rule_limits() {
    let mut config = RoutingConfig { profile_rules: vec![rule(1, "a"); 100], ..Default::default() };
    assert_eq!(check(&config), Ok(()));
    config.profile_rules.push(rule(1, "a"));
    refused(&config, ErrorKind::Invalid, "profile_rules");

    let mut config =
        RoutingConfig { profile_rules: vec![rule(1, "a"), rule(1, "-1"), rule(10, "ghost")], ..Default::default() };
    refused(&config, ErrorKind::UnknownSkill, "profile_rules[2].skill_id");
    config.profile_rules[2] = rule(11, "a");
    refused(&config, ErrorKind::Invalid, "profile_rules[2].all_of");
    config.profile_rules[2] = rule(0, "a");
    refused(&config, ErrorKind::Invalid, "profile_rules[2].all_of");
    config.profile_rules[2] = rule(10, "");
    refused(&config, ErrorKind::Invalid, "profile_rules[2].skill_id");

    let mut config = RoutingConfig { profile_rules: vec![rule(2, "a")], ..Default::default() };
    config.profile_rules[0].name = "n".repeat(200);
    config.profile_rules[0].all_of[1] = AttributeMatch { attribute: "x".repeat(64), value: "v".repeat(256) };
    assert_eq!(check(&config), Ok(()));
    config.profile_rules[0].all_of[1].value.push('v');
    refused(&config, ErrorKind::Invalid, "profile_rules[0].all_of[1].value");
    config.profile_rules[0].all_of[1].value.clear();
    refused(&config, ErrorKind::Invalid, "profile_rules[0].all_of[1].value");
    config.profile_rules[0].all_of[1] = AttributeMatch { attribute: "x".repeat(65), value: "v".into() };
    refused(&config, ErrorKind::Invalid, "profile_rules[0].all_of[1].attribute");
    config.profile_rules[0].all_of[1].attribute.clear();
    refused(&config, ErrorKind::Invalid, "profile_rules[0].all_of[1].attribute");
    config.profile_rules[0].all_of[1].attribute = "x".into();
    config.profile_rules[0].name.push('n');
    refused(&config, ErrorKind::Invalid, "profile_rules[0].name");
}

fn engagement(campaign: &str, id: &str, skill: Option<&str>) -> Engagement {
    Engagement {
        campaign_id: campaign.into(),
        engagement_id: id.into(),
        name: "e".into(),
        skill_id: skill.map(String::from),
    }
}

#[test]
fn r4_2_engagement_rules() {
    let mut config = RoutingConfig::default();
    config.engagements.insert("c/e1".into(), engagement("c", "e1", Some("a")));
    config.engagements.insert("c/e2".into(), engagement("c", "e2", None));
    config.engagements.insert("c/e3".into(), engagement("c", "e3", Some("-1")));
    assert_eq!(check(&config), Ok(()));
    config.engagements.insert("c/e4".into(), engagement("c", "e4", Some("ghost")));
    refused(&config, ErrorKind::UnknownSkill, "engagements[c/e4].skill_id");
    config.engagements.insert("c/e4".into(), engagement("c", "e5", None));
    let err = refused(&config, ErrorKind::Invalid, "engagements[c/e4]");
    assert_eq!(err.message, "key must be c/e5");
    config.engagements.insert("c/e4".into(), engagement("c", "", None));
    refused(&config, ErrorKind::Invalid, "engagements[c/e4].engagement_id");
    config.engagements.insert("c/e4".into(), engagement("c/x", "e4", None));
    refused(&config, ErrorKind::Invalid, "engagements[c/e4].campaign_id");

    let mut config = RoutingConfig::default();
    for i in 0..5_000 {
        config.engagements.insert(format!("c/{i}"), engagement("c", &i.to_string(), None));
    }
    assert_eq!(check(&config), Ok(()));
    config.engagements.insert("c/5000".into(), engagement("c", "5000", None));
    refused(&config, ErrorKind::Invalid, "engagements");
}

fn velocity_rule(when: VelocityCondition, multiplier: f64) -> VelocityRule {
    VelocityRule { name: "v".into(), when, multiplier }
}

#[test]
fn r9_6_velocity_rule_limits() {
    let mut config = RoutingConfig {
        velocity_rules: vec![velocity_rule(VelocityCondition::ReturnedToQueue, 0.1); 49],
        ..Default::default()
    };
    config.velocity_rules.push(velocity_rule(VelocityCondition::MinTransfers { count: 2 }, 100.0));
    assert_eq!(check(&config), Ok(()));
    config.velocity_rules.push(velocity_rule(VelocityCondition::ReturnedToQueue, 1.0));
    refused(&config, ErrorKind::Invalid, "velocity_rules");

    for bad in [0.099, 100.01, f64::NAN, f64::INFINITY, -1.0] {
        let config = RoutingConfig {
            velocity_rules: vec![velocity_rule(VelocityCondition::Channel { channel: 3 }, bad)],
            ..Default::default()
        };
        refused(&config, ErrorKind::Invalid, "velocity_rules[0].multiplier");
    }
    let mut config = RoutingConfig {
        velocity_rules: vec![velocity_rule(VelocityCondition::Skill { skill_id: "ghost".into() }, 2.0)],
        ..Default::default()
    };
    refused(&config, ErrorKind::UnknownSkill, "velocity_rules[0].when.skill_id");
    config.velocity_rules = vec![velocity_rule(VelocityCondition::Skill { skill_id: "-1".into() }, 2.0)];
    assert_eq!(check(&config), Ok(()));
    let attr = |value: &str| VelocityCondition::Attribute { attribute: "tier".into(), value: value.into() };
    config.velocity_rules = vec![velocity_rule(attr(""), 2.0)];
    refused(&config, ErrorKind::Invalid, "velocity_rules[0].when.value");
    config.velocity_rules = vec![velocity_rule(attr(&"v".repeat(257)), 2.0)];
    refused(&config, ErrorKind::Invalid, "velocity_rules[0].when.value");
}

#[test]
fn human_durations_in_messages() {
    assert_eq!(human(0), "0");
    assert_eq!(human(72_000), "72s");
    assert_eq!(human(7_200_000), "2h");
    assert_eq!(human(2_592_000_000), "30d");
    assert_eq!(human(1_500), "1500ms");
}
