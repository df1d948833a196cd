//! Switchyard security: who is calling (bearer JWTs of people and bots, partner API keys),
//! what they may do (the one RPC x role table, enforced by one tower layer on every gRPC
//! server), how much (request rate limits), and what admins changed (the audit trail).
//! See docs/security.md.

pub mod apikey;
pub mod audit;
mod authorize;
pub mod client;
pub mod config;
pub mod jwt;
mod keys;
mod layer;
pub mod limits;
mod role;
pub mod table;
mod tokens;

use std::sync::Arc;

use switchyard_platform::{EventBus, StateStore};

pub use audit::AuditSink;
pub use config::{Algorithm, AuthConfig, AuthMode, IssuerConfig, LimitsConfig, SigningConfig};
pub use jwt::{Claims, KeyError, Signer, TokenError, Verifier};
pub use layer::AuthLayer;
pub use role::{Credential, Principal, Role};

/// Everything the auth layer needs, shared by the gRPC servers of one process.
pub struct Security {
    mode: AuthMode,
    verifier: Verifier,
    tokens: tokens::VerifiedTokens,
    keys: keys::KeyCache,
    limits: LimitsConfig,
    requests: limits::RequestLimits,
    audit: AuditSink,
}

impl Security {
    /// From the configuration; reads the issuers' key files (errors name the config key).
    pub fn new(
        auth: &AuthConfig,
        limits: &LimitsConfig,
        store: Arc<dyn StateStore>,
        bus: Arc<dyn EventBus>,
        audit_topic: String,
    ) -> Result<Self, KeyError> {
        let verifier = match auth.mode {
            AuthMode::Required => Verifier::new(&auth.issuers)?,
            AuthMode::Disabled => Verifier::default(),
        };
        Ok(Self {
            mode: auth.mode,
            verifier,
            tokens: tokens::VerifiedTokens::default(),
            keys: keys::KeyCache::new(store.clone(), auth.key_cache_ttl),
            limits: limits.clone(),
            requests: limits::RequestLimits::new(limits),
            audit: AuditSink::new(store, bus, audit_topic, auth.audit_keep),
        })
    }

    /// Authentication off (unit tests of handlers; an explicit `auth.mode = "disabled"`).
    pub fn disabled(store: Arc<dyn StateStore>, bus: Arc<dyn EventBus>, audit_topic: String) -> Self {
        let auth = AuthConfig { mode: AuthMode::Disabled, ..AuthConfig::default() };
        match Self::new(&auth, &LimitsConfig::default(), store, bus, audit_topic) {
            Ok(security) => security,
            // Disabled reads no file, so this cannot fail; keep the types honest anyway.
            Err(err) => unreachable!("disabled security needs no keys: {err}"),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub fn limits(&self) -> &LimitsConfig {
        &self.limits
    }

    /// The tower layer every gRPC server puts in front of its routes.
    pub fn layer(self: &Arc<Self>) -> AuthLayer {
        AuthLayer::new(self.clone())
    }

    /// Drops a revoked key from this replica's cache at once.
    pub fn forget_key(&self, account_id: &str, key_id: &str) {
        self.keys.forget(account_id, key_id);
    }

    pub fn audit(&self) -> &AuditSink {
        &self.audit
    }
}
