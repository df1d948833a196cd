//! Agent selection (domain R6.1-R6.4): who may take a conversation of a skill, and in which
//! order to try them. Pure functions, tested with a controlled clock.

use switchyard_platform::store::{rules, AgentRecord, AgentState, Milli};
use switchyard_routing::RoutingConfig;

/// The unassigned skill: any agent of the account may take it (domain R4.4).
pub use switchyard_kit::validate::UNASSIGNED_SKILL;

/// R6.1 and R8.6: logged in, ONLINE, holds the skill, and taking one more conversation of
/// `weight` keeps weighted load within max + headroom.
pub fn eligible(agent: &AgentRecord, skill_id: &str, weight: Milli, headroom: Milli) -> bool {
    agent.logged_in
        && agent.state == AgentState::Online
        && (skill_id == UNASSIGNED_SKILL || agent.spec.skill_ids.iter().any(|s| s == skill_id))
        && rules::has_room(agent.capacity_used(), weight, agent.spec.max_conversations, headroom)
}

/// Eligible agents, best first: the agent to avoid (R6.4) last, then lowest load ratio
/// (R6.2/R6.3: used / max), then longest since the last assignment, then id for a stable
/// order. State changes do not touch `last_assigned_ms`, so toggling AWAY and back does not
/// jump an agent ahead (domain edge case 32).
pub fn rank(
    agents: Vec<AgentRecord>,
    skill_id: &str,
    weight: Milli,
    headroom: Milli,
    avoid_agent_id: &str,
) -> Vec<AgentRecord> {
    let mut eligible: Vec<AgentRecord> =
        agents.into_iter().filter(|a| eligible(a, skill_id, weight, headroom)).collect();
    eligible.sort_by_key(|a| key(a, avoid_agent_id));
    eligible
}

/// Lower is better: avoided last, then the agent index's order (`rules::rank_member`: load
/// ratio, then longest idle, then id), the one order the store's decision walks.
fn key(a: &AgentRecord, avoid_agent_id: &str) -> (bool, String) {
    let member = rules::rank_member(a.capacity_used(), a.spec.max_conversations, a.last_assigned_ms, &a.spec.agent_id);
    (a.spec.agent_id == avoid_agent_id, member)
}

/// R8.12-R8.14: the claim's warm-up terms for a conversation of `skill_id`.
pub fn warmup_terms(config: &RoutingConfig, skill_id: &str) -> Option<rules::WarmupTerms> {
    config.warmup(skill_id).map(|(interval_ms, period_ms)| rules::WarmupTerms {
        step_ms: interval_ms as i64,
        period_ms: period_ms as i64,
        idle_ms: rules::WARMUP_IDLE_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_platform::clock::{Clock, ManualClock};
    use switchyard_platform::store::{AgentSpec, ONE};

    fn agent(id: &str, max: u32, load: &[Milli], last_assigned_ms: i64) -> AgentRecord {
        AgentRecord {
            account_id: "acme".into(),
            spec: AgentSpec {
                agent_id: id.into(),
                skill_ids: vec!["sales".into()],
                max_conversations: max,
                bot: false,
                group_id: String::new(),
                nickname: String::new(),
            },
            logged_in: true,
            state: AgentState::Online,
            away_reason: String::new(),
            state_since_ms: 0,
            last_assigned_ms,
            load: load.iter().enumerate().map(|(i, w)| (format!("c{i}"), *w)).collect(),
            warmup: Default::default(),
        }
    }

    fn ids(agents: &[AgentRecord]) -> Vec<&str> {
        agents.iter().map(|a| a.spec.agent_id.as_str()).collect()
    }

    #[test]
    fn r6_1_only_online_logged_in_agents_with_the_skill_are_eligible() {
        let mut away = agent("away", 3, &[], 0);
        away.state = AgentState::Away;
        let mut back_soon = agent("back-soon", 3, &[], 0);
        back_soon.state = AgentState::BackSoon;
        let mut logged_out = agent("logged-out", 3, &[], 0);
        logged_out.logged_in = false;
        let mut other_skill = agent("other", 3, &[], 0);
        other_skill.spec.skill_ids = vec!["support".into()];
        let ok = agent("ok", 3, &[], 0);
        let ranked = rank(vec![away, back_soon, logged_out, other_skill.clone(), ok], "sales", ONE, 500, "");
        assert_eq!(ids(&ranked), vec!["ok"]);
        // Any agent may take the unassigned skill (R4.4).
        assert_eq!(ids(&rank(vec![other_skill], UNASSIGNED_SKILL, ONE, 500, "")), vec!["other"]);
    }

    #[test]
    fn r8_6_headroom_allows_up_to_half_a_slot_over_max() {
        // max 3, two active (2.0) + one inactive (0.1) = 2.1 -> may take another -> 3.1.
        assert!(eligible(&agent("a", 3, &[ONE, ONE, 100], 0), "sales", ONE, 500));
        // 3.0 used: 4.0 > 3.5 -> full.
        assert!(!eligible(&agent("a", 3, &[ONE, ONE, ONE], 0), "sales", ONE, 500));
        // R8.7: max 4 holds 3 active + 10 inactive (4.0): full for another active one.
        let mut load = vec![ONE; 3];
        load.extend(std::iter::repeat_n(100, 10));
        assert!(!eligible(&agent("a", 4, &load, 0), "sales", ONE, 500));
        // 3 active + 5 inactive = 3.5: one more active makes exactly max + headroom (4.5).
        load.truncate(8);
        assert!(eligible(&agent("a", 4, &load, 0), "sales", ONE, 500));
        load.push(100);
        assert!(!eligible(&agent("a", 4, &load, 0), "sales", ONE, 500));
    }

    #[test]
    fn r6_3_lowest_load_ratio_first_then_longest_idle() {
        let clock = ManualClock::new(1_000_000);
        let now = clock.now_ms();
        let busy = agent("busy", 2, &[ONE], now - 60_000); // 50 %
        let light = agent("light", 4, &[ONE], now - 1_000); // 25 %
        let idle_long = agent("idle-long", 4, &[], now - 600_000); // 0 %, idle 10 min
        let idle_short = agent("idle-short", 4, &[], now - 5_000); // 0 %, idle 5 s
        let ranked = rank(vec![busy, light, idle_short, idle_long], "sales", ONE, 500, "");
        assert_eq!(ids(&ranked), vec!["idle-long", "idle-short", "light", "busy"]);
    }

    #[test]
    fn r6_3_state_cycling_does_not_reset_idle_time() {
        let clock = ManualClock::new(1_000_000);
        let mut a = agent("a", 2, &[], clock.now_ms() - 300_000);
        let b = agent("b", 2, &[], clock.now_ms() - 100_000);
        // a goes away and comes back: state_since moves, last assignment does not.
        clock.advance(std::time::Duration::from_secs(10));
        a.state_since_ms = clock.now_ms();
        assert_eq!(ids(&rank(vec![b, a], "sales", ONE, 500, "")), vec!["a", "b"]);
    }

    #[test]
    fn r6_4_the_returning_agent_is_tried_last() {
        let a = agent("a", 2, &[], 0);
        let b = agent("b", 2, &[ONE], 0);
        assert_eq!(ids(&rank(vec![a.clone(), b.clone()], "sales", ONE, 500, "a")), vec!["b", "a"]);
        // ... but still gets it when nobody else can.
        assert_eq!(ids(&rank(vec![a], "sales", ONE, 500, "a")), vec!["a"]);
    }
}
