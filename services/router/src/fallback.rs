//! Where a conversation may go when no agent of its skill can take it, tried by the assignment
//! pass (R5.3), in order: the unassigned-skill policy when no agent holds the skill at all
//! (R4.5, R4.6), otherwise the fallback chain (R5.1, R5.2) when the skill's presence allows it
//! (R5.5) and the way it got its skill does (R5.6). Each target is tried with the store's
//! decision: it moves only to a skill with an agent that can take it now (R5.4).

use switchyard_platform::store::{QueueReason, SkillPresence, UNASSIGNED_SKILL};
use switchyard_routing::{
    applies_after, fallback_chain, reskill_unassigned, should_fall_back, Presence, RoutingConfig, SkillReason,
};

/// The skills to try, in order, with the reason recorded when the conversation moves (R5.7).
pub fn targets(
    config: &RoutingConfig,
    skill_id: &str,
    presence: SkillPresence,
    entered_for: QueueReason,
) -> Vec<(String, QueueReason)> {
    if skill_id == UNASSIGNED_SKILL {
        return Vec::new();
    }
    if presence.holders == 0 {
        return match reskill_unassigned(config, skill_id) {
            Some(to) if to.reason == SkillReason::Fallback => {
                let mut chain: Vec<_> =
                    fallback_chain(config, skill_id).into_iter().map(|s| (s, QueueReason::Fallback)).collect();
                chain.push((UNASSIGNED_SKILL.to_owned(), QueueReason::UnassignedSkill));
                chain
            }
            Some(to) => vec![(to.skill_id, QueueReason::UnassignedSkill)],
            None => Vec::new(),
        };
    }
    let presence = if presence.online > 0 {
        Presence::SomeOnline
    } else if presence.connected > 0 {
        Presence::ConnectedNoneOnline
    } else {
        Presence::NoneConnected
    };
    if !should_fall_back(config, skill_id, presence) || !applies_after(config, skill_reason(entered_for)) {
        return Vec::new();
    }
    fallback_chain(config, skill_id).into_iter().map(|s| (s, QueueReason::Fallback)).collect()
}

/// R5.6 speaks of how the conversation got its skill; the queue reason says it.
fn skill_reason(reason: QueueReason) -> SkillReason {
    match reason {
        QueueReason::Transfer | QueueReason::TransferToAgent => SkillReason::Transfer,
        QueueReason::SuggestedAgentTimeout => SkillReason::SuggestedAgentTimeout,
        QueueReason::BackToQueue | QueueReason::AgentLoggedOut | QueueReason::AutoUnassigned => {
            SkillReason::BackToQueue
        }
        QueueReason::Fallback => SkillReason::Fallback,
        QueueReason::UnassignedSkill => SkillReason::UnassignedSkill,
        QueueReason::New | QueueReason::Newer => SkillReason::Requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_routing::{SkillRouting, UnassignedPolicy};

    fn config(pairs: &[(&str, &str)]) -> RoutingConfig {
        let mut config = RoutingConfig::default();
        for (skill, fallback) in pairs {
            let routing = SkillRouting { fallback_skill: Some(fallback.to_string()), ..Default::default() };
            config.skills.insert(skill.to_string(), routing);
        }
        config
    }

    fn presence(holders: u64, connected: u64, online: u64) -> SkillPresence {
        SkillPresence { holders, connected, online }
    }

    fn skills(targets: &[(String, QueueReason)]) -> Vec<&str> {
        targets.iter().map(|(s, _)| s.as_str()).collect()
    }

    #[test]
    fn r5_1_the_chain_is_tried_in_order_when_nobody_is_connected() {
        let config = config(&[("a", "b"), ("b", "c")]);
        let to = targets(&config, "a", presence(3, 0, 0), QueueReason::New);
        assert_eq!(skills(&to), ["b", "c"]);
        assert!(to.iter().all(|(_, why)| *why == QueueReason::Fallback));
        // R5.2: the account fallback for a skill without its own.
        let mut config = config.clone();
        config.account.fallback_skill = Some("z".into());
        assert_eq!(skills(&targets(&config, "x", presence(1, 0, 0), QueueReason::New)), ["z"]);
    }

    #[test]
    fn r5_5_all_away_falls_back_only_with_the_flag_and_never_while_someone_is_online() {
        let mut config = config(&[("a", "b")]);
        assert!(targets(&config, "a", presence(3, 2, 1), QueueReason::New).is_empty(), "someone ONLINE");
        assert!(targets(&config, "a", presence(3, 2, 0), QueueReason::New).is_empty(), "all away, flag off");
        if let Some(a) = config.skills.get_mut("a") {
            a.fallback_when_all_agents_away = true;
        }
        assert_eq!(skills(&targets(&config, "a", presence(3, 2, 0), QueueReason::New)), ["b"], "all away, flag on");
    }

    #[test]
    fn r5_6_after_a_transfer_only_with_the_account_flag() {
        let mut config = config(&[("a", "b")]);
        assert_eq!(skills(&targets(&config, "a", presence(1, 0, 0), QueueReason::Transfer)), ["b"], "default on");
        config.account.fallback_after_transfer = false;
        assert!(targets(&config, "a", presence(1, 0, 0), QueueReason::Transfer).is_empty());
        assert!(targets(&config, "a", presence(1, 0, 0), QueueReason::BackToQueue).is_empty());
        assert_eq!(skills(&targets(&config, "a", presence(1, 0, 0), QueueReason::New)), ["b"]);
    }

    #[test]
    fn r4_5_a_skill_nobody_holds_follows_its_unassigned_policy() {
        let mut config = config(&[("a", "b")]);
        let unheld = presence(0, 0, 0);
        let to = targets(&config, "a", unheld, QueueReason::New);
        assert_eq!(to, [("-1".to_owned(), QueueReason::UnassignedSkill)], "default: re-skilled to -1");
        if let Some(a) = config.skills.get_mut("a") {
            a.unassigned_policy = UnassignedPolicy::Keep;
        }
        assert!(targets(&config, "a", unheld, QueueReason::New).is_empty(), "keep: waits for an agent");
        if let Some(a) = config.skills.get_mut("a") {
            a.unassigned_policy = UnassignedPolicy::Fallback;
        }
        assert_eq!(skills(&targets(&config, "a", unheld, QueueReason::New)), ["b", "-1"]);
        // The unassigned skill itself goes nowhere.
        assert!(targets(&config, "-1", unheld, QueueReason::New).is_empty());
    }
}
