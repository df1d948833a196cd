//! Automatic messages' family in memory.

use super::*;

#[async_trait]
impl AutoMessageStore for MemoryStore {
    async fn automessages_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        Ok(match self.lock().automessages_configs.get(account_id) {
            Some((revision, doc)) => (*revision, Some(doc.clone())),
            None => (0, None),
        })
    }

    async fn automessages_config_revision(&self, account_id: &str) -> Result<u64, StoreError> {
        Ok(self.lock().automessages_configs.get(account_id).map_or(0, |(revision, _)| *revision))
    }

    async fn save_automessages_config(
        &self,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError> {
        let mut s = self.lock();
        let current = s.automessages_configs.get(account_id).map_or(0, |(revision, _)| *revision);
        if current != expected {
            return Ok(ConfigSave::Conflict { current });
        }
        s.automessages_configs.insert(account_id.to_owned(), (current + 1, doc));
        Ok(ConfigSave::Saved { revision: current + 1 })
    }

    async fn note_auto_close(
        &self,
        account_id: &str,
        consumer_id: &str,
        at_ms: i64,
        keep_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let key = k(account_id, consumer_id);
        if s.auto_closed.get(&key).is_some_and(|kept| *kept >= at_ms) {
            return Ok(());
        }
        s.auto_closed.insert(key, at_ms);
        s.expire_at(Expiry::AutoClosed(account_id.to_owned(), consumer_id.to_owned()), at_ms.saturating_add(keep_ms));
        Ok(())
    }

    async fn last_auto_close(&self, account_id: &str, consumer_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.lock().auto_closed.get(&k(account_id, consumer_id)).copied())
    }
}
