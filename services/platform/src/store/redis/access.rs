//! `AccessStore` on Redis. A key is the hash `{account}:apikey:<id>` (field `record`: the
//! immutable part as JSON; `revoked_at_ms`, `last_used_ms`), listed by the set
//! `{account}:apikeys`; the audit trail is the capped list `{account}:audit` (JSON, newest
//! first). Keys are never deleted, so the read-then-write pairs below cannot race a delete.

use async_trait::async_trait;

use super::*;

const RECORD: &str = "record";
const REVOKED: &str = "revoked_at_ms";
const LAST_USED: &str = "last_used_ms";

impl RedisStore {
    async fn key_exists(&self, account_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let reply = self.query(::redis::cmd("EXISTS").arg(self.key(account_id, "apikey", key_id))).await?;
        Ok(integer::<i64>(reply, "EXISTS")? == 1)
    }
}

fn decode_key(fields: Fields) -> Result<Option<ApiKeyRecord>, StoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mut key: ApiKeyRecord =
        serde_json::from_str(&fields.str(RECORD)?).map_err(|e| corrupt(format!("api key record: {e}")))?;
    key.revoked_at_ms = if fields.has(REVOKED) { Some(fields.num(REVOKED)?) } else { None };
    key.last_used_ms = if fields.has(LAST_USED) { Some(fields.num(LAST_USED)?) } else { None };
    Ok(Some(key))
}

#[async_trait]
impl AccessStore for RedisStore {
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let immutable = ApiKeyRecord { revoked_at_ms: None, last_used_ms: None, ..key.clone() };
        let json = serde_json::to_string(&immutable).map_err(|e| corrupt(format!("api key record: {e}")))?;
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        pipe.cmd("HSETNX").arg(self.key(&key.account_id, "apikey", &key.key_id)).arg(RECORD).arg(json);
        pipe.cmd("SADD").arg(self.akey(&key.account_id, "apikeys")).arg(&key.key_id);
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        Ok(integer::<i64>(next(&mut replies, "HSETNX")?, "HSETNX")? == 1)
    }

    async fn api_key(&self, account_id: &str, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let reply = self.query(::redis::cmd("HGETALL").arg(self.key(account_id, "apikey", key_id))).await?;
        decode_key(Fields::new(reply, "api key")?)
    }

    async fn list_api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.akey(account_id, "apikeys"))).await?;
        let mut ids =
            array(reply, "SMEMBERS")?.into_iter().map(|v| string(v, "api key id")).collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        let mut keys = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(key) = self.api_key(account_id, &id).await? {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    async fn revoke_api_key(&self, account_id: &str, key_id: &str, at_ms: i64) -> Result<bool, StoreError> {
        if !self.key_exists(account_id, key_id).await? {
            return Ok(false);
        }
        self.query(::redis::cmd("HSETNX").arg(self.key(account_id, "apikey", key_id)).arg(REVOKED).arg(at_ms)).await?;
        Ok(true)
    }

    async fn touch_api_key(&self, account_id: &str, key_id: &str, at_ms: i64) -> Result<(), StoreError> {
        if self.key_exists(account_id, key_id).await? {
            self.query(::redis::cmd("HSET").arg(self.key(account_id, "apikey", key_id)).arg(LAST_USED).arg(at_ms))
                .await?;
        }
        Ok(())
    }

    async fn append_audit(&self, record: &AuditRecord, keep: usize) -> Result<(), StoreError> {
        let json = serde_json::to_string(record).map_err(|e| corrupt(format!("audit record: {e}")))?;
        let key = self.akey(&record.account_id, "audit");
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        pipe.cmd("LPUSH").arg(&key).arg(json);
        pipe.cmd("LTRIM").arg(&key).arg(0).arg(keep.max(1) as i64 - 1);
        self.query_pipe(&pipe).await.map(|_| ())
    }

    async fn audit_trail(&self, account_id: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reply =
            self.query(::redis::cmd("LRANGE").arg(self.akey(account_id, "audit")).arg(0).arg(limit as i64 - 1)).await?;
        array(reply, "LRANGE")?
            .into_iter()
            .map(|v| {
                let text = string(v, "audit record")?;
                serde_json::from_str(&text).map_err(|e| corrupt(format!("audit record: {e}")))
            })
            .collect()
    }
}
