//! Skill selection for a new conversation (R4.2-R4.6), and why a conversation has the skill
//! it has (recorded as skill changes for reporting, R5.7).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{engagement_key, RoutingConfig, UnassignedPolicy, UNASSIGNED_SKILL};
use crate::fallback::fallback_of;

/// What the opening request says about the conversation (R4.2). Empty strings mean "not
/// given".
#[derive(Debug, Clone, Copy)]
pub struct OpenRequest<'a> {
    /// Skill named by the caller; beats everything else.
    pub explicit_skill: &'a str,
    /// Campaign of the entry point, with `engagement_id`.
    pub campaign_id: &'a str,
    /// Engagement of the entry point, with `campaign_id`.
    pub engagement_id: &'a str,
    /// Authenticated consumer attributes (SDEs) for the profile rules (R4.3).
    pub profile: &'a BTreeMap<String, String>,
}

/// Why a conversation has its current skill; recorded with every skill change (R5.7) and
/// read by [`crate::fallback::applies_after`] (R5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillReason {
    /// The opening request named the skill (R4.2).
    Requested,
    /// The campaign engagement targets the skill (R4.2).
    Engagement,
    /// A profile rule matched (R4.2, R4.3).
    ProfileRule,
    /// The account default skill (R4.2).
    Default,
    /// Nothing applied: -1, any agent (R4.4).
    Unassigned,
    /// Moved to a fallback skill (R5.1, R5.2).
    Fallback,
    /// Transferred to the skill (R12.1).
    Transfer,
    /// Returned to the queue by its agent (R6.4).
    BackToQueue,
    /// The suggested agent of a transfer did not accept in time (R12.6).
    SuggestedAgentTimeout,
    /// Re-skilled because no agent holds its skill any more (R4.5, R4.6).
    UnassignedSkill,
}

impl SkillReason {
    /// Every reason, for parsers and tests.
    pub const ALL: [SkillReason; 10] = [
        Self::Requested,
        Self::Engagement,
        Self::ProfileRule,
        Self::Default,
        Self::Unassigned,
        Self::Fallback,
        Self::Transfer,
        Self::BackToQueue,
        Self::SuggestedAgentTimeout,
        Self::UnassignedSkill,
    ];

    /// The stable snake_case name stored with the conversation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Engagement => "engagement",
            Self::ProfileRule => "profile_rule",
            Self::Default => "default",
            Self::Unassigned => "unassigned",
            Self::Fallback => "fallback",
            Self::Transfer => "transfer",
            Self::BackToQueue => "back_to_queue",
            Self::SuggestedAgentTimeout => "suggested_agent_timeout",
            Self::UnassignedSkill => "unassigned_skill",
        }
    }

    /// The reason named by [`SkillReason::as_str`], or `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for SkillReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chosen skill, why, and which piece of configuration chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The skill (-1: any agent).
    pub skill_id: String,
    /// Why.
    pub reason: SkillReason,
    /// The engagement key or profile rule name that chose it; empty otherwise.
    pub detail: String,
}

impl Selection {
    fn new(skill_id: &str, reason: SkillReason, detail: &str) -> Self {
        Self { skill_id: skill_id.to_string(), reason, detail: detail.to_string() }
    }
}

/// Why a skill could not be selected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The request names a campaign/engagement the account has not configured (the caller
    /// answers NOT_FOUND).
    #[error("unknown engagement {key}")]
    UnknownEngagement {
        /// The [`engagement_key`] looked up.
        key: String,
    },
}

/// R4.2 precedence: explicit skill > engagement targeting a skill > profile rules in order
/// (the first whose conditions all hold) > account default skill > -1 (R4.4).
///
/// An engagement with no skill ("all skills") falls through to the profile rules. A named
/// campaign or engagement that is not configured is an error, unless an explicit skill was
/// given: then the engagement is never consulted, so a deleted engagement does not stop
/// conversations that say where they go.
pub fn select_skill(config: &RoutingConfig, req: &OpenRequest<'_>) -> Result<Selection, SelectError> {
    if !req.explicit_skill.is_empty() {
        return Ok(Selection::new(req.explicit_skill, SkillReason::Requested, ""));
    }
    if !req.campaign_id.is_empty() || !req.engagement_id.is_empty() {
        let key = engagement_key(req.campaign_id, req.engagement_id);
        let engagement =
            config.engagements.get(&key).ok_or_else(|| SelectError::UnknownEngagement { key: key.clone() })?;
        if let Some(skill_id) = &engagement.skill_id {
            return Ok(Selection::new(skill_id, SkillReason::Engagement, &key));
        }
    }
    if let Some(rule) = config.profile_rules.iter().find(|r| r.all_of.iter().all(|m| m.matches(req.profile))) {
        return Ok(Selection::new(&rule.skill_id, SkillReason::ProfileRule, &rule.name));
    }
    Ok(match &config.account.default_skill {
        Some(skill_id) => Selection::new(skill_id, SkillReason::Default, ""),
        None => Selection::new(UNASSIGNED_SKILL, SkillReason::Unassigned, ""),
    })
}

/// R4.5, R4.6: where a conversation goes when no agent holds its skill any more, per the
/// skill's [`UnassignedPolicy`]; `None` = it stays (policy `Keep`, or it already is -1).
/// `Fallback` without a fallback skill re-skills to -1, like the default policy, rather than
/// stranding the conversation.
pub fn reskill_unassigned(config: &RoutingConfig, skill_id: &str) -> Option<Selection> {
    if skill_id == UNASSIGNED_SKILL {
        return None;
    }
    let to_unassigned = || Selection::new(UNASSIGNED_SKILL, SkillReason::UnassignedSkill, skill_id);
    match config.skill(skill_id).unassigned_policy {
        UnassignedPolicy::Keep => None,
        UnassignedPolicy::Unassigned => Some(to_unassigned()),
        UnassignedPolicy::Fallback => Some(match fallback_of(config, skill_id) {
            Some(next) => Selection::new(next, SkillReason::Fallback, skill_id),
            None => to_unassigned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AttributeMatch, Engagement, ProfileRule, SkillRouting};

    fn config() -> RoutingConfig {
        let mut config = RoutingConfig::default();
        config.account.default_skill = Some("general".into());
        for (campaign, engagement, skill) in [("c1", "e1", Some("sales")), ("c1", "all", None)] {
            config.engagements.insert(
                engagement_key(campaign, engagement),
                Engagement {
                    campaign_id: campaign.into(),
                    engagement_id: engagement.into(),
                    name: String::new(),
                    skill_id: skill.map(str::to_string),
                },
            );
        }
        let rule = |name: &str, conds: &[(&str, &str)], skill: &str| ProfileRule {
            name: name.into(),
            all_of: conds
                .iter()
                .map(|(a, v)| AttributeMatch { attribute: a.to_string(), value: v.to_string() })
                .collect(),
            skill_id: skill.into(),
        };
        config.profile_rules = vec![
            rule("vip-fr", &[("ctype", "VIP"), ("language", "fr")], "vip-fr"),
            rule("vip", &[("ctype", "vip")], "vip"),
        ];
        config
    }

    fn profile(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn req<'a>(skill: &'a str, c: &'a str, e: &'a str, profile: &'a BTreeMap<String, String>) -> OpenRequest<'a> {
        OpenRequest { explicit_skill: skill, campaign_id: c, engagement_id: e, profile }
    }

    #[test]
    fn r4_2_explicit_skill_beats_engagement_and_profile() {
        let p = profile(&[("ctype", "vip")]);
        let got = select_skill(&config(), &req("billing", "c1", "e1", &p)).unwrap();
        assert_eq!(got, Selection::new("billing", SkillReason::Requested, ""));
        // The engagement is not consulted at all, so an unknown one does not matter.
        let got = select_skill(&config(), &req("billing", "gone", "gone", &p)).unwrap();
        assert_eq!(got.reason, SkillReason::Requested);
    }

    #[test]
    fn r4_2_engagement_beats_profile_rules() {
        let p = profile(&[("ctype", "vip")]);
        let got = select_skill(&config(), &req("", "c1", "e1", &p)).unwrap();
        assert_eq!(got, Selection::new("sales", SkillReason::Engagement, "c1/e1"));
    }

    #[test]
    fn r4_2_all_skills_engagement_falls_through_to_profile_rules_then_default() {
        let p = profile(&[("ctype", "vip")]);
        let got = select_skill(&config(), &req("", "c1", "all", &p)).unwrap();
        assert_eq!(got, Selection::new("vip", SkillReason::ProfileRule, "vip"));
        let empty = profile(&[]);
        let got = select_skill(&config(), &req("", "c1", "all", &empty)).unwrap();
        assert_eq!(got, Selection::new("general", SkillReason::Default, ""));
    }

    #[test]
    fn r4_2_unknown_engagement_is_an_error() {
        let p = profile(&[]);
        let err = select_skill(&config(), &req("", "c1", "nope", &p)).unwrap_err();
        assert_eq!(err, SelectError::UnknownEngagement { key: "c1/nope".into() });
        assert_eq!(err.to_string(), "unknown engagement c1/nope");
        let err = select_skill(&config(), &req("", "c1", "", &p)).unwrap_err();
        assert_eq!(err, SelectError::UnknownEngagement { key: "c1/".into() }, "half a key is still given");
    }

    #[test]
    fn r4_3_profile_rules_first_full_match_wins() {
        let p = profile(&[("ctype", "vip"), ("language", "fr")]);
        assert_eq!(select_skill(&config(), &req("", "", "", &p)).unwrap().skill_id, "vip-fr");
        let p = profile(&[("ctype", "vip"), ("language", "de")]);
        assert_eq!(select_skill(&config(), &req("", "", "", &p)).unwrap().skill_id, "vip", "all_of: every condition");
    }

    #[test]
    fn r4_3_profile_rule_values_match_case_insensitively() {
        let p = profile(&[("ctype", "Vip"), ("language", "FR")]);
        let got = select_skill(&config(), &req("", "", "", &p)).unwrap();
        assert_eq!(got, Selection::new("vip-fr", SkillReason::ProfileRule, "vip-fr"));
        let p = profile(&[("CType", "vip")]);
        assert_eq!(select_skill(&config(), &req("", "", "", &p)).unwrap().reason, SkillReason::Default, "names exact");
    }

    #[test]
    fn r4_4_no_rule_and_no_default_is_unassigned() {
        let mut config = config();
        config.account.default_skill = None;
        let p = profile(&[]);
        let got = select_skill(&config, &req("", "", "", &p)).unwrap();
        assert_eq!(got, Selection::new("-1", SkillReason::Unassigned, ""));
    }

    #[test]
    fn r4_5_unassigned_policy_reskills_keeps_or_falls_back() {
        let mut config = config();
        config.account.fallback_skill = Some("general".into());
        assert_eq!(
            reskill_unassigned(&config, "sales"),
            Some(Selection::new("-1", SkillReason::UnassignedSkill, "sales"))
        );
        config
            .skills
            .insert("sales".into(), SkillRouting { unassigned_policy: UnassignedPolicy::Keep, ..Default::default() });
        assert_eq!(reskill_unassigned(&config, "sales"), None);
        config.skills.get_mut("sales").unwrap().unassigned_policy = UnassignedPolicy::Fallback;
        assert_eq!(
            reskill_unassigned(&config, "sales"),
            Some(Selection::new("general", SkillReason::Fallback, "sales"))
        );
        config.account.fallback_skill = None;
        assert_eq!(reskill_unassigned(&config, "sales").unwrap().skill_id, "-1", "no fallback: any agent");
        assert_eq!(reskill_unassigned(&config, "-1"), None);
    }

    #[test]
    fn skill_reason_names_round_trip() {
        for reason in SkillReason::ALL {
            assert_eq!(SkillReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(SkillReason::SuggestedAgentTimeout.as_str(), "suggested_agent_timeout");
        assert_eq!(SkillReason::parse("Transfer"), None);
    }
}
