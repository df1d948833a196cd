//! Verified bearer tokens, remembered until they expire: a client sends the same token on
//! every call, and checking its signature and claims again each time is most of what
//! authentication costs. A token is only ever cached after a full verification, and a cached
//! one is refused once past its `exp` (plus the issuer's leeway), exactly as a fresh
//! verification would refuse it. Tokens cannot be revoked, so nothing else can change.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::jwt::{TokenError, Verifier};
use crate::role::Principal;

/// Tokens remembered at most; beyond, the cache starts over (every token is still verified).
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<String, (Principal, u64)>>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl VerifiedTokens {
    pub(crate) fn verify(&self, verifier: &Verifier, token: &str) -> Result<Principal, TokenError> {
        let now = now();
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            match entries.get(token) {
                Some((principal, until)) if now < *until => return Ok(principal.clone()),
                Some(_) => return Err(TokenError::Expired),
                None => {}
            }
        }
        let (principal, until) = verifier.verify_until(token)?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token.to_owned(), (principal.clone(), until));
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::{IssuerConfig, Role, Signer};

    #[test]
    fn a_cached_token_expires_when_a_fresh_verification_would_refuse_it() {
        let dir = std::env::temp_dir().join(format!("tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "0123456789abcdef0123456789abcdef").unwrap();
        let issuer = IssuerConfig { issuer: "sy".into(), key_file: file, leeway: Duration::ZERO, ..Default::default() };
        let verifier = Verifier::new(&[issuer]).unwrap();
        let signer = Signer::hs256("sy", "switchyard", b"0123456789abcdef0123456789abcdef");
        let tokens = VerifiedTokens::default();
        let t = now();
        let token = signer.issue_at("acme", "alice", &[Role::Agent], t - 1, t + 1).unwrap();
        assert_eq!(tokens.verify(&verifier, &token).unwrap().subject, "alice");
        assert_eq!(tokens.verify(&verifier, &token).unwrap().subject, "alice", "from the cache");
        let forged = format!("{token}x");
        assert!(tokens.verify(&verifier, &forged).is_err(), "only the exact token verified is cached");
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(tokens.verify(&verifier, &token).unwrap_err(), TokenError::Expired);
        let _ = std::fs::remove_dir_all(dir);
    }
}
