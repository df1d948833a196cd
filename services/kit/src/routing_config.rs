//! Every process's copy of the accounts' configuration documents (the routing configuration,
//! `switchyard-routing`; the automatic-message settings), read from the store and kept
//! current cheaply: a copy younger than the refresh period is used as it is, an older one is
//! checked by reading only the stored revision, and the document is read again only when the
//! revision moved. A change saved through this process is seen at once; one saved elsewhere
//! within the refresh period (`router.config_refresh`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use switchyard_platform::store::{ConfigSave, StateStore, StoreError};
use switchyard_routing::RoutingConfig;
use tokio::time::Instant;

use crate::ServiceError;

/// The default refresh period.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(1);

/// A per-account configuration document: where the store keeps it and how it is encoded.
#[async_trait]
pub trait Document: Default + Clone + Send + Sync + 'static {
    /// What it is, for error messages.
    const NAME: &'static str;
    fn decode(doc: &[u8]) -> Result<Self, String>;
    fn encode(&self) -> Result<Vec<u8>, String>;
    async fn load(store: &dyn StateStore, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError>;
    async fn revision(store: &dyn StateStore, account_id: &str) -> Result<u64, StoreError>;
    async fn store(
        store: &dyn StateStore,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError>;
}

#[async_trait]
impl Document for RoutingConfig {
    const NAME: &'static str = "routing configuration";
    fn decode(doc: &[u8]) -> Result<Self, String> {
        RoutingConfig::from_json(doc).map_err(|e| e.to_string())
    }
    fn encode(&self) -> Result<Vec<u8>, String> {
        self.to_json().map_err(|e| e.to_string())
    }
    async fn load(store: &dyn StateStore, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        store.routing_config(account_id).await
    }
    async fn revision(store: &dyn StateStore, account_id: &str) -> Result<u64, StoreError> {
        store.routing_config_revision(account_id).await
    }
    async fn store(
        store: &dyn StateStore,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError> {
        store.save_routing_config(account_id, expected, doc).await
    }
}

/// The accounts' routing configurations.
pub type RoutingConfigs = Configs<RoutingConfig>;

pub struct Configs<D: Document> {
    store: Arc<dyn StateStore>,
    refresh: Duration,
    copies: Mutex<HashMap<String, Copy<D>>>,
}

struct Copy<D> {
    revision: u64,
    config: Arc<D>,
    checked: Instant,
}

impl<D> Clone for Copy<D> {
    fn clone(&self) -> Self {
        Self { revision: self.revision, config: self.config.clone(), checked: self.checked }
    }
}

/// A configuration as read for a change: the revision to save over, and the document.
pub struct Editable<D> {
    pub revision: u64,
    pub config: D,
}

impl<D: Document> Configs<D> {
    pub fn new(store: Arc<dyn StateStore>, refresh: Duration) -> Self {
        Self { store, refresh, copies: Mutex::new(HashMap::new()) }
    }

    fn copy(&self, account_id: &str) -> Option<Copy<D>> {
        self.copies.lock().unwrap_or_else(|e| e.into_inner()).get(account_id).cloned()
    }

    fn keep(&self, account_id: &str, revision: u64, config: Arc<D>) {
        let copy = Copy { revision, config, checked: Instant::now() };
        self.copies.lock().unwrap_or_else(|e| e.into_inner()).insert(account_id.to_owned(), copy);
    }

    /// The account's configuration (the defaults when none was saved).
    pub async fn get(&self, account_id: &str) -> Result<Arc<D>, ServiceError> {
        let cached = self.copy(account_id);
        if let Some(copy) = &cached {
            if copy.checked.elapsed() < self.refresh {
                return Ok(copy.config.clone());
            }
            if D::revision(&*self.store, account_id).await? == copy.revision {
                self.keep(account_id, copy.revision, copy.config.clone());
                return Ok(copy.config.clone());
            }
        }
        let fresh = self.read(account_id).await?;
        let config = Arc::new(fresh.config);
        self.keep(account_id, fresh.revision, config.clone());
        Ok(config)
    }

    /// The stored configuration and its revision, read now (for a change).
    pub async fn read(&self, account_id: &str) -> Result<Editable<D>, ServiceError> {
        let (revision, doc) = D::load(&*self.store, account_id).await?;
        let config = match doc {
            None => D::default(),
            Some(doc) => D::decode(&doc)
                .map_err(|err| ServiceError::Corrupt(format!("{} of account {account_id}: {err}", D::NAME)))?,
        };
        Ok(Editable { revision, config })
    }

    /// Saves `config` over `revision`; this process's copy is the new one at once. None when
    /// another change was saved first.
    pub async fn save(&self, account_id: &str, revision: u64, config: D) -> Result<Option<u64>, ServiceError> {
        let doc =
            config.encode().map_err(|err| ServiceError::Internal(format!("{} does not serialize: {err}", D::NAME)))?;
        match D::store(&*self.store, account_id, revision, Bytes::from(doc)).await? {
            ConfigSave::Saved { revision } => {
                self.keep(account_id, revision, Arc::new(config));
                Ok(Some(revision))
            }
            ConfigSave::Conflict { .. } => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchyard_platform::store::MemoryStore;
    use switchyard_routing::AcdMode;

    #[tokio::test(start_paused = true)]
    async fn a_change_saved_elsewhere_is_seen_after_the_refresh_period() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let (here, elsewhere) =
            (RoutingConfigs::new(store.clone(), DEFAULT_REFRESH), RoutingConfigs::new(store, DEFAULT_REFRESH));
        assert_eq!(*here.get("acme").await.unwrap(), RoutingConfig::default());
        let mut changed = RoutingConfig::default();
        changed.account.acd_mode = AcdMode::RingOne;
        assert_eq!(elsewhere.save("acme", 0, changed.clone()).await.unwrap(), Some(1));
        // Seen at once where it was saved, after the refresh period elsewhere.
        assert_eq!(*elsewhere.get("acme").await.unwrap(), changed);
        assert_eq!(*here.get("acme").await.unwrap(), RoutingConfig::default());
        tokio::time::advance(DEFAULT_REFRESH).await;
        assert_eq!(*here.get("acme").await.unwrap(), changed);
        // A save over a stale revision is refused.
        assert_eq!(here.save("acme", 0, RoutingConfig::default()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unreadable_document_is_corrupt_not_a_panic() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        store.save_routing_config("acme", 0, Bytes::from_static(b"not json")).await.unwrap();
        let configs = RoutingConfigs::new(store, DEFAULT_REFRESH);
        assert!(matches!(configs.get("acme").await, Err(ServiceError::Corrupt(_))));
    }
}
