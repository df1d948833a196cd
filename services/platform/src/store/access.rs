//! Credentials and the audit trail (`AccessStore`): partner API keys, written by the auth
//! admin RPCs and read by the authentication layer of every gRPC server, and the per-account
//! audit trail of admin changes.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// A partner API key. The secret itself is never stored: only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub account_id: String,
    pub key_id: String,
    /// A name the admin gave it (e.g. the partner's name).
    pub name: String,
    /// SHA-256 of the secret part of the key.
    pub secret_sha256: Vec<u8>,
    /// Channels (proto `Channel` values) the key may act on; empty means every channel.
    pub channels: Vec<i32>,
    pub created_at_ms: i64,
    /// The subject of the credential that created it.
    pub created_by: String,
    /// Set once, by a revoke.
    #[serde(default)]
    pub revoked_at_ms: Option<i64>,
    /// Updated at most about once a minute per key and replica.
    #[serde(default)]
    pub last_used_ms: Option<i64>,
}

/// One admin change: who made it, with which credential, what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique, time-ordered (UUID v7).
    pub event_id: String,
    pub account_id: String,
    pub at_ms: i64,
    /// The credential's subject (user id, or the partner key id).
    pub actor: String,
    /// `jwt:<issuer>` or `api-key:<key id>`.
    pub credential: String,
    pub roles: Vec<String>,
    /// The RPC, `package.Service/Method`.
    pub rpc: String,
    /// The request, as text (secrets are never part of an admin request).
    pub request: String,
}

#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// False when a key with this id already exists in the account.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError>;
    async fn api_key(&self, account_id: &str, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Every key of the account, revoked ones included, by id.
    async fn list_api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// False when the key does not exist. Revoking twice keeps the first time.
    async fn revoke_api_key(&self, account_id: &str, key_id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Records a use (no-op for a key that does not exist).
    async fn touch_api_key(&self, account_id: &str, key_id: &str, at_ms: i64) -> Result<(), StoreError>;
    /// Appends to the account's trail, keeping the newest `keep` records.
    async fn append_audit(&self, record: &AuditRecord, keep: usize) -> Result<(), StoreError>;
    /// The newest `limit` records of the account, newest first.
    async fn audit_trail(&self, account_id: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
}
