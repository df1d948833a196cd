//! An account's automatic-message settings (R14.1, R14.2, R14.9, R14.10): one document with a
//! revision, read through the process's cache, and the one place that resolves what a skill
//! and a language get: on or off, which text, which timer.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchyard_kit::routing_config::Document;
use switchyard_kit::{validate, ServiceError};
use switchyard_platform::store::{ConfigSave, StateStore, StoreError};

use crate::catalogue::{Event, MAX_TIMER, MIN_TIMER, PLACEHOLDERS};

/// The language of built-in texts, and the default language of an account that set none.
pub const BUILT_IN_LANGUAGE: &str = "en";
/// Longest text, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Longest prefix, in characters.
pub const MAX_PREFIX_CHARS: usize = 20;
/// Languages one setting may hold texts in.
pub const MAX_LANGUAGES: usize = 50;
/// Skills with settings of their own, per account.
pub const MAX_SKILLS: usize = 2000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The feature (R14.1): off until an admin turns it on; then every message is on with its
    /// default text unless switched off.
    pub enabled: bool,
    /// Texts fall back to it when the conversation's language has none; empty: English.
    pub default_language: String,
    /// Put before automatic messages on text-only channels (R14.9).
    pub text_channel_prefix: String,
    pub account: BTreeMap<Event, MessageSetting>,
    pub skills: BTreeMap<String, BTreeMap<Event, MessageSetting>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessageSetting {
    /// None: as the scope above (the account's: on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Language tag (lower case) -> text.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub texts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_seconds: Option<u32>,
}

/// The text chosen for a message, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub text: String,
    pub language: String,
    /// "skill", "account" or "built-in".
    pub source: &'static str,
}

impl Settings {
    pub fn default_language(&self) -> &str {
        if self.default_language.is_empty() {
            BUILT_IN_LANGUAGE
        } else {
            &self.default_language
        }
    }

    fn skill_setting(&self, event: Event, skill_id: &str) -> Option<&MessageSetting> {
        self.skills.get(skill_id).and_then(|s| s.get(&event))
    }

    /// R14.1: why `event` sends nothing on `skill_id`, if it does not.
    pub fn off_reason(&self, event: Event, skill_id: &str) -> Option<String> {
        if !self.enabled {
            return Some("automatic messages are off for the account (R14.1)".into());
        }
        if let Some(on) = self.skill_setting(event, skill_id).and_then(|s| s.enabled) {
            return (!on).then(|| format!("{} is off for skill {skill_id} (R14.1)", event.name()));
        }
        let on = self.account.get(&event).and_then(|s| s.enabled).unwrap_or(true);
        (!on).then(|| format!("{} is off for the account (R14.1)", event.name()))
    }

    /// R14.10: the event's timer on `skill_id`: the skill's, else the account's, else the
    /// built-in default.
    pub fn timer(&self, event: Event, skill_id: &str) -> Duration {
        let own = self.skill_setting(event, skill_id).and_then(|s| s.timer_seconds);
        let account = self.account.get(&event).and_then(|s| s.timer_seconds);
        match own.or(account) {
            Some(seconds) => Duration::from_secs(u64::from(seconds)),
            None => event.default_timer().unwrap_or(MIN_TIMER),
        }
    }

    /// R14.2, R14.3, R14.7: the text for a conversation on `skill_id` in `language`: in the
    /// conversation's language (the full tag, then its primary subtag) from the skill, the
    /// account, the built-in texts; then the same in the account's default language. An empty
    /// text counts as none (it falls back).
    pub fn text(&self, event: Event, skill_id: &str, language: &str) -> Chosen {
        let skill = self.skill_setting(event, skill_id);
        let account = self.account.get(&event);
        for tag in language_candidates(language, self.default_language()) {
            let scopes = [(skill, "skill"), (account, "account")];
            for (setting, source) in scopes {
                if let Some(text) = setting.and_then(|s| s.texts.get(&tag)).filter(|t| !t.is_empty()) {
                    return Chosen { text: text.clone(), language: tag, source };
                }
            }
            if tag == BUILT_IN_LANGUAGE {
                break;
            }
        }
        Chosen { text: event.default_text().to_owned(), language: BUILT_IN_LANGUAGE.into(), source: "built-in" }
    }

    /// Every bound and rule, reported by field path. Called before every save.
    pub fn validate(&self) -> Result<(), ServiceError> {
        if !self.default_language.is_empty() {
            language_tag("default_language", &self.default_language)?;
        }
        validate::system_text("text_channel_prefix", &self.text_channel_prefix, MAX_PREFIX_CHARS)?;
        if self.skills.len() > MAX_SKILLS {
            return Err(ServiceError::invalid("skills", format!("at most {MAX_SKILLS} skills with settings")));
        }
        for (event, setting) in &self.account {
            setting.validate(&format!("account.{}", event.name()), *event)?;
        }
        for (skill, settings) in &self.skills {
            validate::skill_id("skill_id", skill)?;
            for (event, setting) in settings {
                setting.validate(&format!("skills[{skill}].{}", event.name()), *event)?;
            }
        }
        Ok(())
    }
}

impl MessageSetting {
    fn validate(&self, at: &str, event: Event) -> Result<(), ServiceError> {
        if self.texts.len() > MAX_LANGUAGES {
            return Err(ServiceError::invalid(format!("{at}.texts"), format!("at most {MAX_LANGUAGES} languages")));
        }
        for (language, text) in &self.texts {
            language_tag(&format!("{at}.texts"), language)?;
            message_text(&format!("{at}.texts[{language}]"), event, text)?;
        }
        if let Some(seconds) = self.timer_seconds {
            timer(&format!("{at}.timer_seconds"), event, seconds)?;
        }
        Ok(())
    }
}

/// Tags to look a text up under, best first: the conversation's (full, then primary subtag),
/// then the default language's, then English.
fn language_candidates(language: &str, default_language: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in [language, default_language, BUILT_IN_LANGUAGE] {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let primary = tag.split('-').next().unwrap_or_default().to_owned();
        for candidate in [tag, primary] {
            if !candidate.is_empty() && !tags.contains(&candidate) {
                tags.push(candidate);
            }
        }
    }
    tags
}

/// A language tag as texts are keyed: lower-case letters and digits in subtags joined by
/// `-`, the first of 2 or 3 letters (`en`, `es-419`, `pt-br`).
pub fn language_tag<'a>(field: &str, tag: &'a str) -> Result<&'a str, ServiceError> {
    let mut parts = tag.split('-');
    let primary_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest_ok =
        parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    if primary_ok && rest_ok && tag.len() <= 35 {
        Ok(tag)
    } else {
        Err(ServiceError::invalid(field, format!("{tag:?} is not a lower-case language tag such as en, es or pt-br")))
    }
}

/// R14.8 and R14.4: a text of `event`: plain, one line, with only the placeholders the event
/// offers, each written whole.
pub fn message_text<'a>(field: &str, event: Event, text: &'a str) -> Result<&'a str, ServiceError> {
    validate::system_text(field, text, MAX_TEXT_CHARS)?;
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            return Err(ServiceError::invalid(field, "a { without its }: placeholders are written {name}"));
        };
        let placeholder = &rest[open..open + len + 1];
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == placeholder) {
            return Err(ServiceError::invalid(field, format!("unknown placeholder {placeholder}")));
        }
        if !event.placeholders().contains(&placeholder) {
            return Err(ServiceError::invalid(field, format!("{} cannot use {placeholder} (R14.4)", event.name())));
        }
        rest = &rest[open + len + 1..];
    }
    if rest.contains('}') {
        return Err(ServiceError::invalid(field, "a } without its {"));
    }
    Ok(text)
}

/// R14.10: only timed events have a timer, of at least 15 s.
pub fn timer(field: &str, event: Event, seconds: u32) -> Result<u32, ServiceError> {
    if event.default_timer().is_none() {
        return Err(ServiceError::invalid(field, format!("{} has no timer (R14.10)", event.name())));
    }
    let (min, max) = (MIN_TIMER.as_secs(), MAX_TIMER.as_secs());
    if !(min..=max).contains(&u64::from(seconds)) {
        return Err(ServiceError::invalid(field, format!("must be within {min}..={max} seconds (R14.10)")));
    }
    Ok(seconds)
}

#[async_trait]
impl Document for Settings {
    const NAME: &'static str = "automatic-message settings";
    fn decode(doc: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(doc).map_err(|e| e.to_string())
    }
    fn encode(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| e.to_string())
    }
    async fn load(store: &dyn StateStore, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        store.automessages_config(account_id).await
    }
    async fn revision(store: &dyn StateStore, account_id: &str) -> Result<u64, StoreError> {
        store.automessages_config_revision(account_id).await
    }
    async fn store(
        store: &dyn StateStore,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError> {
        store.save_automessages_config(account_id, expected, doc).await
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
