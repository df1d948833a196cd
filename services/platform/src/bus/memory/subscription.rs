//! A member of a consumer group on the in-memory bus: polling its owned partitions in turn,
//! commits, lag, and leaving the group.

use super::*;

/// A member of a consumer group on a [`MemoryBus`]. Dropping it without `close` is a crash:
/// it leaves the group and commits nothing more.
pub(super) struct MemorySubscription {
    pub(super) group: Arc<Group>,
    pub(super) id: u64,
    pub(super) notify: Arc<Notify>,
    /// Set for a `tail` reader: its group goes when it does.
    pub(super) ephemeral: Option<Arc<Inner>>,
}

impl MemorySubscription {
    /// The next record from one of the owned partitions, taking the partitions in turn.
    fn poll_one(&self) -> Result<Option<Delivery>, BusError> {
        let mut state = lock(&self.group.state);
        let member = state.members.get_mut(&self.id).ok_or(BusError::Closed)?;
        let n = member.owned.len();
        for k in 0..n {
            let i = (member.turn + k) % n;
            let owned = &mut member.owned[i];
            let Some(part) = owned.topic.partition(owned.partition) else { continue };
            let log = lock(&part.log);
            let behind = owned.cursor;
            if owned.cursor < log.start {
                owned.cursor = log.start;
            }
            let delivery = log.get(owned.cursor).map(|entry| Delivery {
                topic: owned.topic.name.clone(),
                partition: owned.partition,
                offset: owned.cursor,
                key: entry.key.clone(),
                payload: entry.payload.clone(),
                headers: entry.headers.clone(),
            });
            drop(log);
            if behind < owned.cursor {
                tracing::warn!(
                    group = %self.group.name,
                    topic = %owned.topic.name,
                    partition = owned.partition,
                    skipped = owned.cursor - behind,
                    from = behind,
                    to = owned.cursor,
                    "records were dropped by retention before the group read them; \
                     continuing at the first retained offset"
                );
            }
            if let Some(delivery) = delivery {
                owned.cursor += 1;
                member.turn = (i + 1) % n;
                return Ok(Some(delivery));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if let Some(delivery) = self.poll_one()? {
                return Ok(delivery);
            }
            // A publish or rebalance between the check and this wait leaves a permit behind.
            self.notify.notified().await;
        }
    }

    fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut state = lock(&self.group.state);
        let GroupState { members, committed } = &mut *state;
        let member = members.get(&self.id).ok_or(BusError::Closed)?;
        let owned = member
            .owned
            .iter()
            .find(|o| o.partition == delivery.partition && o.topic.name == delivery.topic)
            .ok_or_else(|| {
            BusError::Other(format!(
                "cannot commit {}/{}: the partition is not assigned to this member",
                delivery.topic, delivery.partition
            ))
        })?;
        if delivery.offset < 0 || delivery.offset >= owned.cursor {
            return Err(BusError::Other(format!(
                "cannot commit {}/{} offset {}: not delivered to this member",
                delivery.topic, delivery.partition, delivery.offset
            )));
        }
        let slots =
            committed.entry(owned.topic.name.clone()).or_insert_with(|| vec![None; owned.topic.partitions.len()]);
        if let Some(slot) = slots.get_mut(delivery.partition as usize) {
            let next = delivery.offset + 1;
            if slot.is_none_or(|c| c < next) {
                *slot = Some(next);
            }
        }
        Ok(())
    }

    fn assignment(&self) -> Vec<(String, i32)> {
        let state = lock(&self.group.state);
        let mut out: Vec<(String, i32)> = state
            .members
            .get(&self.id)
            .map(|m| m.owned.iter().map(|o| (o.topic.name.clone(), o.partition)).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    fn lag(&self) -> Vec<PartitionLag> {
        let state = lock(&self.group.state);
        let Some(member) = state.members.get(&self.id) else { return Vec::new() };
        member
            .owned
            .iter()
            .filter_map(|o| {
                let end = lock(&o.topic.partition(o.partition)?.log).len;
                Some(PartitionLag { topic: o.topic.name.clone(), partition: o.partition, position: o.cursor, end })
            })
            .collect()
    }

    async fn group_lag(&self) -> Result<Vec<PartitionLag>, BusError> {
        let state = lock(&self.group.state);
        let member = state.members.get(&self.id).ok_or(BusError::Closed)?;
        let mut out = Vec::new();
        for topic in &member.topics {
            let committed = state.committed.get(&topic.name);
            for (i, part) in topic.partitions.iter().enumerate() {
                let log = lock(&part.log);
                let position = committed.and_then(|c| c.get(i).copied().flatten()).unwrap_or(log.start);
                out.push(PartitionLag { topic: topic.name.clone(), partition: i as i32, position, end: log.len });
            }
        }
        Ok(out)
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        // Commits already took effect; leaving happens in Drop.
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        lock(&self.group.state).leave(self.id);
        if let Some(inner) = &self.ephemeral {
            lock(&inner.groups).remove(&self.group.name);
        }
    }
}
