//! The catalogue of domain §2.14 (R14.1): the sixteen events, what each sends by default, the
//! placeholders its text may use (R14.4) and, for the three timed ones, the default timer
//! (R14.10). Built-in texts are English; an account sets its own per skill and language.

use std::time::Duration;

use switchyard_proto::automessages::v1::AutomaticMessageEvent as Proto;

/// `{expectedResponseTime}`: the ETTR, its first two units (R14.4).
pub const ETTR: &str = "{expectedResponseTime}";
/// `{agentNickname}`: the agent's nickname from its profile (R14.4).
pub const NICKNAME: &str = "{agentNickname}";
/// Both placeholders, with what they stand for.
pub const PLACEHOLDERS: [(&str, &str); 2] = [
    (ETTR, "the expected time to response: its first two units, unrounded (\"1 day and 20 hours\"), in the conversation's language"),
    (NICKNAME, "the nickname of the agent concerned (its id when it has none)"),
];

/// Shortest timer (R14.10) and longest (a week: beyond it the conversation auto closes or is
/// handled otherwise).
pub const MIN_TIMER: Duration = Duration::from_secs(15);
pub const MAX_TIMER: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    FirstTimeWelcome,
    Welcome,
    FirstTimeOffHoursWelcome,
    OffHoursWelcome,
    OffHoursMidConversation,
    ManualResponseTime,
    MarkedUrgent,
    NoLongerUrgent,
    ConsumerNonResponsive,
    AgentNonResponsive,
    WaitingInQueue,
    Transferred,
    ReturnedToQueue,
    AgentAccepts,
    ParticipantJoins,
    ParticipantLeaves,
}

impl Event {
    pub const ALL: [Event; 16] = [
        Event::FirstTimeWelcome,
        Event::Welcome,
        Event::FirstTimeOffHoursWelcome,
        Event::OffHoursWelcome,
        Event::OffHoursMidConversation,
        Event::ManualResponseTime,
        Event::MarkedUrgent,
        Event::NoLongerUrgent,
        Event::ConsumerNonResponsive,
        Event::AgentNonResponsive,
        Event::WaitingInQueue,
        Event::Transferred,
        Event::ReturnedToQueue,
        Event::AgentAccepts,
        Event::ParticipantJoins,
        Event::ParticipantLeaves,
    ];

    /// The name in dedupe ids, metrics and the settings document.
    pub fn name(self) -> &'static str {
        match self {
            Event::FirstTimeWelcome => "first_time_welcome",
            Event::Welcome => "welcome",
            Event::FirstTimeOffHoursWelcome => "first_time_off_hours_welcome",
            Event::OffHoursWelcome => "off_hours_welcome",
            Event::OffHoursMidConversation => "off_hours_mid_conversation",
            Event::ManualResponseTime => "manual_response_time",
            Event::MarkedUrgent => "marked_urgent",
            Event::NoLongerUrgent => "no_longer_urgent",
            Event::ConsumerNonResponsive => "consumer_non_responsive",
            Event::AgentNonResponsive => "agent_non_responsive",
            Event::WaitingInQueue => "waiting_in_queue",
            Event::Transferred => "transferred",
            Event::ReturnedToQueue => "returned_to_queue",
            Event::AgentAccepts => "agent_accepts",
            Event::ParticipantJoins => "participant_joins",
            Event::ParticipantLeaves => "participant_leaves",
        }
    }

    /// The built-in English text (the purpose column of the catalogue).
    pub fn default_text(self) -> &'static str {
        match self {
            Event::FirstTimeWelcome => "Welcome to our messaging service! Reply at your own pace: an agent will answer within {expectedResponseTime}.",
            Event::Welcome => "Thanks for messaging us again. An agent will answer within {expectedResponseTime}.",
            Event::FirstTimeOffHoursWelcome => "Welcome! Our contact center is closed right now, but you can leave us a message: an agent will answer within {expectedResponseTime}.",
            Event::OffHoursWelcome => "Thanks for your message. Our contact center is closed right now: an agent will answer within {expectedResponseTime}.",
            Event::OffHoursMidConversation => "Sorry, our contact center is closed now. An agent will answer within {expectedResponseTime}.",
            Event::ManualResponseTime => "An agent will respond within {expectedResponseTime}.",
            Event::MarkedUrgent => "Your conversation is marked as urgent. An agent will respond within {expectedResponseTime}.",
            Event::NoLongerUrgent => "Your conversation is no longer marked as urgent. An agent will respond within {expectedResponseTime}.",
            Event::ConsumerNonResponsive => "Are you still there? Let us know if you still need help.",
            Event::AgentNonResponsive => "Sorry for the delay. An agent will answer you shortly.",
            Event::WaitingInQueue => "The wait is longer than expected. We will connect you with an agent shortly.",
            Event::Transferred => "You are being transferred to another agent.",
            Event::ReturnedToQueue => "Your agent cannot respond right now. Another agent will answer within {expectedResponseTime}.",
            Event::AgentAccepts => "You are now connected to {agentNickname}.",
            Event::ParticipantJoins => "{agentNickname} joined the conversation.",
            Event::ParticipantLeaves => "{agentNickname} left the conversation.",
        }
    }

    /// The placeholders its text may use (the Macros column).
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Event::FirstTimeWelcome
            | Event::Welcome
            | Event::FirstTimeOffHoursWelcome
            | Event::OffHoursWelcome
            | Event::OffHoursMidConversation
            | Event::ManualResponseTime
            | Event::MarkedUrgent
            | Event::NoLongerUrgent
            | Event::Transferred
            | Event::ReturnedToQueue => &[ETTR],
            Event::AgentAccepts | Event::ParticipantJoins | Event::ParticipantLeaves => &[NICKNAME],
            Event::ConsumerNonResponsive | Event::AgentNonResponsive | Event::WaitingInQueue => &[],
        }
    }

    /// The timer's default for the timed events (R14.10), None for the others.
    pub fn default_timer(self) -> Option<Duration> {
        match self {
            Event::ConsumerNonResponsive => Some(Duration::from_secs(10 * 60)),
            Event::AgentNonResponsive => Some(Duration::from_secs(5 * 60)),
            Event::WaitingInQueue => Some(Duration::from_secs(3 * 60)),
            _ => None,
        }
    }

    pub fn from_proto(value: i32) -> Option<Event> {
        let proto = Proto::try_from(value).ok()?;
        Event::ALL.into_iter().find(|e| e.to_proto() == proto)
    }

    pub fn to_proto(self) -> Proto {
        match self {
            Event::FirstTimeWelcome => Proto::FirstTimeWelcome,
            Event::Welcome => Proto::Welcome,
            Event::FirstTimeOffHoursWelcome => Proto::FirstTimeOffHoursWelcome,
            Event::OffHoursWelcome => Proto::OffHoursWelcome,
            Event::OffHoursMidConversation => Proto::OffHoursMidConversation,
            Event::ManualResponseTime => Proto::ManualResponseTime,
            Event::MarkedUrgent => Proto::MarkedUrgent,
            Event::NoLongerUrgent => Proto::NoLongerUrgent,
            Event::ConsumerNonResponsive => Proto::ConsumerNonResponsive,
            Event::AgentNonResponsive => Proto::AgentNonResponsive,
            Event::WaitingInQueue => Proto::WaitingInQueue,
            Event::Transferred => Proto::Transferred,
            Event::ReturnedToQueue => Proto::ReturnedToQueue,
            Event::AgentAccepts => Proto::AgentAccepts,
            Event::ParticipantJoins => Proto::ParticipantJoins,
            Event::ParticipantLeaves => Proto::ParticipantLeaves,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_maps_to_its_proto_value_and_back_r14_1() {
        for event in Event::ALL {
            assert_eq!(Event::from_proto(event.to_proto() as i32), Some(event));
        }
        assert_eq!(Event::from_proto(0), None);
        assert_eq!(Event::from_proto(99), None);
    }

    #[test]
    fn built_in_texts_use_only_their_placeholders_and_are_valid_r14_8() {
        for event in Event::ALL {
            let text = event.default_text();
            for (placeholder, _) in PLACEHOLDERS {
                if text.contains(placeholder) {
                    assert!(event.placeholders().contains(&placeholder), "{event:?}");
                }
            }
            assert!(switchyard_kit::validate::system_text("text", text, 1000).is_ok(), "{event:?}");
        }
    }
}
