//! `[auth]` and `[limits]`: how callers are authenticated and how much they may ask.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Whether callers must authenticate. There is no implicit off: `disabled` has to be written
/// down, and then every service says so at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    #[default]
    Required,
    Disabled,
}

/// A JWT signature algorithm Switchyard accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Algorithm {
    /// HMAC-SHA256 with a shared secret of at least 32 bytes.
    #[default]
    HS256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
}

impl Algorithm {
    pub(crate) fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `required` (default) or `disabled`.
    pub mode: AuthMode,
    /// Issuers whose bearer JWTs are accepted (people and bots).
    pub issuers: Vec<IssuerConfig>,
    /// How `switchyard auth issue-token` signs.
    pub signing: SigningConfig,
    /// A verified partner key is trusted this long before it is read again: a revoke reaches
    /// the other replicas within it (0s..=5m).
    #[serde(with = "humantime_serde")]
    pub key_cache_ttl: Duration,
    /// Audit records kept per account (1..=1,000,000).
    pub audit_keep: usize,
    /// `switchyard up` without issuers: the development signing key (created when missing).
    /// Empty: `$XDG_STATE_HOME/switchyard/dev-signing.key` (or `~/.local/state/...`).
    pub dev_key_file: PathBuf,
    /// `switchyard up` without issuers: the account of the printed admin token and partner key.
    pub dev_account: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Required,
            issuers: Vec::new(),
            signing: SigningConfig::default(),
            key_cache_ttl: Duration::from_secs(5),
            audit_keep: 10_000,
            dev_key_file: PathBuf::new(),
            dev_account: "acme".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IssuerConfig {
    /// The `iss` claim tokens of this issuer carry.
    pub issuer: String,
    /// The `aud` claim tokens must carry.
    pub audience: String,
    pub algorithm: Algorithm,
    /// HS256: a file holding the shared secret; RS256/ES256: a PEM public key.
    pub key_file: PathBuf,
    /// Instead of `key_file`: a JWKS file (keys chosen by the token's `kid`).
    pub jwks_file: PathBuf,
    /// Clock skew allowed on `exp` and `nbf` (0s..=5m).
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: "switchyard".into(),
            algorithm: Algorithm::HS256,
            key_file: PathBuf::new(),
            jwks_file: PathBuf::new(),
            leeway: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithm: Algorithm,
    /// HS256: the shared secret file; RS256/ES256: a PEM (PKCS#8) private key.
    pub key_file: PathBuf,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            issuer: "switchyard".into(),
            audience: "switchyard".into(),
            algorithm: Algorithm::HS256,
            key_file: PathBuf::new(),
        }
    }
}

/// `[limits]`: each 0 turns that limit off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per second one account may make on one replica (burst: one second's worth).
    pub requests_per_second_per_account: u32,
    /// Requests per second one credential (token subject or partner key) may make on one replica.
    pub requests_per_second_per_credential: u32,
    /// Largest request message accepted, in bytes (1 KiB..=16 MiB).
    pub max_message_bytes: usize,
    /// Agent event streams (`Subscribe`) one agent may hold open on one replica.
    pub streams_per_agent: u32,
    /// Outbound streams one partner channel of an account may hold open on one replica.
    pub streams_per_partner_channel: u32,
    /// `OpenConversation` calls per minute for one consumer on a channel (burst: the whole
    /// minute's worth), repeats of an open included: partners that open on every inbound
    /// message (get-or-create) stay well under it. Per replica.
    pub opens_per_consumer_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            requests_per_second_per_account: 5_000,
            requests_per_second_per_credential: 2_000,
            max_message_bytes: 256 * 1024,
            streams_per_agent: 4,
            streams_per_partner_channel: 16,
            opens_per_consumer_per_minute: 60,
        }
    }
}

impl LimitsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1024..=16 * 1024 * 1024).contains(&self.max_message_bytes) {
            return Err(format!(
                "limits.max_message_bytes must be within 1024..=16777216, got {}",
                self.max_message_bytes
            ));
        }
        for (key, value) in [
            ("requests_per_second_per_account", self.requests_per_second_per_account),
            ("requests_per_second_per_credential", self.requests_per_second_per_credential),
            ("streams_per_agent", self.streams_per_agent),
            ("streams_per_partner_channel", self.streams_per_partner_channel),
            ("opens_per_consumer_per_minute", self.opens_per_consumer_per_minute),
        ] {
            if value > 1_000_000 {
                return Err(format!("limits.{key} must be within 0..=1000000, got {value}"));
            }
        }
        Ok(())
    }
}

impl AuthConfig {
    /// Checks values that need no files; `crate::Security::new` reads the files.
    pub fn validate(&self) -> Result<(), String> {
        if self.key_cache_ttl > Duration::from_secs(300) {
            return Err("auth.key_cache_ttl must be within 0s..=5m".into());
        }
        if !(1..=1_000_000).contains(&self.audit_keep) {
            return Err(format!("auth.audit_keep must be within 1..=1000000, got {}", self.audit_keep));
        }
        for (i, issuer) in self.issuers.iter().enumerate() {
            let at = format!("auth.issuers[{i}]");
            if issuer.issuer.is_empty() {
                return Err(format!("{at}.issuer must not be empty"));
            }
            if issuer.audience.is_empty() {
                return Err(format!("{at}.audience must not be empty"));
            }
            let (key, jwks) = (issuer.key_file.as_os_str().is_empty(), issuer.jwks_file.as_os_str().is_empty());
            if key == jwks {
                return Err(format!("{at}: set exactly one of key_file and jwks_file"));
            }
            if issuer.leeway > Duration::from_secs(300) {
                return Err(format!("{at}.leeway must be within 0s..=5m"));
            }
        }
        if self.dev_account.is_empty() {
            return Err("auth.dev_account must not be empty".into());
        }
        Ok(())
    }
}
