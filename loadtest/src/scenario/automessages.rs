//! `[automessages]`: automatic messages (§2.14) on for the accounts, set at setup through
//! `AutomaticMessagesAdminService`: the welcome, and the two queue and agent timers the harness
//! can time from what its parties see. Every other event of the catalogue is switched off.
//! Every event, on or off, gets its own marker text ([`marker`]), so each system message the
//! partners read names its event, and a message of a switched-off event is recognised.
//! `crate::automessages_audit` judges the messages against this section.

use std::time::Duration;

use serde::Deserialize;
use switchyard_proto::automessages::v1::AutomaticMessageEvent;

use super::Scenario;

/// Timer bounds, as the automessages service accepts them (R14.10).
pub const TIMER: (Duration, Duration) = (Duration::from_secs(15), Duration::from_secs(7 * 24 * 3600));
/// The most `slack` may be.
pub const SLACK_MAX: Duration = Duration::from_secs(60);

/// The sixteen events of the catalogue, in proto order.
pub const EVENTS: [AutomaticMessageEvent; 16] = [
    AutomaticMessageEvent::FirstTimeWelcome,
    AutomaticMessageEvent::Welcome,
    AutomaticMessageEvent::FirstTimeOffHoursWelcome,
    AutomaticMessageEvent::OffHoursWelcome,
    AutomaticMessageEvent::OffHoursMidConversation,
    AutomaticMessageEvent::ManualResponseTime,
    AutomaticMessageEvent::MarkedUrgent,
    AutomaticMessageEvent::NoLongerUrgent,
    AutomaticMessageEvent::ConsumerNonResponsive,
    AutomaticMessageEvent::AgentNonResponsive,
    AutomaticMessageEvent::WaitingInQueue,
    AutomaticMessageEvent::Transferred,
    AutomaticMessageEvent::ReturnedToQueue,
    AutomaticMessageEvent::AgentAccepts,
    AutomaticMessageEvent::ParticipantJoins,
    AutomaticMessageEvent::ParticipantLeaves,
];

/// The text the harness gives `event`: its proto name in lower case, in brackets
/// (`[waiting_in_queue]`): plain, one line, no placeholder (so never suppressed, R14.5).
pub fn marker(event: AutomaticMessageEvent) -> String {
    format!("[{}]", event.as_str_name().to_ascii_lowercase())
}

/// The event a system message's text marks, if it is one of [`marker`]'s.
pub fn event_of(text: &str) -> Option<AutomaticMessageEvent> {
    EVENTS.into_iter().find(|e| marker(*e) == text)
}

/// Whether `event` is one of the welcomes of working hours (first-time or returning, R14.12).
pub fn is_welcome(event: AutomaticMessageEvent) -> bool {
    matches!(event, AutomaticMessageEvent::FirstTimeWelcome | AutomaticMessageEvent::Welcome)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Automessages {
    /// The welcomes of working hours (first-time and returning consumer) on.
    #[serde(default)]
    pub welcome: bool,
    /// Waiting in queue on with this timer (whole seconds, at least 15 s); absent: off.
    #[serde(with = "humantime_serde", default)]
    pub waiting_in_queue: Option<Duration>,
    /// Agent non-responsive on with this timer (whole seconds, at least 15 s); absent: off.
    #[serde(with = "humantime_serde", default)]
    pub agent_non_responsive: Option<Duration>,
    /// How far from its timer a wait or silence may be and still go either way: the service
    /// polls its timers once a second, and the harness sees an assignment or a reply a little
    /// after the service made it.
    #[serde(with = "humantime_serde", default = "default_slack")]
    pub slack: Duration,
    /// Events the harness switches on at the target although this section (and so the audit)
    /// has them off. Not in scenario files: negative controls set it in code.
    #[serde(skip)]
    pub also_on: Vec<AutomaticMessageEvent>,
}

fn default_slack() -> Duration {
    Duration::from_secs(3)
}

impl Automessages {
    /// Whether the audit takes `event` to be on.
    pub fn on(&self, event: AutomaticMessageEvent) -> bool {
        match event {
            e if is_welcome(e) => self.welcome,
            AutomaticMessageEvent::WaitingInQueue => self.waiting_in_queue.is_some(),
            AutomaticMessageEvent::AgentNonResponsive => self.agent_non_responsive.is_some(),
            _ => false,
        }
    }

    /// What the harness sets at the target per event: on or off, and the timer in seconds (0:
    /// none).
    pub fn configured(&self, event: AutomaticMessageEvent) -> (bool, u32) {
        let timer = match event {
            AutomaticMessageEvent::WaitingInQueue => self.waiting_in_queue,
            AutomaticMessageEvent::AgentNonResponsive => self.agent_non_responsive,
            _ => None,
        };
        let seconds = timer.map_or(0, |t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX));
        (self.on(event) || self.also_on.contains(&event), seconds)
    }

    pub(super) fn validate(&self, scenario: &Scenario) -> Result<(), (String, String)> {
        let bad = |field: &str, message: String| Err((format!("automessages.{field}"), message));
        for (field, timer) in
            [("waiting_in_queue", self.waiting_in_queue), ("agent_non_responsive", self.agent_non_responsive)]
        {
            let Some(timer) = timer else { continue };
            if !(TIMER.0..=TIMER.1).contains(&timer) {
                return bad(field, format!("must be 15s..=7days (R14.10), got {}", humantime::format_duration(timer)));
            }
            if timer.subsec_nanos() != 0 {
                return bad(field, format!("must be whole seconds, got {}", humantime::format_duration(timer)));
            }
        }
        if self.slack > SLACK_MAX {
            return bad("slack", format!("at most 1m, got {}", humantime::format_duration(self.slack)));
        }
        for (field, timer) in
            [("waiting_in_queue", self.waiting_in_queue), ("agent_non_responsive", self.agent_non_responsive)]
        {
            if timer.is_some_and(|t| self.slack >= t) {
                return bad("slack", format!("must be shorter than {field}"));
            }
        }
        // The audit counts one queue stay and one agent per conversation.
        if scenario.transfers.is_some() {
            return Err((
                "automessages".into(),
                "cannot be combined with [transfers] (the audit times one queue stay per conversation)".into(),
            ));
        }
        // R14.13 (b): a consumer message after the agent's reply starts another silence the
        // harness does not time.
        if self.agent_non_responsive.is_some() && scenario.script.consumer_messages > 0 {
            return bad(
                "agent_non_responsive",
                "needs script.consumer_messages = 0 (a consumer writing after the agent's reply starts another silence, R14.13 b)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::fixture::{error, GOOD};

    fn with(section: &str) -> String {
        format!("{GOOD}\n[automessages]\n{section}\n")
    }

    #[test]
    fn a_section_parses_with_its_defaults_and_markers_round_trip() {
        let text = with("welcome = true\nwaiting_in_queue = \"15s\"\nagent_non_responsive = \"20s\"");
        let s = Scenario::parse(&text, "t").unwrap();
        let am = s.automessages.unwrap();
        assert_eq!(am.slack, Duration::from_secs(3));
        assert!(am.on(AutomaticMessageEvent::FirstTimeWelcome) && am.on(AutomaticMessageEvent::Welcome));
        assert!(!am.on(AutomaticMessageEvent::AgentAccepts));
        assert_eq!(am.configured(AutomaticMessageEvent::WaitingInQueue), (true, 15));
        assert_eq!(am.configured(AutomaticMessageEvent::AgentNonResponsive), (true, 20));
        assert_eq!(am.configured(AutomaticMessageEvent::OffHoursWelcome), (false, 0));
        assert_eq!(marker(AutomaticMessageEvent::WaitingInQueue), "[waiting_in_queue]");
        for event in EVENTS {
            assert_eq!(event_of(&marker(event)), Some(event));
        }
        assert_eq!(event_of("Welcome to our messaging service!"), None);
        // Absent timers: off.
        let s = Scenario::parse(&with("welcome = true"), "t").unwrap();
        assert_eq!(s.automessages.unwrap().configured(AutomaticMessageEvent::WaitingInQueue), (false, 0));
    }

    #[test]
    fn a_group_may_think_longer_than_the_script_says() {
        let text = GOOD.replace(
            r#"agents = [{ name = "a", count = 2, skills = ["sales", "support"], max_conversations = 3 }]"#,
            r#"agents = [{ name = "a", count = 2, skills = ["sales", "support"], max_conversations = 3 },
                         { name = "slow", count = 1, skills = ["sales"], max_conversations = 1, agent_think = "25s" }]"#,
        );
        let s = Scenario::parse(&format!("accounts = 2\n{text}"), "t").unwrap();
        let thinks: Vec<u64> = (0..6).map(|i| s.agent_think(i).as_secs()).collect();
        assert_eq!(thinks, [0, 0, 25, 0, 0, 25], "per account: a-0, a-1, slow-0");
        let e = error(&text.replace(r#"agent_think = "25s""#, r#"agent_think = "2h""#));
        assert!(e.contains("agents[1].agent_think: at most 1h"), "{e}");
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        let e = error(&with("waiting_in_queue = \"10s\""));
        assert!(e.contains("automessages.waiting_in_queue: must be 15s..=7days (R14.10), got 10s"), "{e}");
        let e = error(&with("agent_non_responsive = \"20s 500ms\""));
        assert!(e.contains("automessages.agent_non_responsive: must be whole seconds"), "{e}");
        let e = error(&with("agent_non_responsive = \"8days\""));
        assert!(e.contains("automessages.agent_non_responsive: must be 15s..=7days"), "{e}");
        let e = error(&with("waiting_in_queue = \"15s\"\nslack = \"15s\""));
        assert!(e.contains("automessages.slack: must be shorter than waiting_in_queue"), "{e}");
        let e = error(&with("slack = \"2m\""));
        assert!(e.contains("automessages.slack: at most 1m"), "{e}");
        let e = error(&with("welcome = \"yes\""));
        assert!(e.contains("invalid type"), "{e}");
        let e = error(&with("welcom = true"));
        assert!(e.contains("unknown field `welcom`"), "{e}");
        let chatty = with("agent_non_responsive = \"20s\"")
            .replace(r#"{ close_by = "agent" }"#, r#"{ close_by = "agent", consumer_messages = 1 }"#);
        let e = error(&chatty);
        assert!(e.contains("automessages.agent_non_responsive: needs script.consumer_messages = 0"), "{e}");
        let transfers = "[transfers]\nto_skill_share = 0.1\nto_skills = [\"sales\", \"support\"]";
        let two_replies =
            with("welcome = true").replace(r#"{ close_by = "agent" }"#, r#"{ close_by = "agent", agent_replies = 2 }"#);
        let e = error(&format!("{two_replies}\n{transfers}\n"));
        assert!(e.contains("automessages: cannot be combined with [transfers]"), "{e}");
    }
}
