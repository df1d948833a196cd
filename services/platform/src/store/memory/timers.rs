//! Durable timers in memory (durable for the life of the process, which is the embedded
//! mode's whole world).

use super::*;

/// One shard's timers: by due time (or lease expiry, once handed out) and by id.
#[derive(Default)]
pub(super) struct Shard {
    due: BTreeSet<(i64, String)>,
    by_id: HashMap<String, (i64, Bytes)>,
}

impl Shard {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    fn set(&mut self, timer_id: &str, at: i64, payload: Bytes) {
        if let Some((old, _)) = self.by_id.insert(timer_id.to_owned(), (at, payload)) {
            self.due.remove(&(old, timer_id.to_owned()));
        }
        self.due.insert((at, timer_id.to_owned()));
    }

    fn remove(&mut self, timer_id: &str) -> bool {
        match self.by_id.remove(timer_id) {
            Some((at, _)) => {
                self.due.remove(&(at, timer_id.to_owned()));
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl TimerStore for MemoryStore {
    async fn schedule_timer(&self, shard: &str, timer_id: &str, due_ms: i64, payload: Bytes) -> Result<(), StoreError> {
        self.lock().timers.entry(shard.to_owned()).or_default().set(timer_id, due_ms, payload);
        Ok(())
    }

    async fn schedule_timer_no_later(
        &self,
        shard: &str,
        timer_id: &str,
        due_ms: i64,
        payload: Bytes,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let timers = s.timers.entry(shard.to_owned()).or_default();
        if timers.by_id.get(timer_id).is_none_or(|(at, _)| *at > due_ms) {
            timers.set(timer_id, due_ms, payload);
        }
        Ok(())
    }

    async fn cancel_timer(&self, shard: &str, timer_id: &str) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(timers) = s.timers.get_mut(shard) else { return Ok(false) };
        let existed = timers.remove(timer_id);
        if timers.len() == 0 {
            s.timers.remove(shard);
        }
        Ok(existed)
    }

    async fn due_timers(
        &self,
        shard: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueTimer>, StoreError> {
        let mut s = self.lock();
        let Some(timers) = s.timers.get_mut(shard) else { return Ok(Vec::new()) };
        let due: Vec<String> =
            timers.due.iter().take_while(|(at, _)| *at <= now_ms).take(limit).map(|(_, id)| id.clone()).collect();
        let lease = now_ms + lease_ms;
        let mut out = Vec::with_capacity(due.len());
        for timer_id in due {
            let payload = timers.by_id.get(&timer_id).map(|(_, p)| p.clone()).unwrap_or_default();
            timers.set(&timer_id, lease, payload.clone());
            out.push(DueTimer { timer_id, payload, lease });
        }
        Ok(out)
    }

    async fn complete_timer(&self, shard: &str, timer: &DueTimer) -> Result<(), StoreError> {
        let mut s = self.lock();
        let Some(timers) = s.timers.get_mut(shard) else { return Ok(()) };
        if timers.by_id.get(&timer.timer_id).is_some_and(|(at, _)| *at == timer.lease) {
            timers.remove(&timer.timer_id);
        }
        if timers.len() == 0 {
            s.timers.remove(shard);
        }
        Ok(())
    }

    async fn earliest_timer(&self, shard: &str) -> Result<Option<i64>, StoreError> {
        let s = self.lock();
        Ok(s.timers.get(shard).and_then(|timers| timers.due.first().map(|(at, _)| *at)))
    }
}
