//! Fallback skills (R5.1-R5.6): where a queued conversation goes when its skill cannot
//! serve it.
//!
//! Who calls what, in each assignment pass (R5.3): only when no agent of the skill has room,
//! the caller asks [`applies_after`] (R5.6: may this conversation fall back at all, given how
//! it reached its skill), then [`should_fall_back`] (R5.5: is the skill's presence bad
//! enough), then [`fallback_target`] with a predicate "this skill has qualifying agents"
//! (R5.4: never move to a skill that cannot serve it either; otherwise it stays queued).

use std::collections::BTreeSet;

use crate::config::{RoutingConfig, UNASSIGNED_SKILL};
use crate::select::SkillReason;

/// The next skill after `skill_id` (R5.1, R5.2): the skill's own fallback, else the account
/// fallback unless the skill is that fallback. The unassigned skill -1 has none: any agent
/// may already take it, so no other skill can do better.
pub fn fallback_of<'a>(config: &'a RoutingConfig, skill_id: &str) -> Option<&'a str> {
    if skill_id == UNASSIGNED_SKILL {
        return None;
    }
    let next = match config.skills.get(skill_id).and_then(|s| s.fallback_skill.as_deref()) {
        Some(own) => own,
        None => config.account.fallback_skill.as_deref()?,
    };
    (next != skill_id).then_some(next)
}

/// The fallback chain after `skill_id`, nearest first (R5.1: A -> B -> C is tried B, then
/// C). Stops before a skill would repeat (the start included), so a cycle that validation
/// missed cannot loop; it is at most one longer than the number of configured skills.
pub fn fallback_chain(config: &RoutingConfig, skill_id: &str) -> Vec<String> {
    let mut seen = BTreeSet::from([skill_id]);
    let mut chain = Vec::new();
    let mut current = skill_id;
    while let Some(next) = fallback_of(config, current) {
        if !seen.insert(next) || chain.len() > config.skills.len() {
            break;
        }
        chain.push(next.to_string());
        current = next;
    }
    chain
}

/// A fallback cycle, if any (R5.1 cycle detection), as the skills in order with the first
/// repeated at the end (`[a, b, c, a]`), rotated to start at its smallest id so the answer
/// does not depend on where the walk began. Cycles through the account fallback count
/// (R5.2). Every cycle contains a configured skill (the account fallback's own next is its
/// own fallback), so walking from each configured skill finds them all.
pub fn find_cycle(config: &RoutingConfig) -> Option<Vec<String>> {
    for start in config.skills.keys() {
        let mut path: Vec<&str> = vec![start];
        let mut current = start.as_str();
        while let Some(next) = fallback_of(config, current) {
            if let Some(at) = path.iter().position(|s| *s == next) {
                let cycle = &path[at..];
                let min = cycle.iter().enumerate().min_by_key(|(_, s)| **s).map_or(0, |(i, _)| i);
                let mut out: Vec<String> = cycle[min..].iter().chain(&cycle[..min]).map(|s| s.to_string()).collect();
                out.push(out[0].clone());
                return Some(out);
            }
            path.push(next);
            current = next;
        }
    }
    None
}

/// Presence of a skill's agents, as far as R5.5 cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// At least one agent of the skill is logged in and ONLINE.
    SomeOnline,
    /// Agents are logged in, but none is ONLINE (all AWAY, BACK_SOON, ...).
    ConnectedNoneOnline,
    /// No agent of the skill is logged in.
    NoneConnected,
}

/// R5.5: whether a skill whose agents have no room may fall back, given its presence.
/// With `fallback_when_all_agents_away` the skill falls back as soon as nobody is ONLINE;
/// without it only when nobody is connected (edge case 3: all AWAY waits). Never while
/// someone is ONLINE (they will have room again), and never for a skill without fallback.
pub fn should_fall_back(config: &RoutingConfig, skill_id: &str, presence: Presence) -> bool {
    if fallback_of(config, skill_id).is_none() {
        return false;
    }
    match presence {
        Presence::SomeOnline => false,
        Presence::ConnectedNoneOnline => config.skill(skill_id).fallback_when_all_agents_away,
        Presence::NoneConnected => true,
    }
}

/// R5.1, R5.4: the first skill along the chain for which `qualifies` holds (the caller's
/// "has agents who could take it"), or `None`: the conversation stays where it is.
pub fn fallback_target(config: &RoutingConfig, skill_id: &str, qualifies: impl Fn(&str) -> bool) -> Option<String> {
    fallback_chain(config, skill_id).into_iter().find(|s| qualifies(s))
}

/// R5.6: whether fallback applies to a conversation that got its current skill for
/// `reason`. New conversations always; after back-to-queue or a transfer (to a skill, or a
/// suggested agent's timeout) only with `fallback_after_transfer` (default on, following
/// the newer per-skill page; domain edge case 31).
pub fn applies_after(config: &RoutingConfig, reason: SkillReason) -> bool {
    match reason {
        SkillReason::Transfer | SkillReason::BackToQueue | SkillReason::SuggestedAgentTimeout => {
            config.account.fallback_after_transfer
        }
        SkillReason::Requested
        | SkillReason::Engagement
        | SkillReason::ProfileRule
        | SkillReason::Default
        | SkillReason::Unassigned
        | SkillReason::Fallback
        | SkillReason::UnassignedSkill => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SkillRouting;

    fn with_fallbacks(pairs: &[(&str, &str)]) -> RoutingConfig {
        let mut config = RoutingConfig::default();
        for (skill, fallback) in pairs {
            config.skills.insert(
                skill.to_string(),
                SkillRouting { fallback_skill: Some(fallback.to_string()), ..Default::default() },
            );
        }
        config
    }

    #[test]
    fn r5_1_chain_a_b_c_is_walked_in_order() {
        let config = with_fallbacks(&[("a", "b"), ("b", "c")]);
        assert_eq!(fallback_chain(&config, "a"), ["b", "c"]);
        assert_eq!(fallback_chain(&config, "b"), ["c"]);
        assert!(fallback_chain(&config, "c").is_empty());
        assert_eq!(fallback_target(&config, "a", |s| s == "c").as_deref(), Some("c"));
        assert_eq!(fallback_target(&config, "a", |_| true).as_deref(), Some("b"));
    }

    #[test]
    fn r5_2_account_fallback_applies_to_skills_without_their_own() {
        let mut config = with_fallbacks(&[("a", "b")]);
        config.account.fallback_skill = Some("z".into());
        assert_eq!(fallback_of(&config, "a"), Some("b"), "own beats account");
        assert_eq!(fallback_of(&config, "unconfigured"), Some("z"));
        assert_eq!(fallback_of(&config, "z"), None, "the account fallback has no account fallback");
        assert_eq!(fallback_of(&config, UNASSIGNED_SKILL), None, "-1 never falls back");
        assert_eq!(fallback_chain(&config, "a"), ["b", "z"]);
    }

    #[test]
    fn r5_4_no_qualifying_fallback_keeps_the_conversation_queued() {
        let config = with_fallbacks(&[("a", "b"), ("b", "c")]);
        assert_eq!(fallback_target(&config, "a", |_| false), None);
    }

    #[test]
    fn r5_1_chain_stops_before_a_cycle_repeats() {
        let config = with_fallbacks(&[("a", "b"), ("b", "c"), ("c", "a")]);
        assert_eq!(fallback_chain(&config, "a"), ["b", "c"]);
        assert_eq!(fallback_chain(&config, "c"), ["a", "b"]);
    }

    #[test]
    fn r5_1_find_cycle_names_it_from_the_smallest_id() {
        let config = with_fallbacks(&[("c", "a"), ("b", "c"), ("a", "b"), ("x", "b")]);
        assert_eq!(find_cycle(&config).unwrap(), ["a", "b", "c", "a"]);
        let config = with_fallbacks(&[("a", "c"), ("c", "b"), ("b", "c")]);
        assert_eq!(find_cycle(&config).unwrap(), ["b", "c", "b"], "a only leads into the cycle");
        assert_eq!(find_cycle(&with_fallbacks(&[("a", "b"), ("b", "c")])), None);
    }

    #[test]
    fn r5_2_cycle_through_the_account_fallback_is_found() {
        // a has no own fallback, so it goes to the account fallback b, which goes back to a.
        let mut config = with_fallbacks(&[("b", "a")]);
        config.skills.insert("a".into(), SkillRouting::default());
        config.account.fallback_skill = Some("b".into());
        assert_eq!(find_cycle(&config).unwrap(), ["a", "b", "a"]);
        // Also when a has no entry at all.
        config.skills.remove("a");
        assert_eq!(find_cycle(&config).unwrap(), ["a", "b", "a"]);
    }

    #[test]
    fn r5_5_away_versus_logged_out() {
        let mut config = with_fallbacks(&[("a", "b")]);
        assert!(!should_fall_back(&config, "a", Presence::SomeOnline));
        assert!(!should_fall_back(&config, "a", Presence::ConnectedNoneOnline), "all away: wait");
        assert!(should_fall_back(&config, "a", Presence::NoneConnected));
        config.skills.get_mut("a").unwrap().fallback_when_all_agents_away = true;
        assert!(!should_fall_back(&config, "a", Presence::SomeOnline));
        assert!(should_fall_back(&config, "a", Presence::ConnectedNoneOnline));
        assert!(should_fall_back(&config, "a", Presence::NoneConnected));
        assert!(!should_fall_back(&config, "b", Presence::NoneConnected), "b has no fallback");
    }

    #[test]
    fn r5_6_fallback_after_transfer_follows_the_account_flag() {
        let mut config = RoutingConfig::default();
        assert!(applies_after(&config, SkillReason::Transfer), "default on");
        assert!(applies_after(&config, SkillReason::BackToQueue));
        config.account.fallback_after_transfer = false;
        assert!(!applies_after(&config, SkillReason::Transfer));
        assert!(!applies_after(&config, SkillReason::BackToQueue));
        assert!(!applies_after(&config, SkillReason::SuggestedAgentTimeout));
        assert!(applies_after(&config, SkillReason::Requested));
        assert!(applies_after(&config, SkillReason::Default));
        assert!(applies_after(&config, SkillReason::Fallback), "R5.1 chains go on");
    }
}
