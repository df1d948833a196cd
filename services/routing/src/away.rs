//! Away reasons (R7.3): up to 10 per account, defined by its admin; the system reason
//! `default` ("Away (default)") always exists and is listed last. An agent going AWAY names one
//! of them (none: the default); editing or deleting one changes nothing for an agent already
//! away until its next state change, since the agent keeps the id it set.

use serde::{Deserialize, Serialize};

use crate::config::RoutingConfig;
use crate::validate::{invalid, short_id, Check};

/// R7.3: at most this many reasons besides the system one.
pub const MAX_AWAY_REASONS: usize = 10;
/// The system reason's id and name.
pub const DEFAULT_AWAY_REASON: &str = "default";
pub const DEFAULT_AWAY_REASON_NAME: &str = "Away (default)";
/// The reason of an agent set AWAY because its stream stayed disconnected past the presence
/// grace (connectors); reserved: no account defines it and no agent sets it.
pub const DISCONNECTED_AWAY_REASON: &str = "disconnected";
/// A reason's name: 1..=64 characters, no control characters.
pub const MAX_AWAY_REASON_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AwayReason {
    pub id: String,
    pub name: String,
}

impl RoutingConfig {
    /// The account's reasons then the system one (R7.3: listed last).
    pub fn away_reasons(&self) -> Vec<AwayReason> {
        let mut all = self.account.away_reasons.clone();
        all.push(AwayReason { id: DEFAULT_AWAY_REASON.into(), name: DEFAULT_AWAY_REASON_NAME.into() });
        all
    }

    /// The reason an agent going AWAY with `id` is recorded under (empty: the default), or
    /// None when the account has no such reason.
    pub fn away_reason_id<'a>(&self, id: &'a str) -> Option<&'a str> {
        if id.is_empty() || id == DEFAULT_AWAY_REASON {
            return Some(DEFAULT_AWAY_REASON);
        }
        self.account.away_reasons.iter().any(|r| r.id == id).then_some(id)
    }

    pub(crate) fn validate_away_reasons(&self) -> Check {
        let reasons = &self.account.away_reasons;
        if reasons.len() > MAX_AWAY_REASONS {
            let message = format!("at most {MAX_AWAY_REASONS} besides the system reason (R7.3), got {}", reasons.len());
            return invalid("account.away_reasons", message);
        }
        for (i, reason) in reasons.iter().enumerate() {
            let at = format!("account.away_reasons[{i}]");
            short_id(&format!("{at}.id"), &reason.id)?;
            if reason.id == DEFAULT_AWAY_REASON || reason.id == DISCONNECTED_AWAY_REASON {
                return invalid(format!("{at}.id"), format!("`{}` is a system reason", reason.id));
            }
            if reasons[..i].iter().any(|r| r.id == reason.id) {
                return invalid(format!("{at}.id"), format!("{} appears twice", reason.id));
            }
            let chars = reason.name.chars().count();
            if chars == 0 || chars > MAX_AWAY_REASON_NAME_CHARS || reason.name.chars().any(char::is_control) {
                let message =
                    format!("must be 1 to {MAX_AWAY_REASON_NAME_CHARS} characters without control characters");
                return invalid(format!("{at}.name"), message);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(id: &str, name: &str) -> AwayReason {
        AwayReason { id: id.into(), name: name.into() }
    }

    #[test]
    fn r7_3_the_accounts_reasons_then_the_system_one_last() {
        let mut config = RoutingConfig::default();
        config.account.away_reasons = vec![reason("lunch", "Lunch"), reason("training", "Training")];
        let ids: Vec<String> = config.away_reasons().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["lunch", "training", "default"]);
        assert_eq!(config.away_reason_id("lunch"), Some("lunch"));
        assert_eq!(config.away_reason_id(""), Some("default"));
        assert_eq!(config.away_reason_id("default"), Some("default"));
        assert_eq!(config.away_reason_id("nap"), None);
        assert_eq!(config.away_reason_id(DISCONNECTED_AWAY_REASON), None, "only presence sets it");
    }

    #[test]
    fn r7_3_at_most_ten_unique_named_reasons_besides_the_system_one() {
        let known = Default::default();
        let mut config = RoutingConfig::default();
        config.account.away_reasons = (0..10).map(|i| reason(&format!("r{i}"), "Reason")).collect();
        assert_eq!(config.validate(&known), Ok(()));
        config.account.away_reasons.push(reason("r10", "Reason"));
        assert_eq!(config.validate(&known).unwrap_err().field, "account.away_reasons");
        let cases = [
            (vec![reason("default", "Mine")], "account.away_reasons[0].id"),
            (vec![reason("disconnected", "Mine")], "account.away_reasons[0].id"),
            (vec![reason("a b", "Mine")], "account.away_reasons[0].id"),
            (vec![reason("a", "A"), reason("a", "B")], "account.away_reasons[1].id"),
            (vec![reason("a", "")], "account.away_reasons[0].name"),
            (vec![reason("a", "line\nbreak")], "account.away_reasons[0].name"),
        ];
        for (reasons, field) in cases {
            config.account.away_reasons = reasons;
            assert_eq!(config.validate(&known).unwrap_err().field, field);
        }
    }
}
