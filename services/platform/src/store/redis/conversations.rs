//! Conversations, transcripts and partner outboxes on Redis.

use super::*;

impl RedisStore {
    /// `<channel>|<consumer>[|<id>]`: ids never contain `|`, so no two tuples share a name.
    fn consumer_scoped(channel: i32, consumer: &str, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{channel}|{consumer}|{id}"),
            None => format!("{channel}|{consumer}"),
        }
    }

    /// The outbox keys and payload a script appends an entry with (after its own arguments).
    fn outbox_keys(&self, inv: &mut ScriptInvocation<'_>, account_id: &str, write: &OutboxWrite) {
        let channel = write.channel.to_string();
        inv.key(self.key(account_id, "outbox-meta", &channel))
            .key(self.key(account_id, "outbox", &channel))
            .arg(write.payload.as_ref());
    }

    fn decode_messages(&self, reply: Value, first_sequence: u64, what: &str) -> Result<Vec<StoredMessage>, StoreError> {
        array(reply, what)?
            .into_iter()
            .zip(first_sequence..)
            .map(|(raw, sequence)| decode_message(sequence, &bytes(raw, what)?))
            .collect()
    }
}

#[async_trait]
impl ConversationStore for RedisStore {
    async fn open_conversation(&self, account_id: &str, new: &NewConversation) -> Result<OpenOutcome, StoreError> {
        let dedupe = Self::consumer_scoped(new.channel, &new.consumer_id, Some(new.partner_message_id.as_str()));
        let mut inv = self.scripts.open_conversation.prepare_invoke();
        inv.key(self.key(account_id, "open-dedupe", &dedupe))
            .key(self.akey(account_id, "consumer-open"))
            .key(self.key(account_id, "conv", &new.conversation_id))
            .key(self.key(account_id, "consumer-seen", &new.consumer_id))
            .arg(self.base(account_id))
            .arg(&new.partner_message_id)
            .arg(&new.consumer_id)
            .arg(&new.conversation_id)
            .arg(new.channel)
            .arg(&new.skill_id)
            .arg(&new.language)
            .arg(new.opened_at_ms)
            .arg(self.retention.dedupe_ms)
            .arg(encode_profile(&new.profile)?)
            .arg(self.retention.consumer_ms)
            .arg(&new.skill_reason)
            .arg(&new.skill_detail);
        let what = "open_conversation";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "created" => Ok(OpenOutcome::Created(ConversationRecord {
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
                first_conversation: string(next(&mut rest, what)?, what)? == "1",
            })),
            "existing" => {
                let id = string(next(&mut rest, what)?, what)?;
                Ok(OpenOutcome::Existing(decode_conversation(&id, next(&mut rest, what)?)?))
            }
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn get_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        let reply = self.query(::redis::cmd("HGETALL").arg(self.key(account_id, "conv", conversation_id))).await?;
        if matches!(&reply, Value::Array(a) if a.is_empty()) || matches!(&reply, Value::Map(m) if m.is_empty()) {
            return Ok(None);
        }
        decode_conversation(conversation_id, reply).map(Some)
    }

    async fn append_message(
        &self,
        account_id: &str,
        conversation_id: &str,
        message: &NewMessage,
        outbox: Option<&OutboxWrite>,
    ) -> Result<AppendOutcome, StoreError> {
        let rate = message.consumer_rate_per_minute.map(|r| r.to_string()).unwrap_or_default();
        let mut inv = self.scripts.append_message.prepare_invoke();
        inv.key(self.key(account_id, "conv", conversation_id))
            .key(self.key(account_id, "transcript", conversation_id))
            .key(self.key(account_id, "msg-dedupe", conversation_id))
            .arg(self.base(account_id))
            .arg(&message.dedupe_id)
            .arg(encode_message(message))
            .arg(message.max_messages)
            .arg(rate)
            .arg(message.sent_at_ms);
        match outbox {
            Some(write) => self.outbox_keys(&mut inv, account_id, write),
            None => {
                inv.arg("");
            }
        }
        // R9.2 (rules.rs): whose turn it is after this message, and its writer's time field.
        let (pending, last_field) = match rules::pending_after_message(message.from) {
            Some(PendingSide::Agent) => ("agent", "last_consumer_msg"),
            Some(PendingSide::Consumer) => ("consumer", "last_agent_msg"),
            _ => ("", ""),
        };
        inv.arg(pending).arg(last_field);
        let what = "append_message";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "notfound" => Ok(AppendOutcome::NotFound),
            "closed" => Ok(AppendOutcome::Closed),
            "appended" => Ok(AppendOutcome::Appended(StoredMessage {
                sequence: integer(next(&mut rest, what)?, what)?,
                from: message.from,
                sender_id: message.sender_id.clone(),
                text: message.text.clone(),
                sent_at_ms: message.sent_at_ms,
            })),
            "duplicate" => {
                let sequence = integer(next(&mut rest, what)?, what)?;
                let raw = bytes(next(&mut rest, what)?, what)?;
                Ok(AppendOutcome::Duplicate(decode_message(sequence, &raw)?))
            }
            "too_many" => Ok(AppendOutcome::TooManyMessages { limit: integer(next(&mut rest, what)?, what)? }),
            "rate_limited" => Ok(AppendOutcome::RateLimited { retry_after_ms: integer(next(&mut rest, what)?, what)? }),
            "newer" => Ok(AppendOutcome::NewerState),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn set_participant(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        role: Option<ParticipantRole>,
    ) -> Result<ParticipantOutcome, StoreError> {
        let mut inv = self.scripts.set_participant.prepare_invoke();
        inv.key(self.key(account_id, "conv", conversation_id))
            .arg(self.base(account_id))
            .arg(agent_id)
            .arg(role.map_or("", ParticipantRole::field));
        match string(self.run(&inv).await?, "set_participant")?.as_str() {
            "changed" => Ok(ParticipantOutcome::Changed),
            "unchanged" => Ok(ParticipantOutcome::Unchanged),
            "notfound" => Ok(ParticipantOutcome::NotFound),
            "not_open" => Ok(ParticipantOutcome::NotOpen),
            other => Err(corrupt(format!("set_participant: unexpected outcome {other:?}"))),
        }
    }

    async fn transcript_page(
        &self,
        account_id: &str,
        conversation_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        // A list index is at most i64::MAX: nothing lies beyond.
        let Ok(start) = i64::try_from(after) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stop = start.saturating_add(i64::try_from(limit).unwrap_or(i64::MAX) - 1);
        let reply = self
            .query(::redis::cmd("LRANGE").arg(self.key(account_id, "transcript", conversation_id)).arg(start).arg(stop))
            .await?;
        self.decode_messages(reply, after + 1, "transcript page")
    }

    async fn transcript_tail(
        &self,
        account_id: &str,
        conversation_id: &str,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, u64), StoreError> {
        let key = self.key(account_id, "transcript", conversation_id);
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        pipe.cmd("LLEN").arg(&key);
        if limit > 0 {
            let from = -i64::try_from(limit).unwrap_or(i64::MAX);
            pipe.cmd("LRANGE").arg(&key).arg(from).arg(-1);
        }
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        let total: u64 = integer(next(&mut replies, "transcript length")?, "transcript length")?;
        if limit == 0 {
            return Ok((Vec::new(), total));
        }
        let tail = next(&mut replies, "transcript tail")?;
        let first = total.saturating_sub(limit as u64) + 1;
        Ok((self.decode_messages(tail, first, "transcript tail")?, total))
    }

    async fn close_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
        outbox: Option<&OutboxWrite>,
    ) -> Result<CloseOutcome, StoreError> {
        let mut inv = self.scripts.close_conversation.prepare_invoke();
        inv.key(self.key(account_id, "conv", conversation_id))
            .key(self.akey(account_id, "consumer-open"))
            .key(self.key(account_id, "transcript", conversation_id))
            .key(self.key(account_id, "msg-dedupe", conversation_id))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(now_ms)
            .arg(self.retention.closed_ms);
        if let Some(write) = outbox {
            self.outbox_keys(&mut inv, account_id, write);
        }
        let what = "close_conversation";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "notfound" => Ok(CloseOutcome::NotFound),
            "closed" => Ok(CloseOutcome::Closed(decode_conversation(conversation_id, next(&mut rest, what)?)?)),
            "already" => Ok(CloseOutcome::AlreadyClosed(decode_conversation(conversation_id, next(&mut rest, what)?)?)),
            "newer" => Ok(CloseOutcome::NewerState),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn outbox_append(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: &str,
        open_conversation: &str,
        payload: Bytes,
    ) -> Result<OutboxAppend, StoreError> {
        let channel = channel.to_string();
        let mut inv = self.scripts.outbox_append.prepare_invoke();
        inv.key(self.key(account_id, "outbox-meta", &channel))
            .key(self.key(account_id, "outbox-dedupe", &channel))
            .key(self.key(account_id, "outbox", &channel))
            .arg(self.base(account_id))
            .arg(dedupe_id)
            .arg(payload.as_ref())
            .arg(open_conversation);
        let what = "outbox_append";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "appended" => Ok(OutboxAppend::Appended(integer(next(&mut rest, what)?, what)?)),
            "duplicate" => Ok(OutboxAppend::Duplicate(integer(next(&mut rest, what)?, what)?)),
            "not_open" => Ok(OutboxAppend::NotOpen),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn outbox_read(
        &self,
        account_id: &str,
        channel: i32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reply = self
            .query(
                ::redis::cmd("XRANGE")
                    .arg(self.key(account_id, "outbox", &channel.to_string()))
                    .arg(format!("{first}-0"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        let what = "outbox entry";
        array(reply, "outbox")?
            .into_iter()
            .map(|entry| {
                let mut parts = array(entry, what)?.into_iter();
                let sequence = stream_sequence(&string(next(&mut parts, what)?, what)?)?;
                let mut fields = hash(next(&mut parts, what)?, what)?;
                let payload = fields.remove("p").ok_or_else(|| corrupt("outbox entry without payload"))?;
                let message_sequence = match fields.remove("s") {
                    Some(raw) => parse(&String::from_utf8_lossy(&raw), "outbox entry message sequence")?,
                    None => 0,
                };
                Ok(OutboxEntry { sequence, payload: Bytes::from(payload), message_sequence })
            })
            .collect()
    }

    async fn outbox_delivered(&self, account_id: &str, channel: i32, sequence: u64) -> Result<(), StoreError> {
        let mut inv = self.scripts.outbox_delivered.prepare_invoke();
        inv.key(self.key(account_id, "outbox-meta", &channel.to_string())).arg(self.base(account_id)).arg(sequence);
        self.run(&inv).await.map(|_| ())
    }

    async fn outbox_ack(&self, account_id: &str, channel: i32, sequence: u64) -> Result<AckOutcome, StoreError> {
        let channel = channel.to_string();
        let mut inv = self.scripts.outbox_ack.prepare_invoke();
        inv.key(self.key(account_id, "outbox-meta", &channel))
            .key(self.key(account_id, "outbox", &channel))
            .key(self.key(account_id, "outbox-dedupe", &channel))
            .arg(self.base(account_id))
            .arg(sequence);
        let what = "outbox_ack";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "acked" => Ok(AckOutcome::Acked),
            "not_delivered" => Ok(AckOutcome::NotDelivered { delivered: integer(next(&mut rest, what)?, what)? }),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn outbox_acked(&self, account_id: &str, channel: i32) -> Result<u64, StoreError> {
        let reply = self
            .query(::redis::cmd("HGET").arg(self.key(account_id, "outbox-meta", &channel.to_string())).arg("acked"))
            .await?;
        match reply {
            Value::Nil => Ok(0),
            other => integer(other, "outbox acked"),
        }
    }
}
