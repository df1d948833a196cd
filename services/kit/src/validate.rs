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
}
