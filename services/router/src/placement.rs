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

/// Which response time applies: urgent once the consumer marked it (R10.3), else first-time
/// for a new consumer's first conversation (R10.2), else the default.
pub fn sla_kind(first_conversation: bool, prior_sla: &str) -> SlaKind {
    if SlaKind::from_name(prior_sla) == SlaKind::Urgent {
        SlaKind::Urgent
    } else if first_conversation {
        SlaKind::FirstTime
    } else {
        SlaKind::Default
    }
}

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
/// response time (R10.4 for a consumer message, R10.6 for a transfer), actionable.
/// A manual response time (R10.8) does not survive a move to a skill: that skill's times apply
/// (R10.6).
pub fn restarted(config: &RoutingConfig, facts: &Facts<'_>, started_ms: i64) -> Placement {
    let kind = sla_kind(facts.first_conversation, facts.prior_sla);
    let allowed = response_time_ms(config, facts.skill_id, kind);
    place(config, facts, kind, started_ms.saturating_add(allowed as i64), true)
}

/// The place of a conversation returned to the queue (back to queue, logout): the consumer
/// has been waiting all along, so the due time is kept, a manual one too (R10.8); actionable
/// only when the consumer wrote last (R9.2).
pub fn returned(config: &RoutingConfig, facts: &Facts<'_>, due_ms: i64, pending: PendingSide) -> Placement {
    let kind = sla_kind(facts.first_conversation, facts.prior_sla);
    let mut placement = place(config, facts, kind, due_ms, pending != PendingSide::Consumer);
    if facts.prior_sla == MANUAL {
        placement.sla = MANUAL.to_owned();
    }
    placement
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
    let allowed = response_time_ms(config, &route.skill_id, kind) as i64;
    Some(counted_from(route, message_at_ms, message_at_ms.saturating_add(allowed), kind.name()))
}

/// R10.3: the place of a conversation its consumer marked urgent, whose wait began at
/// `wait_started_ms`: due within the skill's urgent response time from then, unless it was
/// queued due sooner.
pub fn marked_urgent(config: &RoutingConfig, route: &Route, wait_started_ms: i64) -> Placement {
    let queued_due = (route.status == RouteStatus::Queued).then_some(route.response_due_ms);
    let due_ms = urgent_due_ms(config, &route.skill_id, wait_started_ms, queued_due);
    counted_from(route, wait_started_ms, due_ms, SlaKind::Urgent.name())
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

fn place(config: &RoutingConfig, facts: &Facts<'_>, kind: SlaKind, due_ms: i64, actionable: bool) -> Placement {
    let returned_to_queue = matches!(facts.reason, QueueReason::BackToQueue | QueueReason::AgentLoggedOut);
    let facts_for_rules = ConversationFacts {
        transfers: facts.transfers,
        channel: facts.channel,
        profile: facts.profile,
        skill_id: facts.skill_id,
        returned_to_queue,
    };
    let velocity = velocity(config, &facts_for_rules);
    // Velocity compresses the whole response time, from when the wait began.
    let allowed = response_time_ms(config, facts.skill_id, kind) as i64;
    let scored = score(ScoreInput { actionable, became_actionable_ms: due_ms - allowed, due_ms, velocity });
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
        Route {
            conversation_id: "c1".into(),
            skill_id: "sales".into(),
            status: switchyard_platform::store::RouteStatus::Queued,
            agent_id: String::new(),
            avoid_agent_id: String::new(),
            suggested_agent_id: String::new(),
            agent_group: String::new(),
            offer_id: String::new(),
            offer_agents: Vec::new(),
            offer_expires_ms: 0,
            version: 0,
            queued_at_ms: 0,
            queue_reason: QueueReason::BackToQueue,
            response_due_ms: 60 * MIN,
            queue_score: 60 * MIN,
            actionable: true,
            sla: "default".into(),
            velocity_milli: 2 * ONE,
            transfers: 0,
            requeued_version: 0,
            skill_history: Vec::new(),
            record_version: 2,
        }
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
        let waiting = returned(&config, &back, 42 * MIN, PendingSide::Agent);
        assert!(waiting.actionable);
        assert_eq!((waiting.due_ms, waiting.score), (42 * MIN, 42 * MIN));
        let answered = returned(&config, &back, 42 * MIN, PendingSide::Consumer);
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
        let returned = returned(&config, &back, 200 * MIN, PendingSide::Agent);
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
}
