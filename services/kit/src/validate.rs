//! Input checks shared by every gRPC edge, so ids and texts obey one rule everywhere.

use crate::ServiceError;

/// Longest id accepted (account, skill, agent, consumer, conversation, partner message).
pub const MAX_ID_LEN: usize = 128;
/// Longest message text accepted, in bytes.
pub const MAX_TEXT_LEN: usize = 10_000;

/// An id: 1..=128 bytes of ASCII letters, digits and `-_.:@+`. Conservative on purpose:
/// ids become parts of Redis keys and Kafka keys. `+` is there for E.164 phone numbers
/// (`+15550100`), the consumer ids of SMS, WhatsApp and campaigns.
pub fn id<'a>(field: &str, value: &'a str) -> Result<&'a str, ServiceError> {
    if value.is_empty() {
        return Err(ServiceError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(ServiceError::invalid(field, format!("must be at most {MAX_ID_LEN} bytes")));
    }
    if let Some(bad) =
        value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@' | '+')))
    {
        return Err(ServiceError::invalid(
            field,
            format!("contains {bad:?}; allowed are ASCII letters, digits and -_.:@+"),
        ));
    }
    Ok(value)
}

/// An optional id: empty is allowed, anything else must be a valid id.
pub fn optional_id<'a>(field: &str, value: &'a str) -> Result<Option<&'a str>, ServiceError> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value).map(Some)
    }
}

/// The unassigned skill (domain R4.4): every agent holds it; conversations opened without a
/// skill wait on it.
pub use switchyard_platform::store::UNASSIGNED_SKILL;

/// A skill id: a valid id, or the unassigned skill `-1`.
pub fn skill_id<'a>(field: &str, value: &'a str) -> Result<&'a str, ServiceError> {
    if value == UNASSIGNED_SKILL {
        Ok(value)
    } else {
        id(field, value)
    }
}

/// A message text: not blank, at most [`MAX_TEXT_LEN`] bytes, no NUL.
pub fn text<'a>(field: &str, value: &'a str) -> Result<&'a str, ServiceError> {
    if value.trim().is_empty() {
        return Err(ServiceError::invalid(field, "must not be blank"));
    }
    if value.len() > MAX_TEXT_LEN {
        return Err(ServiceError::invalid(field, format!("must be at most {MAX_TEXT_LEN} bytes")));
    }
    if value.contains('\0') {
        return Err(ServiceError::invalid(field, "must not contain NUL"));
    }
    Ok(value)
}

/// Opening and closing marks of a markdown link in a system text (R14.8).
const MD_OPEN: &str = "#md#[";
const MD_CLOSE: &str = ")#/md#";

/// A text the system shows consumers (automatic messages, agent nicknames), R14.8: plain
/// text of at most `max` characters on one line, without `<`, `>` and `\` (channels fail to
/// deliver them), markdown links only as `#md#[text](url)#/md#` with an http(s) or tel/mailto
/// url. Empty is allowed (the caller says what empty means).
pub fn system_text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ServiceError> {
    if value.chars().count() > max {
        return Err(ServiceError::invalid(field, format!("must be at most {max} characters")));
    }
    if let Some(bad) = value.chars().find(|c| matches!(c, '<' | '>' | '\\') || c.is_control()) {
        let what = if bad.is_control() { "line breaks and control characters".to_owned() } else { format!("{bad:?}") };
        return Err(ServiceError::invalid(
            field,
            format!("must be plain text on one line: {what} not allowed (R14.8)"),
        ));
    }
    let mut rest = value;
    while let Some(start) = rest.find("#md#") {
        let link = &rest[start..];
        let Some(end) = link.find(MD_CLOSE) else {
            return Err(ServiceError::invalid(field, "a markdown link must end with )#/md# (R14.8)"));
        };
        let inner = &link[..end + 1];
        let well_formed = inner.strip_prefix(MD_OPEN).and_then(|l| l.split_once("](")).is_some_and(|(text, url)| {
            let url = url.trim_end_matches(')');
            !text.is_empty()
                && !text.contains(']')
                && ["https://", "http://", "tel:", "mailto:"].iter().any(|s| url.starts_with(s) && url.len() > s.len())
                && !url.contains(char::is_whitespace)
                && !url.contains('(')
        });
        if !well_formed {
            return Err(ServiceError::invalid(
                field,
                "markdown links are written #md#[text](https://...)#/md# (R14.8)",
            ));
        }
        rest = &link[end + MD_CLOSE.len()..];
    }
    if rest.contains("#/md#") {
        return Err(ServiceError::invalid(field, "#/md# without its #md#[ (R14.8)"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_and_plain() {
        assert!(id("account_id", "acme-1").is_ok());
        assert!(id("account_id", "").is_err());
        assert!(id("account_id", &"a".repeat(129)).is_err());
        assert!(id("account_id", &"a".repeat(128)).is_ok());
        assert!(id("account_id", "a b").is_err());
        assert!(id("account_id", "a{b}").is_err());
        assert!(id("account_id", "a|b").is_err(), "| separates ids inside store keys");
        assert!(id("consumer_id", "+15550100").is_ok(), "E.164 numbers are consumer ids");
        assert_eq!(optional_id("skill_id", "").ok(), Some(None));
    }

    #[test]
    fn texts_are_bounded() {
        assert!(text("text", "hello").is_ok());
        assert!(text("text", "   ").is_err());
        assert!(text("text", &"x".repeat(MAX_TEXT_LEN + 1)).is_err());
        assert!(text("text", "a\0b").is_err());
    }

    #[test]
    fn system_texts_are_plain_one_line_with_well_formed_links_r14_8() {
        assert!(system_text("text", "Welcome! We reply within {expectedResponseTime}.", 500).is_ok());
        assert!(system_text("text", "See #md#[our hours](https://example.com/hours)#/md# for more", 500).is_ok());
        assert!(system_text("text", "", 500).is_ok());
        for bad in ["<b>hi</b>", "a > b", "back\\slash", "two\nlines", "cr\r", "tab\tinside"] {
            assert!(system_text("text", bad, 500).is_err(), "{bad:?}");
        }
        for bad in ["#md#[x](https://e.com)", "#md#[](https://e.com)#/md#", "#md#[x](javascript:alert)#/md#", "x #/md#"]
        {
            assert!(system_text("text", bad, 500).is_err(), "{bad:?}");
        }
        assert!(system_text("text", &"é".repeat(10), 10).is_ok(), "counted in characters");
        assert!(system_text("text", &"é".repeat(11), 10).is_err());
    }
}
