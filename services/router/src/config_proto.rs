//! The routing configuration between its gRPC shape (`switchyard.admin.v1`) and its stored one
//! (`switchyard-routing`). Decoding checks only what the wire allows but the domain cannot
//! hold (negative durations, unknown enum numbers, a missing condition); bounds and references
//! are the domain's validation, whose field paths [`proto_field`] renames to the request's.

use prost_types::Duration;
use switchyard_kit::ServiceError;
use switchyard_proto::admin::v1 as pb;
use switchyard_routing as domain;

type Decoded<T> = Result<T, ServiceError>;

pub fn duration_ms(field: &str, value: &Duration) -> Decoded<u64> {
    if value.seconds < 0 || value.nanos < 0 {
        return Err(ServiceError::invalid(field, "must not be negative"));
    }
    Ok((value.seconds as u64).saturating_mul(1000).saturating_add(value.nanos as u64 / 1_000_000))
}

fn optional_ms(field: &str, value: &Option<Duration>) -> Decoded<Option<u64>> {
    value.as_ref().map(|d| duration_ms(field, d)).transpose()
}

fn to_duration(ms: u64) -> Duration {
    Duration { seconds: (ms / 1000) as i64, nanos: ((ms % 1000) * 1_000_000) as i32 }
}

fn optional_id(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

pub fn account_from(field: &str, p: &pb::AccountRouting) -> Decoded<domain::AccountRouting> {
    let d = domain::AccountRouting::default();
    let ms = |name: &str, v: &Option<Duration>, default: u64| {
        optional_ms(&format!("{field}.{name}"), v).map(|v| v.unwrap_or(default))
    };
    let acd_mode = match pb::AcdMode::try_from(p.acd_mode) {
        Ok(pb::AcdMode::Unspecified | pb::AcdMode::AutoAccept) => domain::AcdMode::AutoAccept,
        Ok(pb::AcdMode::RingOne) => domain::AcdMode::RingOne,
        Ok(pb::AcdMode::RingAll) => domain::AcdMode::RingAll,
        Err(_) => return Err(ServiceError::invalid(format!("{field}.acd_mode"), "unknown mode")),
    };
    let times = p.response_times.unwrap_or_default();
    let rt = format!("{field}.response_times");
    Ok(domain::AccountRouting {
        default_skill: optional_id(&p.default_skill_id),
        fallback_skill: optional_id(&p.fallback_skill_id),
        acd_mode,
        ring_timeout_ms: ms("ring_timeout", &p.ring_timeout, d.ring_timeout_ms)?,
        reject_cooldown_ms: ms("reject_cooldown", &p.reject_cooldown, d.reject_cooldown_ms)?,
        fallback_after_transfer: p.fallback_after_transfer.unwrap_or(d.fallback_after_transfer),
        history_window_ms: ms("history_window", &p.history_window, d.history_window_ms)?,
        response_times: domain::ResponseTimes {
            default_ms: optional_ms(&format!("{rt}.default_time"), &times.default_time)?
                .unwrap_or(d.response_times.default_ms),
            urgent_ms: optional_ms(&format!("{rt}.urgent"), &times.urgent)?.unwrap_or(d.response_times.urgent_ms),
            first_time_ms: optional_ms(&format!("{rt}.first_time"), &times.first_time)?
                .unwrap_or(d.response_times.first_time_ms),
        },
        transfer_to_agent_max_wait_ms: ms(
            "transfer_to_agent_max_wait",
            &p.transfer_to_agent_max_wait,
            d.transfer_to_agent_max_wait_ms,
        )?,
        capacity: capacity_from(&format!("{field}.capacity"), &p.capacity.unwrap_or_default())?,
        auto_close_ms: ms("auto_close", &p.auto_close, d.auto_close_ms)?,
        away_reasons: p
            .away_reasons
            .iter()
            .map(|r| domain::AwayReason { id: r.id.clone(), name: r.name.clone() })
            .collect(),
    })
}

/// A weight in thousandths: finite, not negative, in steps of 0.001 (bounds are the domain's).
fn weight_milli(field: &str, value: f64) -> Decoded<u32> {
    let milli = value * 1000.0;
    if !milli.is_finite() || milli < 0.0 || milli > f64::from(u32::MAX) || (milli - milli.round()).abs() > 1e-6 {
        return Err(ServiceError::invalid(field, format!("must be a number of thousandths from 0, got {value}")));
    }
    Ok(milli.round() as u32)
}

fn optional_weight(field: &str, value: Option<f64>) -> Decoded<Option<u32>> {
    value.map(|v| weight_milli(field, v)).transpose()
}

fn capacity_from(field: &str, p: &pb::CapacityPolicy) -> Decoded<domain::CapacityPolicy> {
    let d = domain::CapacityPolicy::default();
    let mode = match pb::CapacityMode::try_from(p.mode) {
        Ok(pb::CapacityMode::Unspecified | pb::CapacityMode::Dynamic) => domain::CapacityMode::Dynamic,
        Ok(pb::CapacityMode::Concurrency) => domain::CapacityMode::Concurrency,
        Err(_) => return Err(ServiceError::invalid(format!("{field}.mode"), "unknown mode")),
    };
    Ok(domain::CapacityPolicy {
        mode,
        active_weight_milli: optional_weight(&format!("{field}.active_weight"), p.active_weight)?
            .unwrap_or(d.active_weight_milli),
        inactive_weight_milli: optional_weight(&format!("{field}.inactive_weight"), p.inactive_weight)?
            .unwrap_or(d.inactive_weight_milli),
        time_to_inactive_ms: optional_ms(&format!("{field}.time_to_inactive"), &p.time_to_inactive)?
            .unwrap_or(d.time_to_inactive_ms),
        max_open_conversations: p.max_open_conversations,
        warmup: warmup_from(&format!("{field}.warmup"), &p.warmup.unwrap_or_default())?,
        auto_unassign: auto_unassign_from(&format!("{field}.auto_unassign"), &p.auto_unassign.unwrap_or_default())?,
        manual_sla_reduction: {
            let (enabled, threshold_ms) = relief_from(
                &format!("{field}.manual_sla_reduction"),
                p.manual_sla_reduction,
                d.manual_sla_reduction.threshold_ms,
            )?;
            domain::ManualSlaReduction { enabled, threshold_ms }
        },
        backlog_relief: {
            let (enabled, threshold_ms) =
                relief_from(&format!("{field}.backlog_relief"), p.backlog_relief, d.backlog_relief.threshold_ms)?;
            domain::BacklogRelief { enabled, threshold_ms }
        },
    })
}

/// A relief flag and its threshold (unset: `default_ms`).
fn relief_from(field: &str, p: Option<pb::CapacityRelief>, default_ms: u64) -> Decoded<(bool, u64)> {
    let p = p.unwrap_or_default();
    let threshold = optional_ms(&format!("{field}.threshold"), &p.threshold)?;
    Ok((p.enabled, threshold.unwrap_or(default_ms)))
}

fn relief_to(enabled: bool, threshold_ms: u64) -> Option<pb::CapacityRelief> {
    Some(pb::CapacityRelief { enabled, threshold: Some(to_duration(threshold_ms)) })
}

fn auto_unassign_from(field: &str, p: &pb::AutoUnassign) -> Decoded<domain::AutoUnassign> {
    let after_ms = optional_ms(&format!("{field}.after"), &p.after)?;
    Ok(domain::AutoUnassign {
        after_ms: after_ms.unwrap_or(domain::AutoUnassign::default().after_ms),
        online: p.online,
        away: p.away,
        offline: p.offline,
    })
}

fn warmup_from(field: &str, p: &pb::Warmup) -> Decoded<domain::Warmup> {
    let d = domain::Warmup::default();
    Ok(domain::Warmup {
        enabled: p.enabled,
        interval_ms: optional_ms(&format!("{field}.interval"), &p.interval)?.unwrap_or(d.interval_ms),
        max_period_ms: optional_ms(&format!("{field}.max_period"), &p.max_period)?.unwrap_or(d.max_period_ms),
    })
}

fn capacity_to(d: &domain::CapacityPolicy) -> pb::CapacityPolicy {
    let mode = match d.mode {
        domain::CapacityMode::Dynamic => pb::CapacityMode::Dynamic,
        domain::CapacityMode::Concurrency => pb::CapacityMode::Concurrency,
    };
    pb::CapacityPolicy {
        mode: mode as i32,
        active_weight: Some(f64::from(d.active_weight_milli) / 1000.0),
        inactive_weight: Some(f64::from(d.inactive_weight_milli) / 1000.0),
        time_to_inactive: Some(to_duration(d.time_to_inactive_ms)),
        max_open_conversations: d.max_open_conversations,
        warmup: Some(pb::Warmup {
            enabled: d.warmup.enabled,
            interval: Some(to_duration(d.warmup.interval_ms)),
            max_period: Some(to_duration(d.warmup.max_period_ms)),
        }),
        auto_unassign: Some(pb::AutoUnassign {
            after: Some(to_duration(d.auto_unassign.after_ms)),
            online: d.auto_unassign.online,
            away: d.auto_unassign.away,
            offline: d.auto_unassign.offline,
        }),
        manual_sla_reduction: relief_to(d.manual_sla_reduction.enabled, d.manual_sla_reduction.threshold_ms),
        backlog_relief: relief_to(d.backlog_relief.enabled, d.backlog_relief.threshold_ms),
    }
}

fn capacity_overrides_from(field: &str, p: &pb::CapacityOverrides) -> Decoded<domain::CapacityOverrides> {
    Ok(domain::CapacityOverrides {
        active_weight_milli: optional_weight(&format!("{field}.active_weight"), p.active_weight)?,
        inactive_weight_milli: optional_weight(&format!("{field}.inactive_weight"), p.inactive_weight)?,
        time_to_inactive_ms: optional_ms(&format!("{field}.time_to_inactive"), &p.time_to_inactive)?,
        warmup_enabled: p.warmup,
    })
}

fn capacity_overrides_to(d: &domain::CapacityOverrides) -> pb::CapacityOverrides {
    pb::CapacityOverrides {
        active_weight: d.active_weight_milli.map(|m| f64::from(m) / 1000.0),
        inactive_weight: d.inactive_weight_milli.map(|m| f64::from(m) / 1000.0),
        time_to_inactive: d.time_to_inactive_ms.map(to_duration),
        warmup: d.warmup_enabled,
    }
}

pub fn account_to(d: &domain::AccountRouting) -> pb::AccountRouting {
    let acd_mode = match d.acd_mode {
        domain::AcdMode::AutoAccept => pb::AcdMode::AutoAccept,
        domain::AcdMode::RingOne => pb::AcdMode::RingOne,
        domain::AcdMode::RingAll => pb::AcdMode::RingAll,
    };
    pb::AccountRouting {
        default_skill_id: d.default_skill.clone().unwrap_or_default(),
        fallback_skill_id: d.fallback_skill.clone().unwrap_or_default(),
        acd_mode: acd_mode as i32,
        ring_timeout: Some(to_duration(d.ring_timeout_ms)),
        reject_cooldown: Some(to_duration(d.reject_cooldown_ms)),
        fallback_after_transfer: Some(d.fallback_after_transfer),
        history_window: Some(to_duration(d.history_window_ms)),
        response_times: Some(pb::ResponseTimes {
            default_time: Some(to_duration(d.response_times.default_ms)),
            urgent: Some(to_duration(d.response_times.urgent_ms)),
            first_time: Some(to_duration(d.response_times.first_time_ms)),
        }),
        transfer_to_agent_max_wait: Some(to_duration(d.transfer_to_agent_max_wait_ms)),
        capacity: Some(capacity_to(&d.capacity)),
        auto_close: Some(to_duration(d.auto_close_ms)),
        away_reasons: d
            .away_reasons
            .iter()
            .map(|r| pb::AwayReason { id: r.id.clone(), name: r.name.clone() })
            .collect(),
    }
}

pub fn skill_from(field: &str, p: &pb::SkillRouting) -> Decoded<domain::SkillRouting> {
    let times = p.response_times.unwrap_or_default();
    let rt = format!("{field}.response_times");
    let unassigned_policy = match pb::UnassignedPolicy::try_from(p.unassigned_policy) {
        Ok(pb::UnassignedPolicy::Unspecified | pb::UnassignedPolicy::Unassigned) => {
            domain::UnassignedPolicy::Unassigned
        }
        Ok(pb::UnassignedPolicy::Keep) => domain::UnassignedPolicy::Keep,
        Ok(pb::UnassignedPolicy::Fallback) => domain::UnassignedPolicy::Fallback,
        Err(_) => return Err(ServiceError::invalid(format!("{field}.unassigned_policy"), "unknown policy")),
    };
    Ok(domain::SkillRouting {
        response_times: domain::ResponseTimeOverrides {
            default_ms: optional_ms(&format!("{rt}.default_time"), &times.default_time)?,
            urgent_ms: optional_ms(&format!("{rt}.urgent"), &times.urgent)?,
            first_time_ms: optional_ms(&format!("{rt}.first_time"), &times.first_time)?,
        },
        fallback_skill: optional_id(&p.fallback_skill_id),
        fallback_when_all_agents_away: p.fallback_when_all_agents_away,
        can_transfer: p.can_transfer.unwrap_or(true),
        transfer_list: p.transfer_list.as_ref().map(|l| l.skill_ids.clone()),
        transfer_to_agent_max_wait_ms: optional_ms(
            &format!("{field}.transfer_to_agent_max_wait"),
            &p.transfer_to_agent_max_wait,
        )?,
        group_split: p
            .group_split
            .iter()
            .map(|g| domain::GroupSplit { group_id: g.group_id.clone(), priority: g.priority, percent: g.percent })
            .collect(),
        unassigned_policy,
        workdays_id: optional_id(&p.workdays_id),
        occasions_id: optional_id(&p.occasions_id),
        capacity: capacity_overrides_from(&format!("{field}.capacity"), &p.capacity.unwrap_or_default())?,
        auto_close_ms: optional_ms(&format!("{field}.auto_close"), &p.auto_close)?,
    })
}

pub fn skill_to(d: &domain::SkillRouting) -> pb::SkillRouting {
    let unassigned_policy = match d.unassigned_policy {
        domain::UnassignedPolicy::Unassigned => pb::UnassignedPolicy::Unassigned,
        domain::UnassignedPolicy::Keep => pb::UnassignedPolicy::Keep,
        domain::UnassignedPolicy::Fallback => pb::UnassignedPolicy::Fallback,
    };
    let times = &d.response_times;
    pb::SkillRouting {
        response_times: Some(pb::ResponseTimes {
            default_time: times.default_ms.map(to_duration),
            urgent: times.urgent_ms.map(to_duration),
            first_time: times.first_time_ms.map(to_duration),
        }),
        fallback_skill_id: d.fallback_skill.clone().unwrap_or_default(),
        fallback_when_all_agents_away: d.fallback_when_all_agents_away,
        can_transfer: Some(d.can_transfer),
        transfer_list: d.transfer_list.as_ref().map(|l| pb::TransferList { skill_ids: l.clone() }),
        transfer_to_agent_max_wait: d.transfer_to_agent_max_wait_ms.map(to_duration),
        group_split: d
            .group_split
            .iter()
            .map(|g| pb::GroupSplit { group_id: g.group_id.clone(), priority: g.priority, percent: g.percent })
            .collect(),
        unassigned_policy: unassigned_policy as i32,
        workdays_id: d.workdays_id.clone().unwrap_or_default(),
        occasions_id: d.occasions_id.clone().unwrap_or_default(),
        capacity: Some(capacity_overrides_to(&d.capacity)),
        auto_close: d.auto_close_ms.map(to_duration),
    }
}

fn attribute_from(a: &pb::AttributeMatch) -> domain::AttributeMatch {
    domain::AttributeMatch { attribute: a.attribute.clone(), value: a.value.clone() }
}

fn attribute_to(a: &domain::AttributeMatch) -> pb::AttributeMatch {
    pb::AttributeMatch { attribute: a.attribute.clone(), value: a.value.clone() }
}

pub fn profile_rule_from(p: &pb::ProfileRule) -> domain::ProfileRule {
    domain::ProfileRule {
        name: p.name.clone(),
        all_of: p.all_of.iter().map(attribute_from).collect(),
        skill_id: p.skill_id.clone(),
    }
}

pub fn engagement_from(p: &pb::Engagement) -> domain::Engagement {
    domain::Engagement {
        campaign_id: p.campaign_id.clone(),
        engagement_id: p.engagement_id.clone(),
        name: p.name.clone(),
        skill_id: optional_id(&p.skill_id),
    }
}

pub fn velocity_rule_from(field: &str, p: &pb::VelocityRule) -> Decoded<domain::VelocityRule> {
    use pb::velocity_rule::When;
    let when = match &p.when {
        Some(When::MinTransfers(count)) => domain::VelocityCondition::MinTransfers { count: *count },
        Some(When::Channel(channel)) => domain::VelocityCondition::Channel { channel: *channel },
        Some(When::Attribute(a)) => {
            domain::VelocityCondition::Attribute { attribute: a.attribute.clone(), value: a.value.clone() }
        }
        Some(When::SkillId(skill_id)) => domain::VelocityCondition::Skill { skill_id: skill_id.clone() },
        Some(When::ReturnedToQueue(true)) => domain::VelocityCondition::ReturnedToQueue,
        Some(When::ReturnedToQueue(false)) | None => {
            return Err(ServiceError::invalid(format!("{field}.when"), "one condition is required"))
        }
    };
    Ok(domain::VelocityRule { name: p.name.clone(), when, multiplier: p.multiplier })
}

fn velocity_rule_to(d: &domain::VelocityRule) -> pb::VelocityRule {
    use pb::velocity_rule::When;
    let when = match &d.when {
        domain::VelocityCondition::MinTransfers { count } => When::MinTransfers(*count),
        domain::VelocityCondition::Channel { channel } => When::Channel(*channel),
        domain::VelocityCondition::Attribute { attribute, value } => {
            When::Attribute(pb::AttributeMatch { attribute: attribute.clone(), value: value.clone() })
        }
        domain::VelocityCondition::Skill { skill_id } => When::SkillId(skill_id.clone()),
        domain::VelocityCondition::ReturnedToQueue => When::ReturnedToQueue(true),
    };
    pb::VelocityRule { name: d.name.clone(), multiplier: d.multiplier, when: Some(when) }
}

pub fn config_to(d: &domain::RoutingConfig) -> pb::RoutingConfig {
    pb::RoutingConfig {
        account: Some(account_to(&d.account)),
        skills: d.skills.iter().map(|(id, s)| (id.clone(), skill_to(s))).collect(),
        profile_rules: d
            .profile_rules
            .iter()
            .map(|r| pb::ProfileRule {
                name: r.name.clone(),
                all_of: r.all_of.iter().map(attribute_to).collect(),
                skill_id: r.skill_id.clone(),
            })
            .collect(),
        engagements: d
            .engagements
            .values()
            .map(|e| pb::Engagement {
                campaign_id: e.campaign_id.clone(),
                engagement_id: e.engagement_id.clone(),
                name: e.name.clone(),
                skill_id: e.skill_id.clone().unwrap_or_default(),
            })
            .collect(),
        velocity_rules: d.velocity_rules.iter().map(velocity_rule_to).collect(),
    }
}

/// A domain validation path as the request spells it: `skills[sales].fallback_skill` is
/// `skill.fallback_skill_id` of a SetSkillRouting, `account.ring_timeout_ms` is
/// `account.ring_timeout`, `profile_rules[2]` is `rules[2]`.
pub fn proto_field(path: &str) -> String {
    let mut out = path.to_owned();
    if let Some(rest) = out.strip_prefix("skills[") {
        if let Some(end) = rest.find("].") {
            out = format!("skill.{}", &rest[end + 2..]);
        }
    }
    for (from, to) in [("profile_rules[", "rules["), ("velocity_rules[", "rules[")] {
        if let Some(rest) = out.strip_prefix(from) {
            out = format!("{to}{rest}");
        }
    }
    if out.starts_with("engagements[") {
        out = "engagement".to_owned();
    }
    out.split('.')
        .map(|part| match part {
            "default_ms" => "default_time".to_owned(),
            "fallback_skill" => "fallback_skill_id".to_owned(),
            "default_skill" => "default_skill_id".to_owned(),
            other => other.strip_suffix("_ms").or_else(|| other.strip_suffix("_milli")).unwrap_or(other).to_owned(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_unset_account_setting_takes_its_default_and_reads_back_filled_in() {
        let decoded = account_from("account", &pb::AccountRouting::default()).unwrap();
        assert_eq!(decoded, domain::AccountRouting::default());
        let round = account_from("account", &account_to(&decoded)).unwrap();
        assert_eq!(round, decoded);
        // History window 0s is "off", not "unset".
        let off = pb::AccountRouting { history_window: Some(Duration::default()), ..Default::default() };
        assert_eq!(account_from("account", &off).unwrap().history_window_ms, 0);
    }

    #[test]
    fn skill_settings_round_trip_and_unset_times_inherit() {
        let p = pb::SkillRouting {
            response_times: Some(pb::ResponseTimes { urgent: Some(to_duration(120_000)), ..Default::default() }),
            fallback_skill_id: "b".into(),
            can_transfer: Some(false),
            transfer_list: Some(pb::TransferList { skill_ids: vec!["c".into()] }),
            group_split: vec![pb::GroupSplit { group_id: "g".into(), priority: 1, percent: 100 }],
            unassigned_policy: pb::UnassignedPolicy::Keep as i32,
            ..Default::default()
        };
        let d = skill_from("skill", &p).unwrap();
        assert_eq!(d.response_times.urgent_ms, Some(120_000));
        assert_eq!(d.response_times.default_ms, None);
        assert_eq!(d.transfer_list.as_deref(), Some(&["c".to_owned()][..]));
        assert_eq!(skill_from("skill", &skill_to(&d)).unwrap(), d);
        assert_eq!(skill_from("skill", &pb::SkillRouting::default()).unwrap(), domain::SkillRouting::default());
    }

    #[test]
    fn wire_values_the_domain_cannot_hold_name_their_field() {
        let negative =
            pb::AccountRouting { ring_timeout: Some(Duration { seconds: -1, nanos: 0 }), ..Default::default() };
        let err = account_from("account", &negative).unwrap_err();
        assert!(err.to_string().contains("account.ring_timeout"), "{err}");
        let mode = pb::AccountRouting { acd_mode: 99, ..Default::default() };
        assert!(account_from("account", &mode).unwrap_err().to_string().contains("account.acd_mode"));
        let rule = pb::VelocityRule { name: "r".into(), multiplier: 2.0, when: None };
        assert!(velocity_rule_from("rules[0]", &rule).unwrap_err().to_string().contains("rules[0].when"));
    }

    #[test]
    fn domain_paths_are_renamed_to_the_request_fields() {
        assert_eq!(proto_field("skills[sales].fallback_skill"), "skill.fallback_skill_id");
        assert_eq!(proto_field("account.ring_timeout_ms"), "account.ring_timeout");
        assert_eq!(proto_field("account.response_times.default_ms"), "account.response_times.default_time");
        assert_eq!(proto_field("skills[sales].capacity.inactive_weight_milli"), "skill.capacity.inactive_weight");
        assert_eq!(proto_field("skills[a].response_times.urgent_ms"), "skill.response_times.urgent");
        assert_eq!(proto_field("profile_rules[2].all_of[0].value"), "rules[2].all_of[0].value");
        assert_eq!(proto_field("account.default_skill"), "account.default_skill_id");
        assert_eq!(proto_field("skills[a].group_split[1].percent"), "skill.group_split[1].percent");
    }
}
