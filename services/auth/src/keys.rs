//! Partner key verification with a short cache: a key is read from the store at most once per
//! `auth.key_cache_ttl` per replica, and its last-used time written at most once a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_platform::store::ApiKeyRecord;
use switchyard_platform::StateStore;

use crate::apikey;
use crate::role::{Credential, Principal, Role};

/// Entries kept at most; beyond, the cache starts over (keys are few per account).
const MAX_ENTRIES: usize = 100_000;
const TOUCH_EVERY: Duration = Duration::from_secs(60);

struct Entry {
    key: ApiKeyRecord,
    read_at: Instant,
    touched_at: Option<Instant>,
}

pub(crate) struct KeyCache {
    store: Arc<dyn StateStore>,
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// Why a key was refused (UNAUTHENTICATED).
pub(crate) enum KeyRefusal {
    Unknown,
    Revoked,
    Store(String),
}

impl KeyCache {
    pub(crate) fn new(store: Arc<dyn StateStore>, ttl: Duration) -> Self {
        Self { store, ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn forget(&self, account_id: &str, key_id: &str) {
        self.entries().remove(&(account_id.to_owned(), key_id.to_owned()));
    }

    /// The partner a presented key names, if its secret matches and it is not revoked.
    pub(crate) async fn verify(&self, token: &str) -> Result<Principal, KeyRefusal> {
        let presented = apikey::parse(token).ok_or(KeyRefusal::Unknown)?;
        let id = (presented.account_id.clone(), presented.key_id.clone());
        let cached = {
            let entries = self.entries();
            entries.get(&id).filter(|e| e.read_at.elapsed() < self.ttl).map(|e| e.key.clone())
        };
        let key = match cached {
            Some(key) => key,
            None => {
                let key = self
                    .store
                    .api_key(&id.0, &id.1)
                    .await
                    .map_err(|e| KeyRefusal::Store(e.to_string()))?
                    .ok_or(KeyRefusal::Unknown)?;
                let mut entries = self.entries();
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
                let touched_at = entries.get(&id).and_then(|e| e.touched_at);
                entries.insert(id.clone(), Entry { key: key.clone(), read_at: Instant::now(), touched_at });
                key
            }
        };
        if !presented.matches(&key.secret_sha256) {
            return Err(KeyRefusal::Unknown);
        }
        if key.revoked_at_ms.is_some() {
            return Err(KeyRefusal::Revoked);
        }
        self.touch(&id);
        Ok(Principal {
            account_id: key.account_id,
            subject: key.key_id.clone(),
            roles: vec![Role::Partner],
            credential: Credential::ApiKey { key_id: key.key_id },
            channels: key.channels,
        })
    }

    /// Records the use in the background, at most once a minute per key.
    fn touch(&self, id: &(String, String)) {
        let due = {
            let mut entries = self.entries();
            match entries.get_mut(id) {
                Some(entry) if entry.touched_at.is_none_or(|t| t.elapsed() >= TOUCH_EVERY) => {
                    entry.touched_at = Some(Instant::now());
                    true
                }
                _ => false,
            }
        };
        if due {
            let (store, (account, key_id)) = (self.store.clone(), id.clone());
            tokio::spawn(async move {
                if let Err(err) = store.touch_api_key(&account, &key_id, crate::audit::now_ms()).await {
                    tracing::warn!(account = %account, key_id = %key_id, error = %err, "recording a key's last use failed");
                }
            });
        }
    }
}
