//! The rules of §2.14, pure: given what is true of a conversation now ([`Facts`]), whether an
//! event's message applies and what it says, or why nothing is sent. The consumer, the
//! timers and `Preview` all ask here, so what is sent and what a preview says cannot differ.

use switchyard_platform::store::{ConversationRecord, PendingSide, QueueReason, Route, RouteStatus};
use switchyard_proto::common::v1::Channel;

use crate::catalogue::{Event, ETTR};
use crate::render::{self, Values};
use crate::settings::{Chosen, Settings};

/// R14.16: a welcome follows an auto close only after this long.
pub const WELCOME_AFTER_AUTO_CLOSE_MS: i64 = 48 * 3600 * 1000;

/// What is true of an open conversation now.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now_ms: i64,
    pub record: ConversationRecord,
    pub route: Option<Route>,
    /// Its skill now (the route's once routed, R14.3).
    pub skill_id: String,
    /// In off hours (R11.12): when the skill opens again; None in working hours.
    pub closed_until_ms: Option<i64>,
    /// When its response is due (the ETTR's end, `switchyard_kit::response_time`); None when
    /// nothing is due.
    pub due_ms: Option<i64>,
    /// The consumer's last auto close, if remembered (R14.16).
    pub last_auto_close_ms: Option<i64>,
}

/// What an event sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Send { text: String, chosen: Chosen },
    Skip(String),
}

impl Facts {
    fn assigned(&self) -> Option<&Route> {
        self.route.as_ref().filter(|r| r.status == RouteStatus::Assigned)
    }

    fn waiting_in_queue(&self) -> Option<&Route> {
        self.route.as_ref().filter(|r| matches!(r.status, RouteStatus::Queued | RouteStatus::Offered))
    }
}

/// R14.12, R14.16: which welcome a conversation opened now gets: first-time or returning
/// consumer, working or off hours of its skill; none within 48 h of the consumer's last auto
/// close.
pub fn welcome(facts: &Facts) -> Result<Event, String> {
    if let Some(closed) = facts.last_auto_close_ms {
        let since = facts.record.opened_at_ms.saturating_sub(closed);
        if since < WELCOME_AFTER_AUTO_CLOSE_MS {
            return Err(format!(
                "the consumer's previous conversation closed by itself {} before this one opened: no welcome within 48 hours (R14.16)",
                render::duration(since, "en")
            ));
        }
    }
    Ok(match (facts.record.first_conversation, facts.closed_until_ms.is_some()) {
        (true, false) => Event::FirstTimeWelcome,
        (false, false) => Event::Welcome,
        (true, true) => Event::FirstTimeOffHoursWelcome,
        (false, true) => Event::OffHoursWelcome,
    })
}

/// R14.12: a consumer message at `at_ms` in off hours of the conversation's skill gets the
/// mid-conversation message once per off-hours period (identified by when it ends); not in
/// the period the conversation opened in (its off-hours welcome said so already).
pub fn off_hours_mid_conversation(facts: &Facts, opened_closed_until_ms: Option<i64>) -> Result<i64, String> {
    let Some(until) = facts.closed_until_ms else {
        return Err("the skill is in working hours (R14.12)".into());
    };
    if opened_closed_until_ms == Some(until) {
        return Err("the conversation opened in this off-hours period: its welcome told the consumer (R14.12)".into());
    }
    Ok(until)
}

/// R14.13: when the assigned agent's silence began, if it is silent: (a) nothing written since
/// the assignment: the assignment; (b) otherwise the first consumer message after the agent's
/// last one, while the consumer waits. Returns (assignment version, start).
pub fn agent_silence(facts: &Facts) -> Result<(u64, i64), String> {
    let Some(route) = facts.assigned() else { return Err("not assigned to an agent (R14.13)".into()) };
    let record = &facts.record;
    if record.last_agent_message_ms < route.assigned_at_ms {
        return Ok((route.version, route.assigned_at_ms));
    }
    if record.pending == PendingSide::Agent && record.waiting_since_ms > record.last_agent_message_ms {
        return Ok((route.version, record.waiting_since_ms));
    }
    Err("the agent wrote last (R14.13)".into())
}

/// R14.15: when the consumer's silence began: the last agent message, while the conversation
/// waits for the consumer and is assigned (or queued after a transfer: tolerated).
pub fn consumer_silence(facts: &Facts) -> Result<i64, String> {
    let record = &facts.record;
    if record.pending != PendingSide::Consumer || record.last_agent_message_ms == 0 {
        return Err("the consumer is not the one expected to write (R14.15)".into());
    }
    let transferred = facts
        .waiting_in_queue()
        .is_some_and(|r| matches!(r.queue_reason, QueueReason::Transfer | QueueReason::TransferToAgent));
    if facts.assigned().is_none() && !transferred {
        return Err("not assigned to an agent (R14.15)".into());
    }
    Ok(record.last_agent_message_ms)
}

/// R14.14: when the current queue stay began, while it waits in a queue.
pub fn queue_wait(facts: &Facts) -> Result<i64, String> {
    match facts.waiting_in_queue() {
        Some(route) => Ok(route.queued_at_ms),
        None if facts.route.is_none() => Ok(facts.record.opened_at_ms),
        None => Err("not waiting in a queue (R14.14)".into()),
    }
}

/// The message of `event` for the conversation now: on for its skill (R14.1), the text of its
/// skill and language (R14.2, R14.3, R14.7), placeholders filled (R14.4); suppressed when it
/// shows the response time and the response is overdue or nothing is due (R14.5). A transfer
/// to an agent never shows the response time (R14.17): a text with it gives way to the
/// built-in one. `due_ms` overrides the conversation's due time (a manual one just set).
pub fn compose(
    settings: &Settings,
    facts: &Facts,
    event: Event,
    nickname: Option<&str>,
    to_agent: bool,
    due_ms: Option<i64>,
) -> Outcome {
    if let Some(why) = settings.off_reason(event, &facts.skill_id) {
        return Outcome::Skip(why);
    }
    if facts.record.channel == Channel::SocialPublic as i32 {
        return Outcome::Skip("a public social conversation: automatic messages go to private messages only".into());
    }
    let mut chosen = settings.text(event, &facts.skill_id, &facts.record.language);
    if to_agent && chosen.text.contains(ETTR) {
        chosen = Chosen { text: event.default_text().to_owned(), language: "en".into(), source: "built-in (R14.17)" };
    }
    let mut values = Values { ettr_ms: None, nickname: nickname.map(str::to_owned) };
    if chosen.text.contains(ETTR) {
        let Some(due) = due_ms.or(facts.due_ms) else {
            return Outcome::Skip("it shows the response time and no response is due".into());
        };
        if due <= facts.now_ms {
            return Outcome::Skip("it shows the response time and the response is overdue (R14.5)".into());
        }
        values.ettr_ms = Some(due - facts.now_ms);
    }
    match render::fill(&chosen.text, &chosen.language, &values) {
        Some(text) => Outcome::Send {
            text: render::with_prefix(text, facts.record.channel, &settings.text_channel_prefix),
            chosen,
        },
        None => Outcome::Skip("a placeholder has no value here".into()),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
