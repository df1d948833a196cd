//! Where a conversation goes in its queue, from the account's routing configuration: the
//! response time that applies (R10.1-R10.3), when the response is due (R10.4, R10.6), whether
//! it is actionable (R9.2), the velocity of the matching business rules (R9.5, R9.6), and the
//! resulting static score (`switchyard_routing::score`). Pure: the engine reads the facts.

use std::collections::BTreeMap;

use switchyard_platform::store::{PendingSide, Placement, QueueReason, Route, RouteStatus, ONE};
use switchyard_routing::{
    allocate_group, cascade, group_after_move, response_time_ms, score, urgent_due_ms, velocity, ConversationFacts,
    RoutingConfig, ScoreInput, SlaKind,
};

/// What a conversation's place depends on.
pub struct Facts<'a> {
    pub skill_id: &'a str,
    pub channel: i32,
    pub profile: &'a BTreeMap<String, String>,
    /// The consumer's first conversation (R10.2).
    pub first_conversation: bool,
    /// Transfers so far, this one included.
    pub transfers: u32,
    pub reason: QueueReason,
    /// The agent group it is allocated to (R8.20, R8.21); empty: none.
    pub agent_group: String,
    /// The response time it ran on so far (the route's `sla`; empty for a new one): an urgent
    /// mark stays with it (R10.3), a manual time is kept on a return to the queue (R10.8).
    pub prior_sla: &'a str,
}

/// The `sla` of a conversation whose agent set its response time (R10.8).
pub const MANUAL: &str = switchyard_routing::MANUAL_SLA;

pub use switchyard_routing::sla_kind;

/// R8.20: the group a new conversation of the skill is allocated to by the skill's split.
pub fn allocate(config: &RoutingConfig, skill_id: &str, conversation_id: &str) -> String {
    allocate_group(&config.skill(skill_id).group_split, conversation_id).unwrap_or_default()
}

/// R8.21: on a move to `skill_id` the group is kept unless that skill splits across groups
/// without it (then re-allocated there).
pub fn regroup(config: &RoutingConfig, skill_id: &str, current: &str, conversation_id: &str) -> String {
    let current = (!current.is_empty()).then_some(current);
    group_after_move(&config.skill(skill_id).group_split, current, conversation_id).unwrap_or_default()
}

/// R6.8, R8.20: the groups whose agents may take a conversation allocated to `group`, in
/// order: the group, then the skill's other groups by cascade priority. No group: any agent.
pub fn eligible_groups(config: &RoutingConfig, skill_id: &str, group: &str) -> Vec<String> {
    if group.is_empty() {
        return Vec::new();
    }
    let mut groups = vec![group.to_owned()];
    let split = &config.skill(skill_id).group_split;
    groups.extend(cascade(split).into_iter().filter(|g| *g != group).map(str::to_owned));
    groups
}

/// The place of a conversation whose wait (re)started at `started_ms`: due after the skill's
/// response time of working hours (R10.4 for a consumer message, R10.6 for a transfer,
/// R10.10 and R10.11 across off hours), actionable.
/// A manual response time (R10.8) does not survive a move to a skill: that skill's times apply
/// (R10.6).
pub fn restarted(config: &RoutingConfig, facts: &Facts<'_>, started_ms: i64) -> Placement {
    let kind = sla_kind(facts.first_conversation, facts.prior_sla);
    let allowed = response_time_ms(config, facts.skill_id, kind);
    place(config, facts, kind, started_ms, config.due_ms(facts.skill_id, started_ms, allowed), true)
}

/// The place of a conversation returned to the queue (back to queue, logout) at `now_ms`: the
/// consumer has been waiting all along, so the due time is kept, a manual one too (R10.8);
/// actionable only when the consumer wrote last (R9.2), and under a far manual time with
/// manual-SLA reduction on not before [`manual_actionable_at`] (R8.17).
pub fn returned(
    config: &RoutingConfig,
    facts: &Facts<'_>,
    due_ms: i64,
    pending: PendingSide,
    now_ms: i64,
) -> Placement {
    let kind = sla_kind(facts.first_conversation, facts.prior_sla);
    // The wait's start is not kept: a whole response time before the due time stands for it.
    let started_ms = due_ms.saturating_sub(response_time_ms(config, facts.skill_id, kind) as i64);
    let waits = manual_actionable_at(config, facts.prior_sla, due_ms, now_ms).is_some();
    let mut placement = place(config, facts, kind, started_ms, due_ms, pending != PendingSide::Consumer && !waits);
    if facts.prior_sla == MANUAL {
        placement.sla = MANUAL.to_owned();
    }
    placement
}

/// R8.17: when a conversation returned to the queue at `now_ms` under a manual response time
/// due at `due_ms` becomes actionable (the reduction threshold before it); None when that is
/// not later than now or the time is not manual or the account's flag is off.
pub fn manual_actionable_at(config: &RoutingConfig, prior_sla: &str, due_ms: i64, now_ms: i64) -> Option<i64> {
    if prior_sla != MANUAL {
        return None;
    }
    config.manual_sla_actionable_at(due_ms).filter(|at| *at > now_ms)
}

/// R10.4: a consumer message while queued restarts the due time from the message, under the
/// response time and velocity the conversation was placed with (neither depends on the
/// message); a conversation the agent had answered becomes actionable again (R9.2). None for
/// a message before a manual due time, which it does not restart (R10.8); after it, the
/// default response time applies again.
pub fn after_consumer_message(config: &RoutingConfig, route: &Route, message_at_ms: i64) -> Option<Placement> {
    if route.sla == MANUAL && message_at_ms < route.response_due_ms {
        return None;
    }
    let kind = SlaKind::from_name(&route.sla);
    let allowed = response_time_ms(config, &route.skill_id, kind);
    Some(counted_from(route, message_at_ms, config.due_ms(&route.skill_id, message_at_ms, allowed), kind.name()))
}

/// R10.3: the place of a conversation its consumer marked urgent, whose wait began at
/// `wait_started_ms`: due within the skill's urgent response time from then, unless it was
/// queued due sooner.
pub fn marked_urgent(config: &RoutingConfig, route: &Route, wait_started_ms: i64) -> Placement {
    let queued_due = (route.status == RouteStatus::Queued).then_some(route.response_due_ms);
    let due_ms = urgent_due_ms(config, &route.skill_id, wait_started_ms, queued_due);
    counted_from(route, wait_started_ms, due_ms, SlaKind::Urgent.name())
}

/// R10.3: the place of a conversation whose consumer withdrew its urgent mark: due within
/// the `kind` response time (default or first-time) from the wait that began at
/// `wait_started_ms`, counted in working hours.
pub fn urgent_withdrawn(config: &RoutingConfig, route: &Route, kind: SlaKind, wait_started_ms: i64) -> Placement {
    let allowed = response_time_ms(config, &route.skill_id, kind);
    let due_ms = config.due_ms(&route.skill_id, wait_started_ms, allowed);
    counted_from(route, wait_started_ms, due_ms, kind.name())
}

/// R10.8: the place of a conversation whose agent set, at `set_at_ms`, that it responds by
/// `due_ms`.
pub fn manual(route: &Route, set_at_ms: i64, due_ms: i64) -> Placement {
    counted_from(route, set_at_ms.min(due_ms), due_ms, MANUAL)
}

/// An actionable place due at `due_ms` for a wait that began at `started_ms`, under the
/// velocity it was placed with.
fn counted_from(route: &Route, started_ms: i64, due_ms: i64, sla: &str) -> Placement {
    let velocity = route.velocity_milli as f64 / ONE as f64;
    let scored = score(ScoreInput { actionable: true, became_actionable_ms: started_ms, due_ms, velocity });
    Placement {
        due_ms,
        score: scored.value as i64,
        actionable: true,
        sla: sla.to_owned(),
        velocity_milli: route.velocity_milli,
        agent_group: route.agent_group.clone(),
    }
}

/// The place of a wait that began at `started_ms` and is due at `due_ms`.
fn place(
    config: &RoutingConfig,
    facts: &Facts<'_>,
    kind: SlaKind,
    started_ms: i64,
    due_ms: i64,
    actionable: bool,
) -> Placement {
    let returned_to_queue =
        matches!(facts.reason, QueueReason::BackToQueue | QueueReason::AgentLoggedOut | QueueReason::AutoUnassigned);
    let facts_for_rules = ConversationFacts {
        transfers: facts.transfers,
        channel: facts.channel,
        profile: facts.profile,
        skill_id: facts.skill_id,
        returned_to_queue,
    };
    let velocity = velocity(config, &facts_for_rules);
    // Velocity compresses the whole wait, from when it began.
    let scored = score(ScoreInput { actionable, became_actionable_ms: started_ms, due_ms, velocity });
    Placement {
        due_ms,
        score: scored.value as i64,
        actionable,
        sla: kind.name().to_owned(),
        velocity_milli: (scored.velocity * ONE as f64).round() as i64,
        agent_group: facts.agent_group.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_routing::{VelocityCondition, VelocityRule, NON_ACTIONABLE_OFFSET_MS};

    const MIN: i64 = 60_000;

    fn facts<'a>(profile: &'a BTreeMap<String, String>, first: bool, reason: QueueReason) -> Facts<'a> {
        Facts {
            skill_id: "sales",
            channel: 1,
            profile,
            first_conversation: first,
            transfers: 0,
            reason,
            agent_group: String::new(),
            prior_sla: "",
        }
    }

    fn queued_route() -> Route {
        let mut route = crate::testing::route(RouteStatus::Queued, 0, 60 * MIN, "default", 2 * ONE);
        route.queue_reason = QueueReason::BackToQueue;
        route
    }

    #[test]
    fn r10_2_first_time_consumers_are_due_sooner_than_returning_ones() {
        let profile = BTreeMap::new();
        let config = RoutingConfig::default();
        let first = restarted(&config, &facts(&profile, true, QueueReason::New), 0);
        let returning = restarted(&config, &facts(&profile, false, QueueReason::New), 0);
        // Defaults: first-time 10 min, default 60 min (R10.12 examples).
        assert_eq!((first.due_ms, first.sla.as_str()), (10 * MIN, "first_time"));
        assert_eq!((returning.due_ms, returning.sla.as_str()), (60 * MIN, "default"));
        assert!(first.score < returning.score);
    }

    /// Open 08:00-20:00 every day in New York, response time 15 minutes.
    fn day_shift() -> RoutingConfig {
        let doc = br#"{
            "account": {"response_times": {"default_ms": 900000, "urgent_ms": 600000}},
            "hours": {
                "mode": {"mode": "automatic"},
                "workdays": {"day": {"name": "day", "time_zone": "America/New_York", "days": {
                    "monday": {"status": "custom", "shifts": [{"start": 480, "end": 1200}]},
                    "tuesday": {"status": "custom", "shifts": [{"start": 480, "end": 1200}]},
                    "wednesday": {"status": "custom", "shifts": [{"start": 480, "end": 1200}]},
                    "thursday": {"status": "custom", "shifts": [{"start": 480, "end": 1200}]},
                    "friday": {"status": "custom", "shifts": [{"start": 480, "end": 1200}]},
                    "saturday": {"status": "off"}, "sunday": {"status": "off"}}}},
                "default_workdays_id": "day"
            }
        }"#;
        RoutingConfig::from_json(doc).unwrap()
    }

    fn at(rfc3339: &str) -> i64 {
        rfc3339.parse::<switchyard_hours::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn r10_10_r10_11_due_times_count_only_working_hours() {
        let profile = BTreeMap::new();
        let config = day_shift();
        // Tuesday 00:00: due 8 h 15 min later (R10.10).
        let night = restarted(&config, &facts(&profile, false, QueueReason::New), at("2026-12-01T00:00:00-05:00"));
        assert_eq!(night.due_ms, at("2026-12-01T08:15:00-05:00"));
        // A message at 19:55 spends 5 minutes today and 10 tomorrow (R10.11).
        let mut route = queued_route();
        route.skill_id = "sales".into();
        let late = after_consumer_message(&config, &route, at("2026-12-01T19:55:00-05:00")).unwrap();
        assert_eq!(late.due_ms, at("2026-12-02T08:10:00-05:00"));
        // Friday evening waits through the weekend (Saturday and Sunday off).
        let friday = restarted(&config, &facts(&profile, false, QueueReason::New), at("2026-12-04T21:00:00-05:00"));
        assert_eq!(friday.due_ms, at("2026-12-07T08:15:00-05:00"));
        // An urgent mark at night counts its 10 minutes from the opening (R10.3, R10.10).
        route.response_due_ms = night.due_ms;
        let urgent = marked_urgent(&config, &route, at("2026-12-01T00:00:00-05:00"));
        assert_eq!(urgent.due_ms, at("2026-12-01T08:10:00-05:00"));
        // One that arrived in the previous evening's shift is due sooner and served first.
        let evening = restarted(&config, &facts(&profile, false, QueueReason::New), at("2026-11-30T19:50:00-05:00"));
        assert_eq!(evening.due_ms, at("2026-12-01T08:05:00-05:00"));
        assert!(evening.score < night.score);
    }

    #[test]
    fn r10_1_a_skill_response_time_overrides_the_account() {
        let profile = BTreeMap::new();
        let mut config = RoutingConfig::default();
        config.skills.entry("sales".into()).or_default().response_times.default_ms = Some(5 * MIN as u64);
        assert_eq!(restarted(&config, &facts(&profile, false, QueueReason::New), 1_000).due_ms, 1_000 + 5 * MIN);
    }

    #[test]
    fn r9_2_a_return_after_the_agent_wrote_last_is_not_actionable_and_keeps_its_due_time() {
        let profile = BTreeMap::new();
        let config = RoutingConfig::default();
        let back = facts(&profile, false, QueueReason::BackToQueue);
        let waiting = returned(&config, &back, 42 * MIN, PendingSide::Agent, 0);
        assert!(waiting.actionable);
        assert_eq!((waiting.due_ms, waiting.score), (42 * MIN, 42 * MIN));
        let answered = returned(&config, &back, 42 * MIN, PendingSide::Consumer, 0);
        assert!(!answered.actionable);
        assert_eq!(answered.score, 42 * MIN + NON_ACTIONABLE_OFFSET_MS as i64);
    }

    #[test]
    fn r10_4_a_consumer_message_restarts_the_due_time_and_makes_it_actionable() {
        let config = RoutingConfig::default();
        let mut route = queued_route();
        route.response_due_ms = 5 * MIN;
        route.queue_score = 5 * MIN + NON_ACTIONABLE_OFFSET_MS as i64;
        route.actionable = false;
        route.sla = "first_time".into();
        let moved = after_consumer_message(&config, &route, 30 * MIN).unwrap();
        // First-time 10 min from the message, velocity 2 kept: placed at 5 min after it.
        assert_eq!((moved.due_ms, moved.score, moved.actionable), (40 * MIN, 35 * MIN, true));
        route.sla = "default".into();
        assert_eq!(after_consumer_message(&config, &route, 30 * MIN).unwrap().due_ms, 90 * MIN);
    }

    #[test]
    fn r10_8_a_manual_response_time_is_not_restarted_by_messages_before_it() {
        let config = RoutingConfig::default();
        let mut route = queued_route();
        let set = manual(&route, 10 * MIN, 200 * MIN);
        assert_eq!((set.due_ms, set.sla.as_str(), set.actionable), (200 * MIN, "manual", true));
        route.response_due_ms = set.due_ms;
        route.sla = set.sla;
        assert_eq!(after_consumer_message(&config, &route, 100 * MIN), None, "inside the window");
        // After it the default response time (60 min) counts from the message.
        let after = after_consumer_message(&config, &route, 201 * MIN).unwrap();
        assert_eq!((after.due_ms, after.sla.as_str()), (261 * MIN, "default"));
        // A return to the queue keeps it.
        let profile = BTreeMap::new();
        let mut back = facts(&profile, false, QueueReason::BackToQueue);
        back.prior_sla = MANUAL;
        let returned = returned(&config, &back, 200 * MIN, PendingSide::Agent, 0);
        assert_eq!((returned.due_ms, returned.sla.as_str()), (200 * MIN, "manual"));
        // A transfer to a skill applies that skill's times (R10.6).
        assert_eq!(restarted(&config, &back, 300 * MIN).sla, "default");
    }

    #[test]
    fn r10_3_an_urgent_mark_moves_the_due_time_up_and_stays() {
        let config = RoutingConfig::default();
        let mut route = queued_route();
        route.response_due_ms = 70 * MIN;
        // Default urgent 10 min from the wait that began at 10 min.
        let urgent = marked_urgent(&config, &route, 10 * MIN);
        assert_eq!((urgent.due_ms, urgent.score, urgent.sla.as_str()), (20 * MIN, 15 * MIN, "urgent"));
        // Never later than a queued due time.
        route.response_due_ms = 12 * MIN;
        assert_eq!(marked_urgent(&config, &route, 10 * MIN).due_ms, 12 * MIN);
        // Assigned: its stored due time is from its queue stay, not the consumer's wait.
        route.status = switchyard_platform::store::RouteStatus::Assigned;
        assert_eq!(marked_urgent(&config, &route, 10 * MIN).due_ms, 20 * MIN);
        // The mark stays: later messages and transfers count with the urgent time.
        route.sla = urgent.sla;
        assert_eq!(after_consumer_message(&config, &route, 30 * MIN).unwrap().due_ms, 40 * MIN);
        let profile = BTreeMap::new();
        let mut moved = facts(&profile, false, QueueReason::Transfer);
        moved.prior_sla = "urgent";
        assert_eq!(restarted(&config, &moved, 0).due_ms, 10 * MIN);
    }

    #[test]
    fn r8_20_groups_are_allocated_kept_and_cascaded() {
        use switchyard_routing::GroupSplit;
        let mut config = RoutingConfig::default();
        let split = [("east", 2, 50), ("west", 1, 50)]
            .iter()
            .map(|(id, priority, percent)| GroupSplit {
                group_id: id.to_string(),
                priority: *priority,
                percent: *percent,
            })
            .collect();
        config.skills.entry("sales".into()).or_default().group_split = split;
        let group = allocate(&config, "sales", "c1");
        assert!(group == "east" || group == "west");
        assert_eq!(allocate(&config, "support", "c1"), "", "no split: no group");
        // R6.8: the allocated group first, then the others by priority.
        assert_eq!(eligible_groups(&config, "sales", "east"), ["east", "west"]);
        assert_eq!(eligible_groups(&config, "sales", ""), Vec::<String>::new());
        // R8.21: kept on a move to a skill without split, re-allocated when the split lacks it.
        assert_eq!(regroup(&config, "support", "north", "c1"), "north");
        let moved = regroup(&config, "sales", "north", "c1");
        assert!(moved == "east" || moved == "west");
        assert_eq!(regroup(&config, "sales", "west", "c1"), "west");
    }

    #[test]
    fn r9_6_velocity_rules_compress_the_response_time() {
        let profile: BTreeMap<String, String> = [("tier".to_owned(), "Gold".to_owned())].into();
        let mut config = RoutingConfig::default();
        config.velocity_rules.push(VelocityRule {
            name: "gold".into(),
            when: VelocityCondition::Attribute { attribute: "tier".into(), value: "gold".into() },
            multiplier: 4.0,
        });
        let gold = restarted(&config, &facts(&profile, false, QueueReason::New), 0);
        // 60 min allowed, 4x velocity: placed as if due after 15 min; due time itself unchanged.
        assert_eq!((gold.due_ms, gold.score, gold.velocity_milli), (60 * MIN, 15 * MIN, 4 * ONE));
        let plain = restarted(&config, &facts(&BTreeMap::new(), false, QueueReason::New), 0);
        assert_eq!((plain.score, plain.velocity_milli), (60 * MIN, ONE));
    }

    #[test]
    fn r8_17_back_in_the_queue_under_a_far_manual_time_it_waits_until_the_threshold_before_it() {
        let profile = BTreeMap::new();
        let mut config = RoutingConfig::default();
        config.account.capacity.manual_sla_reduction.enabled = true;
        config.account.capacity.manual_sla_reduction.threshold_ms = 10 * MIN as u64;
        let back = Facts { prior_sla: MANUAL, ..facts(&profile, false, QueueReason::BackToQueue) };
        // Set at 10:00 for an hour (due 11:00), returned to the queue at 10:20.
        let (ten, eleven) = (600 * MIN, 660 * MIN);
        let early = returned(&config, &back, eleven, PendingSide::Agent, ten + 20 * MIN);
        assert!(!early.actionable, "non-actionable until 10:50");
        assert_eq!(early.sla, MANUAL);
        assert_eq!(manual_actionable_at(&config, MANUAL, eleven, ten + 20 * MIN), Some(ten + 50 * MIN));
        // Returned at 10:55 it is actionable at once.
        let late = returned(&config, &back, eleven, PendingSide::Agent, ten + 55 * MIN);
        assert!(late.actionable);
        assert_eq!(manual_actionable_at(&config, MANUAL, eleven, ten + 55 * MIN), None);
        // Flag off: the manual time changes nothing about actionability.
        let off = returned(&RoutingConfig::default(), &back, eleven, PendingSide::Agent, ten + 20 * MIN);
        assert!(off.actionable);
        // Once actionable (the timer) it is in the top section, ahead of every non-actionable one.
        let mut route = queued_route();
        route.sla = MANUAL.into();
        route.response_due_ms = eleven;
        let now_actionable = manual(&route, ten + 50 * MIN, eleven);
        assert!(now_actionable.actionable && now_actionable.score < early.score);
    }

    /// The `shift` scenario as a service test (the harness cannot move the target's clock):
    /// the weekend's off hours cross a DST change in New York (spring forward on Sunday
    /// 2026-03-08, fall back on Sunday 2026-11-01); a 15-minute response time is counted in
    /// working hours on each side, in the local time of each side (R10.10, R10.11, R11.1).
    #[test]
    fn r10_11_off_hours_crossing_a_dst_change_count_the_shift_in_local_time() {
        let profile = BTreeMap::new();
        let config = day_shift();
        let new = |when: &str| restarted(&config, &facts(&profile, false, QueueReason::New), at(when));
        // Friday 19:55 EST: 5 minutes Friday, 10 on Monday from 08:00 EDT.
        assert_eq!(new("2026-03-06T19:55:00-05:00").due_ms, at("2026-03-09T08:10:00-04:00"));
        // Opened in the gap's night (Sunday 03:30 EDT): all 15 minutes on Monday.
        assert_eq!(new("2026-03-08T03:30:00-04:00").due_ms, at("2026-03-09T08:15:00-04:00"));
        // Autumn: Friday 19:55 EDT, Monday 08:10 EST; and in the repeated hour (01:30 EST).
        assert_eq!(new("2026-10-30T19:55:00-04:00").due_ms, at("2026-11-02T08:10:00-05:00"));
        assert_eq!(new("2026-11-01T01:30:00-05:00").due_ms, at("2026-11-02T08:15:00-05:00"));
        // Within Monday's shift nothing shifts: 08:10 EDT + 15 min.
        assert_eq!(new("2026-03-09T08:10:00-04:00").due_ms, at("2026-03-09T08:25:00-04:00"));
    }
}
