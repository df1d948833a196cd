//! Partner API keys: `syk_<account, base64url>.<key id>.<secret>`. The account is part of the
//! key so it is found in the account's own keys (one hash slot, no global index); the secret
//! is 32 random bytes and only its SHA-256 is stored. A single SHA-256 is enough for a
//! 256-bit random secret (no dictionary to slow down), and keeps verification cheap.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "syk_";

/// A key as presented by a caller, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub account_id: String,
    pub key_id: String,
    secret: String,
}

/// A newly generated key: the whole key (shown once) and what is stored.
pub struct NewKey {
    pub key_id: String,
    pub secret: String,
    pub secret_sha256: Vec<u8>,
}

pub fn is_api_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// 32 random bytes as base64url (43 characters): the secret of a key, or an HS256 signing key.
pub fn random_secret() -> String {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    URL_SAFE_NO_PAD.encode(secret)
}

/// Generates a key of `account_id`.
pub fn generate(account_id: &str) -> NewKey {
    let mut rng = rand::rng();
    let mut id = [0u8; 8];
    rng.fill_bytes(&mut id);
    let key_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret_text = random_secret();
    let whole = format!("{PREFIX}{}.{key_id}.{secret_text}", URL_SAFE_NO_PAD.encode(account_id));
    NewKey { key_id, secret_sha256: digest(&secret_text), secret: whole }
}

/// Splits a presented key; None when it is not one of ours.
pub fn parse(token: &str) -> Option<PresentedKey> {
    let rest = token.strip_prefix(PREFIX)?;
    let mut parts = rest.split('.');
    let (account, key_id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || key_id.len() != 16 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let account_id = String::from_utf8(URL_SAFE_NO_PAD.decode(account).ok()?).ok()?;
    if account_id.is_empty() || secret.len() != 43 {
        return None;
    }
    Some(PresentedKey { account_id, key_id: key_id.to_owned(), secret: secret.to_owned() })
}

impl PresentedKey {
    /// Whether the secret matches the stored digest (constant time).
    pub fn matches(&self, stored_sha256: &[u8]) -> bool {
        digest(&self.secret).ct_eq(stored_sha256).into()
    }
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_and_matches_only_its_digest() {
        let key = generate("acme.eu_1");
        let presented = parse(&key.secret).expect("parses");
        assert_eq!((presented.account_id.as_str(), presented.key_id.as_str()), ("acme.eu_1", key.key_id.as_str()));
        assert!(presented.matches(&key.secret_sha256));
        let other = generate("acme.eu_1");
        assert!(!presented.matches(&other.secret_sha256));
        assert!(!presented.matches(&[]));
    }

    #[test]
    fn malformed_keys_are_not_keys() {
        let key = generate("acme").secret;
        for bad in [
            "",
            "syk_",
            "eyJhbGciOi.x.y",
            &key[..key.len() - 1],
            &format!("{key}.extra"),
            &key.replacen("syk_", "syk_!!", 1),
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
