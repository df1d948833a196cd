//! Durable timers on Redis: one sorted set and one hash per shard (see the module docs).

use super::*;

impl RedisStore {
    /// The two keys of a shard: due times and payloads, sharing the shard's hash tag.
    fn timer_keys(&self, shard: &str) -> (String, String) {
        let base = format!("{}:timers:{{{}}}:", self.prefix, escape_account(shard));
        (format!("{base}due"), format!("{base}data"))
    }
}

#[async_trait]
impl TimerStore for RedisStore {
    async fn schedule_timer(&self, shard: &str, timer_id: &str, due_ms: i64, payload: Bytes) -> Result<(), StoreError> {
        let (due, data) = self.timer_keys(shard);
        let mut inv = self.scripts.timer_schedule.prepare_invoke();
        inv.key(due).key(data).arg(timer_id).arg(due_ms).arg(payload.as_ref()).arg("0");
        self.run(&inv).await.map(|_| ())
    }

    async fn schedule_timer_no_later(
        &self,
        shard: &str,
        timer_id: &str,
        due_ms: i64,
        payload: Bytes,
    ) -> Result<(), StoreError> {
        let (due, data) = self.timer_keys(shard);
        let mut inv = self.scripts.timer_schedule.prepare_invoke();
        inv.key(due).key(data).arg(timer_id).arg(due_ms).arg(payload.as_ref()).arg("1");
        self.run(&inv).await.map(|_| ())
    }

    async fn cancel_timer(&self, shard: &str, timer_id: &str) -> Result<bool, StoreError> {
        let (due, data) = self.timer_keys(shard);
        let mut inv = self.scripts.timer_cancel.prepare_invoke();
        inv.key(due).key(data).arg(timer_id);
        Ok(integer::<i64>(self.run(&inv).await?, "timer_cancel")? == 1)
    }

    async fn due_timers(
        &self,
        shard: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueTimer>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (due, data) = self.timer_keys(shard);
        let lease = now_ms + lease_ms;
        let mut inv = self.scripts.timer_due.prepare_invoke();
        inv.key(due).key(data).arg(now_ms).arg(lease).arg(limit);
        let what = "timer_due";
        let mut items = array(self.run(&inv).await?, what)?.into_iter();
        let mut out = Vec::new();
        while let Some(id) = items.next() {
            let timer_id = string(id, what)?;
            let payload = Bytes::from(bytes(next(&mut items, what)?, what)?);
            out.push(DueTimer { timer_id, payload, lease });
        }
        Ok(out)
    }

    async fn complete_timer(&self, shard: &str, timer: &DueTimer) -> Result<(), StoreError> {
        let (due, data) = self.timer_keys(shard);
        let mut inv = self.scripts.timer_complete.prepare_invoke();
        inv.key(due).key(data).arg(&timer.timer_id).arg(timer.lease);
        self.run(&inv).await.map(|_| ())
    }

    async fn earliest_timer(&self, shard: &str) -> Result<Option<i64>, StoreError> {
        let (due, _) = self.timer_keys(shard);
        let what = "earliest timer";
        let reply = array(self.query(::redis::cmd("ZRANGE").arg(due).arg(0).arg(0).arg("WITHSCORES")).await?, what)?;
        let mut items = reply.into_iter();
        match items.next() {
            None => Ok(None),
            Some(_) => Ok(Some(integral_score(&string(next(&mut items, what)?, what)?)?)),
        }
    }
}
