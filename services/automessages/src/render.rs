//! Filling a text's placeholders (R14.4) and the text-channel prefix (R14.9).

use switchyard_proto::common::v1::Channel;

use crate::catalogue::{ETTR, NICKNAME};

/// Unit words of one language: (singular, plural) for day, hour, minute, and the word that
/// joins two units.
struct Words {
    day: (&'static str, &'static str),
    hour: (&'static str, &'static str),
    minute: (&'static str, &'static str),
    and: &'static str,
}

const ENGLISH: Words =
    Words { day: ("day", "days"), hour: ("hour", "hours"), minute: ("minute", "minutes"), and: "and" };

/// The languages durations are written in; others get English.
fn words(language: &str) -> &'static Words {
    const SPANISH: Words =
        Words { day: ("día", "días"), hour: ("hora", "horas"), minute: ("minuto", "minutos"), and: "y" };
    const FRENCH: Words =
        Words { day: ("jour", "jours"), hour: ("heure", "heures"), minute: ("minute", "minutes"), and: "et" };
    const GERMAN: Words =
        Words { day: ("Tag", "Tage"), hour: ("Stunde", "Stunden"), minute: ("Minute", "Minuten"), and: "und" };
    const PORTUGUESE: Words =
        Words { day: ("dia", "dias"), hour: ("hora", "horas"), minute: ("minuto", "minutos"), and: "e" };
    const ITALIAN: Words =
        Words { day: ("giorno", "giorni"), hour: ("ora", "ore"), minute: ("minuto", "minuti"), and: "e" };
    match language.split('-').next().unwrap_or_default() {
        "es" => &SPANISH,
        "fr" => &FRENCH,
        "de" => &GERMAN,
        "pt" => &PORTUGUESE,
        "it" => &ITALIAN,
        _ => &ENGLISH,
    }
}

/// R14.4: a duration as its first two units, unrounded, in `language` (1 d 20 h 40 m: "1 day
/// and 20 hours"; 2 h 0 m 30 s: "2 hours"). Below a minute it reads "1 minute": a response is
/// never promised in seconds.
pub fn duration(ms: i64, language: &str) -> String {
    let w = words(language);
    let minutes = (ms.max(0) / 60_000).max(1);
    let units = [(minutes / 1440, w.day), ((minutes / 60) % 24, w.hour), (minutes % 60, w.minute)];
    let Some(first) = units.iter().position(|(n, _)| *n > 0) else { return unit(1, w.minute) };
    let mut text = unit(units[first].0, units[first].1);
    if let Some((n, names)) = units.get(first + 1).filter(|(n, _)| *n > 0) {
        text = format!("{text} {} {}", w.and, unit(*n, *names));
    }
    text
}

fn unit(n: i64, (one, many): (&str, &str)) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What the placeholders stand for in one message.
#[derive(Debug, Default, Clone)]
pub struct Values {
    /// Time left until the response is due, in ms.
    pub ettr_ms: Option<i64>,
    pub nickname: Option<String>,
}

/// The text with its placeholders filled; None when it uses one that has no value here.
pub fn fill(text: &str, language: &str, values: &Values) -> Option<String> {
    let mut out = text.to_owned();
    if out.contains(ETTR) {
        out = out.replace(ETTR, &duration(values.ettr_ms?, language));
    }
    if out.contains(NICKNAME) {
        out = out.replace(NICKNAME, values.nickname.as_deref()?);
    }
    Some(out)
}

/// R14.9: on SMS and WhatsApp an automatic message looks like an agent's, so the account's
/// prefix goes first.
pub fn with_prefix(text: String, channel: i32, prefix: &str) -> String {
    let text_only = matches!(Channel::try_from(channel), Ok(Channel::Sms | Channel::Whatsapp));
    if text_only && !prefix.is_empty() {
        format!("{prefix} {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    #[test]
    fn the_first_two_units_unrounded_r14_4() {
        assert_eq!(duration(DAY + 20 * HOUR + 40 * MIN, "en"), "1 day and 20 hours");
        assert_eq!(duration(8 * HOUR + 15 * MIN, "en"), "8 hours and 15 minutes");
        assert_eq!(duration(2 * HOUR + 59 * MIN + 59_999, "en"), "2 hours and 59 minutes", "never rounded up");
        assert_eq!(duration(2 * HOUR + 30_000, "en"), "2 hours", "a zero second unit is left out");
        assert_eq!(duration(2 * DAY + 5 * MIN, "en"), "2 days", "only the first two units: no minutes");
        assert_eq!(duration(15 * MIN, "en"), "15 minutes");
        assert_eq!(duration(MIN, "en"), "1 minute");
        assert_eq!(duration(20_000, "en"), "1 minute", "never in seconds");
    }

    #[test]
    fn in_the_conversations_language_where_words_exist_r14_4() {
        assert_eq!(duration(DAY + 20 * HOUR, "es"), "1 día y 20 horas");
        assert_eq!(duration(DAY + 20 * HOUR, "pt-br"), "1 dia e 20 horas");
        assert_eq!(duration(3 * HOUR + MIN, "de"), "3 Stunden und 1 Minute");
        assert_eq!(duration(3 * HOUR, "ja"), "3 hours", "no words for it: English");
    }

    #[test]
    fn placeholders_are_filled_or_the_message_cannot_be_made() {
        let values = Values { ettr_ms: Some(15 * MIN), nickname: Some("Ann".into()) };
        assert_eq!(fill("Within {expectedResponseTime}.", "en", &values).as_deref(), Some("Within 15 minutes."));
        assert_eq!(fill("Hi, I am {agentNickname}.", "en", &values).as_deref(), Some("Hi, I am Ann."));
        assert_eq!(fill("Within {expectedResponseTime}.", "en", &Values::default()), None);
        assert_eq!(fill("No placeholder.", "en", &Values::default()).as_deref(), Some("No placeholder."));
    }

    #[test]
    fn the_prefix_goes_on_text_only_channels_r14_9() {
        assert_eq!(with_prefix("Hi".into(), Channel::Sms as i32, "Info:"), "Info: Hi");
        assert_eq!(with_prefix("Hi".into(), Channel::Whatsapp as i32, "Info:"), "Info: Hi");
        assert_eq!(with_prefix("Hi".into(), Channel::Web as i32, "Info:"), "Hi");
        assert_eq!(with_prefix("Hi".into(), Channel::Sms as i32, ""), "Hi");
    }
}
