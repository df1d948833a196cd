//! Transfers (R4.7, R4.8, R12.1, R12.4, R12.6): which skills a conversation may be
//! transferred to, and how long a suggested agent has to accept.

use crate::config::RoutingConfig;

/// R4.7, R4.8: whether a conversation of `from_skill` may be transferred to `to_skill`.
/// A skill can always re-queue to itself; `can_transfer = false` allows nothing else; no
/// transfer list allows any skill; otherwise only the listed ones. The transfer-to-agent
/// candidate list follows the same rule (R12.4).
pub fn may_transfer(config: &RoutingConfig, from_skill: &str, to_skill: &str) -> bool {
    if from_skill == to_skill {
        return true;
    }
    let skill = config.skill(from_skill);
    skill.can_transfer && skill.transfer_list.as_ref().is_none_or(|list| list.iter().any(|s| s == to_skill))
}

/// R12.6: how long after a transfer to an agent the suggested agent has to accept before any
/// agent of the destination skill may take the conversation: the skill's override, else the
/// account's.
pub fn transfer_to_agent_max_wait_ms(config: &RoutingConfig, skill_id: &str) -> u64 {
    config.skill(skill_id).transfer_to_agent_max_wait_ms.unwrap_or(config.account.transfer_to_agent_max_wait_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SkillRouting;

    #[test]
    fn r4_8_transfer_list_restricts_targets() {
        let mut config = RoutingConfig::default();
        config.skills.insert(
            "sales".into(),
            SkillRouting { transfer_list: Some(vec!["support".into(), "-1".into()]), ..Default::default() },
        );
        assert!(may_transfer(&config, "sales", "support"));
        assert!(may_transfer(&config, "sales", "-1"));
        assert!(!may_transfer(&config, "sales", "billing"));
        assert!(may_transfer(&config, "sales", "sales"), "always to itself");
        assert!(may_transfer(&config, "unconfigured", "billing"), "no list: any skill");
    }

    #[test]
    fn r4_7_can_transfer_false_only_requeues_to_itself() {
        let mut config = RoutingConfig::default();
        config.skills.insert(
            "sales".into(),
            SkillRouting { can_transfer: false, transfer_list: Some(vec!["support".into()]), ..Default::default() },
        );
        assert!(!may_transfer(&config, "sales", "support"), "the list does not reopen it");
        assert!(may_transfer(&config, "sales", "sales"));
    }

    #[test]
    fn r12_6_max_wait_skill_override_else_account() {
        let mut config = RoutingConfig::default();
        assert_eq!(transfer_to_agent_max_wait_ms(&config, "sales"), 7_200_000);
        config.account.transfer_to_agent_max_wait_ms = 600_000;
        config.skills.insert(
            "sales".into(),
            SkillRouting { transfer_to_agent_max_wait_ms: Some(120_000), ..Default::default() },
        );
        assert_eq!(transfer_to_agent_max_wait_ms(&config, "sales"), 120_000);
        assert_eq!(transfer_to_agent_max_wait_ms(&config, "support"), 600_000);
    }
}
