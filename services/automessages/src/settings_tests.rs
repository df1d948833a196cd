#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

fn with_texts(event: Event, texts: &[(&str, &str)]) -> MessageSetting {
    let _ = event;
    MessageSetting {
        texts: texts.iter().map(|(l, t)| ((*l).to_owned(), (*t).to_owned())).collect(),
        ..Default::default()
    }
}

#[test]
fn texts_fall_back_skill_account_built_in_then_the_default_language_r14_2() {
    let mut s = Settings { enabled: true, default_language: "es".into(), ..Default::default() };
    s.account.insert(Event::Welcome, with_texts(Event::Welcome, &[("es", "Hola"), ("pt-br", "Olá"), ("fr", "Salut")]));
    s.skills
        .entry("sales".into())
        .or_default()
        .insert(Event::Welcome, with_texts(Event::Welcome, &[("fr", ""), ("de", "Hallo Vertrieb")]));
    let text = |skill: &str, language: &str| {
        let chosen = s.text(Event::Welcome, skill, language);
        (chosen.text, chosen.language, chosen.source)
    };
    assert_eq!(text("sales", "de-AT"), ("Hallo Vertrieb".into(), "de".into(), "skill"), "primary subtag");
    assert_eq!(text("sales", "fr"), ("Salut".into(), "fr".into(), "account"), "an empty skill text falls back");
    assert_eq!(text("sales", "pt-BR"), ("Olá".into(), "pt-br".into(), "account"), "the full tag first");
    assert_eq!(text("support", "de"), ("Hola".into(), "es".into(), "account"), "no German: the default language");
    assert_eq!(text("sales", "en"), (Event::Welcome.default_text().into(), "en".into(), "built-in"));
    let english_default = Settings::default();
    assert_eq!(english_default.text(Event::Welcome, "x", "ja").source, "built-in");
}

#[test]
fn on_unless_switched_off_for_the_account_or_the_skill_r14_1() {
    let mut s = Settings::default();
    assert!(s.off_reason(Event::Welcome, "sales").unwrap().contains("off for the account"));
    s.enabled = true;
    assert_eq!(s.off_reason(Event::Welcome, "sales"), None, "on with its default once the feature is on");
    s.account.insert(Event::Welcome, MessageSetting { enabled: Some(false), ..Default::default() });
    assert!(s.off_reason(Event::Welcome, "sales").is_some());
    let on = MessageSetting { enabled: Some(true), ..Default::default() };
    s.skills.entry("sales".into()).or_default().insert(Event::Welcome, on);
    assert_eq!(s.off_reason(Event::Welcome, "sales"), None, "a skill may switch on what the account switched off");
    assert!(s.off_reason(Event::Welcome, "support").is_some());
}

#[test]
fn timers_per_skill_account_then_built_in_r14_10() {
    let mut s = Settings::default();
    assert_eq!(s.timer(Event::WaitingInQueue, "sales"), Duration::from_secs(180));
    s.account.insert(Event::WaitingInQueue, MessageSetting { timer_seconds: Some(900), ..Default::default() });
    let own = MessageSetting { timer_seconds: Some(30), ..Default::default() };
    s.skills.entry("sales".into()).or_default().insert(Event::WaitingInQueue, own);
    assert_eq!(s.timer(Event::WaitingInQueue, "sales"), Duration::from_secs(30));
    assert_eq!(s.timer(Event::WaitingInQueue, "support"), Duration::from_secs(900));
}

#[test]
fn validation_names_the_field_r14_8_r14_10() {
    let field_of = |s: &Settings| match s.validate() {
        Err(ServiceError::InvalidArgument { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let mut s = Settings::default();
    s.account.insert(Event::Welcome, with_texts(Event::Welcome, &[("en", "Line one\nline two")]));
    assert_eq!(field_of(&s), "account.welcome.texts[en]");
    s.account.insert(Event::Welcome, with_texts(Event::Welcome, &[("en", "Hi {agentNickname}")]));
    assert_eq!(field_of(&s), "account.welcome.texts[en]", "welcome offers no nickname (R14.4)");
    s.account.insert(Event::Welcome, with_texts(Event::Welcome, &[("EN", "Hi")]));
    assert_eq!(field_of(&s), "account.welcome.texts");
    s.account.clear();
    let short = MessageSetting { timer_seconds: Some(14), ..Default::default() };
    s.skills.entry("sales".into()).or_default().insert(Event::AgentNonResponsive, short);
    assert_eq!(field_of(&s), "skills[sales].agent_non_responsive.timer_seconds", "15 s at least (R14.10)");
    s.skills.clear();
    let untimed = MessageSetting { timer_seconds: Some(60), ..Default::default() };
    s.account.insert(Event::Welcome, untimed);
    assert_eq!(field_of(&s), "account.welcome.timer_seconds");
    s.account.clear();
    s.text_channel_prefix = "<b>".into();
    assert_eq!(field_of(&s), "text_channel_prefix");
}

#[test]
fn placeholders_are_checked_whole() {
    assert!(message_text("text", Event::Welcome, "Within {expectedResponseTime}.").is_ok());
    assert!(message_text("text", Event::Welcome, "Within {expectedResponseTime.").is_err());
    assert!(message_text("text", Event::Welcome, "Within {eta}.").is_err());
    assert!(message_text("text", Event::Welcome, "Within }.").is_err());
    assert!(message_text("text", Event::AgentAccepts, "Hi, {agentNickname} here").is_ok());
    assert!(message_text("text", Event::WaitingInQueue, "{expectedResponseTime}").is_err(), "no macro for timers");
}

#[test]
fn the_document_reads_back_as_written() {
    let mut s = Settings { enabled: true, text_channel_prefix: "Info:".into(), ..Default::default() };
    s.account.insert(Event::OffHoursWelcome, with_texts(Event::OffHoursWelcome, &[("es", "Cerrado")]));
    let doc = s.encode().unwrap();
    assert_eq!(Settings::decode(&doc).unwrap(), s);
    assert!(String::from_utf8(doc).unwrap().contains("\"off_hours_welcome\""));
    assert!(Settings::decode(b"{\"enabled\": true, \"surprise\": 1}").is_err(), "unknown fields are refused");
}
