//! Conversations, transcripts and partner outboxes (connectors), in memory.

use super::*;

/// The conversation's turn and last message times after `message` (R9.2).
fn note_message(rec: &mut ConversationRecord, message: &NewMessage) {
    let Some(pending) = rules::pending_after_message(message.from) else { return };
    // Pending agent: the consumer wrote; pending consumer: an agent wrote.
    match pending {
        PendingSide::Agent => {
            if rec.pending != PendingSide::Agent {
                rec.waiting_since_ms = message.sent_at_ms;
            }
            rec.last_consumer_message_ms = message.sent_at_ms
        }
        PendingSide::Consumer => rec.last_agent_message_ms = message.sent_at_ms,
        PendingSide::Newer => {}
    }
    rec.pending = pending;
}

#[async_trait]
impl ConversationStore for MemoryStore {
    async fn open_conversation(&self, account_id: &str, new: &NewConversation) -> Result<OpenOutcome, StoreError> {
        let mut s = self.lock();
        s.expire(new.opened_at_ms);
        let dedupe_key: OpenKey =
            (account_id.to_owned(), new.channel, new.consumer_id.clone(), new.partner_message_id.clone());
        let remember = |s: &mut State, conversation: &str| {
            if !new.partner_message_id.is_empty() {
                s.open_dedupe.insert(dedupe_key.clone(), conversation.to_owned());
                s.expire_at(Expiry::OpenDedupe(dedupe_key.clone()), new.opened_at_ms + self.retention.dedupe_ms);
            }
        };
        if !new.partner_message_id.is_empty() {
            if let Some(existing) = s.open_dedupe.get(&dedupe_key) {
                if let Some(rec) = s.conversations.get(&k(account_id, existing)) {
                    return Ok(OpenOutcome::Existing(rec.clone()));
                }
            }
        }
        if let Some(existing) = s.open_by_consumer.get(&k(account_id, &new.consumer_id)).cloned() {
            if let Some(rec) = s.conversations.get(&k(account_id, &existing)).cloned() {
                remember(&mut s, &existing);
                return Ok(OpenOutcome::Existing(rec));
            }
        }
        let rec = ConversationRecord {
            conversation_id: new.conversation_id.clone(),
            consumer_id: new.consumer_id.clone(),
            channel: new.channel,
            skill_id: new.skill_id.clone(),
            language: new.language.clone(),
            status: ConversationStatus::Open,
            opened_at_ms: new.opened_at_ms,
            closed_at_ms: 0,
            pending: PendingSide::Agent,
            last_consumer_message_ms: 0,
            last_agent_message_ms: 0,
            waiting_since_ms: new.opened_at_ms,
            readers: Vec::new(),
            managers: Vec::new(),
            profile: new.profile.clone(),
            skill_reason: new.skill_reason.clone(),
            skill_detail: new.skill_detail.clone(),
            // R10.2: not seen within the consumer memory.
            first_conversation: !s.consumers_seen.contains_key(&k(account_id, &new.consumer_id)),
        };
        let seen = k(account_id, &new.consumer_id);
        s.consumers_seen.insert(seen.clone(), new.opened_at_ms);
        s.expire_at(Expiry::ConsumerSeen(seen.0, seen.1), new.opened_at_ms + self.retention.consumer_ms);
        s.conversations.insert(k(account_id, &new.conversation_id), rec.clone());
        s.open_by_consumer.insert(k(account_id, &new.consumer_id), new.conversation_id.clone());
        remember(&mut s, &new.conversation_id);
        Ok(OpenOutcome::Created(rec))
    }

    async fn get_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        Ok(self.lock().conversations.get(&k(account_id, conversation_id)).cloned())
    }

    async fn append_message(
        &self,
        account_id: &str,
        conversation_id: &str,
        message: &NewMessage,
        outbox: Option<&OutboxWrite>,
    ) -> Result<AppendOutcome, StoreError> {
        let mut s = self.lock();
        s.expire(message.sent_at_ms);
        let key = k(account_id, conversation_id);
        let Some(rec) = s.conversations.get(&key).cloned() else {
            return Ok(AppendOutcome::NotFound);
        };
        if !message.dedupe_id.is_empty() {
            let seen = s.message_dedupe.get(&key).and_then(|d| d.get(&message.dedupe_id)).copied();
            let found = seen.and_then(|seq| s.transcripts.get(&key).and_then(|t| t.get(seq as usize - 1)).cloned());
            if let Some(found) = found {
                return Ok(AppendOutcome::Duplicate(found));
            }
        }
        match rec.status {
            ConversationStatus::Closed => return Ok(AppendOutcome::Closed),
            ConversationStatus::Newer => return Ok(AppendOutcome::NewerState),
            ConversationStatus::Open => {}
        }
        let held = s.transcripts.get(&key).map_or(0, Vec::len) as u64;
        if message.max_messages > 0 && held >= message.max_messages {
            return Ok(AppendOutcome::TooManyMessages { limit: message.max_messages });
        }
        if let Some(per_minute) = message.consumer_rate_per_minute {
            let rate_key: ConsumerKey = (account_id.to_owned(), rec.channel, rec.consumer_id.clone());
            match consumer_rate(s.consumer_rates.get(&rate_key).copied(), message.sent_at_ms, per_minute) {
                Ok(tat) => {
                    s.consumer_rates.insert(rate_key.clone(), tat);
                    s.expire_at(Expiry::Rate(rate_key), tat.div_euclid(1000) + 1);
                }
                Err(retry_after_ms) => return Ok(AppendOutcome::RateLimited { retry_after_ms }),
            }
        }
        let transcript = s.transcripts.entry(key.clone()).or_default();
        let stored = StoredMessage {
            sequence: transcript.len() as u64 + 1,
            from: message.from,
            sender_id: message.sender_id.clone(),
            text: message.text.clone(),
            sent_at_ms: message.sent_at_ms,
        };
        transcript.push(stored.clone());
        if !message.dedupe_id.is_empty() {
            s.message_dedupe.entry(key.clone()).or_default().insert(message.dedupe_id.clone(), stored.sequence);
        }
        if let Some(rec) = s.conversations.get_mut(&key) {
            note_message(rec, message);
        }
        if let Some(write) = outbox {
            let entries = s.outboxes.entry((account_id.to_owned(), write.channel)).or_default();
            entries.push(write.payload.clone(), stored.sequence, "");
        }
        Ok(AppendOutcome::Appended(stored))
    }

    async fn set_participant(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        role: Option<ParticipantRole>,
    ) -> Result<ParticipantOutcome, StoreError> {
        let mut s = self.lock();
        let Some(rec) = s.conversations.get_mut(&k(account_id, conversation_id)) else {
            return Ok(ParticipantOutcome::NotFound);
        };
        if rec.status != ConversationStatus::Open {
            return Ok(ParticipantOutcome::NotOpen);
        }
        let before = (rec.readers.clone(), rec.managers.clone());
        rec.readers.retain(|a| a != agent_id);
        rec.managers.retain(|a| a != agent_id);
        if let Some(role) = role {
            let list = match role {
                ParticipantRole::Reader => &mut rec.readers,
                ParticipantRole::Manager => &mut rec.managers,
            };
            list.push(agent_id.to_owned());
            list.sort();
        }
        Ok(if before == (rec.readers.clone(), rec.managers.clone()) {
            ParticipantOutcome::Unchanged
        } else {
            ParticipantOutcome::Changed
        })
    }

    async fn transcript_page(
        &self,
        account_id: &str,
        conversation_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let s = self.lock();
        let Some(transcript) = s.transcripts.get(&k(account_id, conversation_id)) else { return Ok(Vec::new()) };
        let start = usize::try_from(after).unwrap_or(usize::MAX).min(transcript.len());
        Ok(transcript[start..].iter().take(limit).cloned().collect())
    }

    async fn transcript_tail(
        &self,
        account_id: &str,
        conversation_id: &str,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, u64), StoreError> {
        let s = self.lock();
        let Some(transcript) = s.transcripts.get(&k(account_id, conversation_id)) else {
            return Ok((Vec::new(), 0));
        };
        let start = transcript.len().saturating_sub(limit);
        Ok((transcript[start..].to_vec(), transcript.len() as u64))
    }

    async fn close_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
        outbox: Option<&OutboxWrite>,
    ) -> Result<CloseOutcome, StoreError> {
        let mut s = self.lock();
        s.expire(now_ms);
        let key = k(account_id, conversation_id);
        let Some(rec) = s.conversations.get_mut(&key) else {
            return Ok(CloseOutcome::NotFound);
        };
        match rec.status {
            ConversationStatus::Closed => return Ok(CloseOutcome::AlreadyClosed(rec.clone())),
            ConversationStatus::Newer => return Ok(CloseOutcome::NewerState),
            ConversationStatus::Open => {}
        }
        rec.status = ConversationStatus::Closed;
        rec.closed_at_ms = now_ms;
        let rec = rec.clone();
        let consumer_key = k(account_id, &rec.consumer_id);
        if s.open_by_consumer.get(&consumer_key) == Some(&rec.conversation_id) {
            s.open_by_consumer.remove(&consumer_key);
        }
        s.expire_at(Expiry::Conversation(key.0, key.1), now_ms + self.retention.closed_ms);
        if let Some(write) = outbox {
            s.outboxes.entry((account_id.to_owned(), write.channel)).or_default().push(write.payload.clone(), 0, "");
        }
        Ok(CloseOutcome::Closed(rec))
    }

    async fn outbox_append(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: &str,
        open_conversation: &str,
        payload: Bytes,
    ) -> Result<OutboxAppend, StoreError> {
        let mut s = self.lock();
        let key = (account_id.to_owned(), channel);
        // An empty dedupe id means "none" (as for messages): it never dedupes.
        if let Some(seq) = s.outboxes.get(&key).and_then(|o| o.seen.get(dedupe_id)).filter(|_| !dedupe_id.is_empty()) {
            return Ok(OutboxAppend::Duplicate(*seq));
        }
        if open_conversation.is_empty() {
            return Ok(OutboxAppend::Appended(s.outboxes.entry(key).or_default().push(payload, 0, dedupe_id)));
        }
        let conversation = k(account_id, open_conversation);
        if let Some(seq) =
            s.outbox_once.get(&conversation).and_then(|o| o.get(dedupe_id)).filter(|_| !dedupe_id.is_empty())
        {
            return Ok(OutboxAppend::Duplicate(*seq));
        }
        if !s.conversations.get(&conversation).is_some_and(|c| c.status == ConversationStatus::Open) {
            return Ok(OutboxAppend::NotOpen);
        }
        let sequence = s.outboxes.entry(key).or_default().push(payload, 0, dedupe_id);
        if !dedupe_id.is_empty() {
            s.outbox_once.entry(conversation).or_default().insert(dedupe_id.to_owned(), sequence);
        }
        Ok(OutboxAppend::Appended(sequence))
    }

    async fn outbox_read(
        &self,
        account_id: &str,
        channel: i32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let s = self.lock();
        let Some(outbox) = s.outboxes.get(&(account_id.to_owned(), channel)) else {
            return Ok(Vec::new());
        };
        Ok(outbox
            .entries
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(seq, (payload, message_sequence))| OutboxEntry {
                sequence: *seq,
                payload: payload.clone(),
                message_sequence: *message_sequence,
            })
            .collect())
    }

    async fn outbox_delivered(&self, account_id: &str, channel: i32, sequence: u64) -> Result<(), StoreError> {
        let mut s = self.lock();
        if let Some(outbox) = s.outboxes.get_mut(&(account_id.to_owned(), channel)) {
            outbox.delivered = outbox.delivered.max(sequence.min(outbox.next));
        }
        Ok(())
    }

    async fn outbox_ack(&self, account_id: &str, channel: i32, sequence: u64) -> Result<AckOutcome, StoreError> {
        let mut s = self.lock();
        let Some(outbox) = s.outboxes.get_mut(&(account_id.to_owned(), channel)) else {
            return Ok(AckOutcome::NotDelivered { delivered: 0 });
        };
        if sequence > outbox.delivered {
            return Ok(AckOutcome::NotDelivered { delivered: outbox.delivered });
        }
        if sequence > outbox.acked {
            outbox.acked = sequence;
            outbox.entries = outbox.entries.split_off(&(sequence + 1));
            let kept = outbox.seen_by_sequence.split_off(&(sequence + 1));
            for dedupe_id in std::mem::replace(&mut outbox.seen_by_sequence, kept).into_values() {
                outbox.seen.remove(&dedupe_id);
            }
        }
        Ok(AckOutcome::Acked)
    }

    async fn outbox_acked(&self, account_id: &str, channel: i32) -> Result<u64, StoreError> {
        Ok(self.lock().outboxes.get(&(account_id.to_owned(), channel)).map(|o| o.acked).unwrap_or(0))
    }
}
