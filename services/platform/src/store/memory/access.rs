//! In-memory `AccessStore`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{AccessStore, ApiKeyRecord, AuditRecord, StoreError};

#[derive(Default)]
pub(super) struct AccessState {
    /// account -> key id -> key
    keys: HashMap<String, BTreeMap<String, ApiKeyRecord>>,
    /// account -> newest first
    audit: HashMap<String, VecDeque<AuditRecord>>,
}

impl MemoryStore {
    fn access(&self) -> std::sync::MutexGuard<'_, AccessState> {
        self.access.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl AccessStore for MemoryStore {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let mut state = self.access();
        let keys = state.keys.entry(key.account_id.clone()).or_default();
        if keys.contains_key(&key.key_id) {
            return Ok(false);
        }
        keys.insert(key.key_id.clone(), key.clone());
        Ok(true)
    }

    async fn api_key(&self, account_id: &str, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.access().keys.get(account_id).and_then(|keys| keys.get(key_id)).cloned())
    }

    async fn list_api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        Ok(self.access().keys.get(account_id).map(|keys| keys.values().cloned().collect()).unwrap_or_default())
    }

    async fn revoke_api_key(&self, account_id: &str, key_id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let mut state = self.access();
        match state.keys.get_mut(account_id).and_then(|keys| keys.get_mut(key_id)) {
            Some(key) => {
                key.revoked_at_ms.get_or_insert(at_ms);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn touch_api_key(&self, account_id: &str, key_id: &str, at_ms: i64) -> Result<(), StoreError> {
        if let Some(key) = self.access().keys.get_mut(account_id).and_then(|keys| keys.get_mut(key_id)) {
            key.last_used_ms = Some(key.last_used_ms.map_or(at_ms, |t| t.max(at_ms)));
        }
        Ok(())
    }

    async fn append_audit(&self, record: &AuditRecord, keep: usize) -> Result<(), StoreError> {
        let mut state = self.access();
        let trail = state.audit.entry(record.account_id.clone()).or_default();
        trail.push_front(record.clone());
        trail.truncate(keep.max(1));
        Ok(())
    }

    async fn audit_trail(&self, account_id: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.access().audit.get(account_id).map(|t| t.iter().take(limit).cloned().collect()).unwrap_or_default())
    }
}
