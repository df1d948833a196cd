//! Automatic messages' family on Redis: the settings document and the consumers' last auto
//! close (R14.16), a string per consumer that expires by itself.

use super::routing_config::AUTOMESSAGES_CONFIG;
use super::*;

#[async_trait]
impl AutoMessageStore for RedisStore {
    async fn automessages_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        self.read_config_doc(account_id, AUTOMESSAGES_CONFIG).await
    }

    async fn automessages_config_revision(&self, account_id: &str) -> Result<u64, StoreError> {
        self.read_config_revision(account_id, AUTOMESSAGES_CONFIG).await
    }

    async fn save_automessages_config(
        &self,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError> {
        self.run_save_config(account_id, AUTOMESSAGES_CONFIG, expected, doc).await
    }

    async fn note_auto_close(
        &self,
        account_id: &str,
        consumer_id: &str,
        at_ms: i64,
        keep_ms: i64,
    ) -> Result<(), StoreError> {
        // A later close wins: an older redelivered one must not shorten the quiet period.
        let key = self.key(account_id, "am-autoclosed", consumer_id);
        let current = optional_bytes(self.query(::redis::cmd("GET").arg(&key)).await?, "last auto close")?;
        if let Some(current) = current {
            if parse::<i64>(&String::from_utf8_lossy(&current), "last auto close")? >= at_ms {
                return Ok(());
            }
        }
        self.query(::redis::cmd("SET").arg(&key).arg(at_ms).arg("PX").arg(keep_ms.max(1))).await?;
        Ok(())
    }

    async fn last_auto_close(&self, account_id: &str, consumer_id: &str) -> Result<Option<i64>, StoreError> {
        let key = self.key(account_id, "am-autoclosed", consumer_id);
        match optional_bytes(self.query(::redis::cmd("GET").arg(&key)).await?, "last auto close")? {
            Some(at) => Ok(Some(parse::<i64>(&String::from_utf8_lossy(&at), "last auto close")?)),
            None => Ok(None),
        }
    }
}
