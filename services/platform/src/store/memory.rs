//! In-memory state store for embedded mode and unit tests. One lock makes every operation
//! atomic, which is the same guarantee the Redis scripts give.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::*;

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, String>,
    skills: HashMap<String, BTreeMap<String, SkillRecord>>,
    agents: HashMap<(String, String), AgentRecord>,
    edge_sessions: HashSet<(String, String)>,
    conversations: HashMap<(String, String), ConversationRecord>,
    transcripts: HashMap<(String, String), Vec<StoredMessage>>,
    message_dedupe: HashMap<(String, String, String), u64>,
    open_dedupe: HashMap<(String, String), String>,
    open_by_consumer: HashMap<(String, String), String>,
    outboxes: HashMap<(String, i32), Outbox>,
    routes: HashMap<(String, String), Route>,
    /// (account, skill) -> ordered (queued_at, conversation)
    queues: HashMap<(String, String), BTreeSet<(i64, String)>>,
    /// (account, conversation) -> claimed at, for assignments not yet announced
    unannounced: HashMap<(String, String), i64>,
}

#[derive(Default)]
struct Outbox {
    next: u64,
    acked: u64,
    entries: BTreeMap<u64, Bytes>,
    seen: HashMap<String, u64>,
}

fn k(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-done operation visible: every
        // operation validates before it writes. Recover the guard instead of propagating.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn remove_from_queue(&mut self, account: &str, skill: &str, queued_at: i64, conv: &str) {
        if let Some(q) = self.queues.get_mut(&k(account, skill)) {
            q.remove(&(queued_at, conv.to_owned()));
            if q.is_empty() {
                self.queues.remove(&k(account, skill));
            }
        }
    }

    fn push_queue(&mut self, account: &str, skill: &str, queued_at: i64, conv: &str) {
        self.queues.entry(k(account, skill)).or_default().insert((queued_at, conv.to_owned()));
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_account(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.accounts.contains_key(account_id) {
            return Ok(false);
        }
        s.accounts.insert(account_id.to_owned(), name.to_owned());
        Ok(true)
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().accounts.contains_key(account_id))
    }

    async fn create_skill(&self, account_id: &str, skill: &SkillRecord) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let skills = s.skills.entry(account_id.to_owned()).or_default();
        if skills.contains_key(&skill.skill_id) {
            return Ok(false);
        }
        skills.insert(skill.skill_id.clone(), skill.clone());
        Ok(true)
    }

    async fn list_skills(&self, account_id: &str) -> Result<Vec<SkillRecord>, StoreError> {
        Ok(self.lock().skills.get(account_id).map(|m| m.values().cloned().collect()).unwrap_or_default())
    }

    async fn skill_exists(&self, account_id: &str, skill_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().skills.get(account_id).is_some_and(|m| m.contains_key(skill_id)))
    }

    async fn create_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, &spec.agent_id);
        if s.agents.contains_key(&key) {
            return Ok(false);
        }
        s.agents.insert(
            key,
            AgentRecord {
                account_id: account_id.to_owned(),
                spec: spec.clone(),
                logged_in: false,
                state: AgentState::Offline,
                away_reason: String::new(),
                state_since_ms: 0,
                last_assigned_ms: 0,
                load: Vec::new(),
            },
        );
        Ok(true)
    }

    async fn update_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.agents.get_mut(&k(account_id, &spec.agent_id)) {
            Some(agent) => {
                agent.spec = spec.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn get_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        Ok(self.lock().agents.get(&k(account_id, agent_id)).cloned())
    }

    async fn agents_with_skill(&self, account_id: &str, skill_id: &str) -> Result<Vec<AgentRecord>, StoreError> {
        let s = self.lock();
        let mut out: Vec<AgentRecord> = s
            .agents
            .values()
            .filter(|a| a.account_id == account_id && a.spec.skill_ids.iter().any(|x| x == skill_id))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.spec.agent_id.cmp(&b.spec.agent_id));
        Ok(out)
    }

    async fn set_agent_session(
        &self,
        account_id: &str,
        agent_id: &str,
        session: &AgentSession,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(agent) = s.agents.get_mut(&k(account_id, agent_id)) else {
            return Ok(false);
        };
        if agent.state != session.state || agent.away_reason != session.away_reason {
            agent.state_since_ms = now_ms;
        }
        agent.logged_in = session.logged_in;
        agent.state = session.state;
        agent.away_reason = session.away_reason.clone();
        Ok(true)
    }

    async fn set_edge_session(&self, account_id: &str, agent_id: &str, logged_in: bool) -> Result<(), StoreError> {
        let mut s = self.lock();
        if logged_in {
            s.edge_sessions.insert(k(account_id, agent_id));
        } else {
            s.edge_sessions.remove(&k(account_id, agent_id));
        }
        Ok(())
    }

    async fn edge_session(&self, account_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().edge_sessions.contains(&k(account_id, agent_id)))
    }

    async fn open_conversation(&self, account_id: &str, new: &NewConversation) -> Result<OpenOutcome, StoreError> {
        let mut s = self.lock();
        if !new.partner_message_id.is_empty() {
            if let Some(existing) = s.open_dedupe.get(&k(account_id, &new.partner_message_id)) {
                if let Some(rec) = s.conversations.get(&k(account_id, existing)) {
                    return Ok(OpenOutcome::Existing(rec.clone()));
                }
            }
        }
        if let Some(existing) = s.open_by_consumer.get(&k(account_id, &new.consumer_id)).cloned() {
            if let Some(rec) = s.conversations.get(&k(account_id, &existing)).cloned() {
                if !new.partner_message_id.is_empty() {
                    s.open_dedupe.insert(k(account_id, &new.partner_message_id), existing);
                }
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
        };
        s.conversations.insert(k(account_id, &new.conversation_id), rec.clone());
        s.open_by_consumer.insert(k(account_id, &new.consumer_id), new.conversation_id.clone());
        if !new.partner_message_id.is_empty() {
            s.open_dedupe.insert(k(account_id, &new.partner_message_id), new.conversation_id.clone());
        }
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
    ) -> Result<AppendOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        let Some(rec) = s.conversations.get(&key) else {
            return Ok(AppendOutcome::NotFound);
        };
        let dedupe_key = (account_id.to_owned(), conversation_id.to_owned(), message.dedupe_id.clone());
        if !message.dedupe_id.is_empty() {
            if let Some(seq) = s.message_dedupe.get(&dedupe_key) {
                let found = s.transcripts.get(&key).and_then(|t| t.iter().find(|m| m.sequence == *seq)).cloned();
                if let Some(found) = found {
                    return Ok(AppendOutcome::Duplicate(found));
                }
            }
        }
        if rec.status == ConversationStatus::Closed {
            return Ok(AppendOutcome::Closed);
        }
        let transcript = s.transcripts.entry(key).or_default();
        let stored = StoredMessage {
            sequence: transcript.len() as u64 + 1,
            from: message.from,
            sender_id: message.sender_id.clone(),
            text: message.text.clone(),
            sent_at_ms: message.sent_at_ms,
        };
        transcript.push(stored.clone());
        if !message.dedupe_id.is_empty() {
            s.message_dedupe.insert(dedupe_key, stored.sequence);
        }
        Ok(AppendOutcome::Appended(stored))
    }

    async fn transcript(&self, account_id: &str, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self.lock().transcripts.get(&k(account_id, conversation_id)).cloned().unwrap_or_default())
    }

    async fn close_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<CloseOutcome, StoreError> {
        let mut s = self.lock();
        let Some(rec) = s.conversations.get_mut(&k(account_id, conversation_id)) else {
            return Ok(CloseOutcome::NotFound);
        };
        if rec.status == ConversationStatus::Closed {
            return Ok(CloseOutcome::AlreadyClosed(rec.clone()));
        }
        rec.status = ConversationStatus::Closed;
        rec.closed_at_ms = now_ms;
        let rec = rec.clone();
        let consumer_key = k(account_id, &rec.consumer_id);
        if s.open_by_consumer.get(&consumer_key) == Some(&rec.conversation_id) {
            s.open_by_consumer.remove(&consumer_key);
        }
        Ok(CloseOutcome::Closed(rec))
    }

    async fn outbox_append(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: &str,
        payload: Bytes,
    ) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let outbox = s.outboxes.entry((account_id.to_owned(), channel)).or_default();
        // An empty dedupe id means "none" (as for messages): it never dedupes.
        if let Some(seq) = outbox.seen.get(dedupe_id).filter(|_| !dedupe_id.is_empty()) {
            return Ok(*seq);
        }
        outbox.next += 1;
        let seq = outbox.next;
        outbox.entries.insert(seq, payload);
        if !dedupe_id.is_empty() {
            outbox.seen.insert(dedupe_id.to_owned(), seq);
        }
        Ok(seq)
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
            .map(|(seq, payload)| OutboxEntry { sequence: *seq, payload: payload.clone() })
            .collect())
    }

    async fn outbox_ack(&self, account_id: &str, channel: i32, sequence: u64) -> Result<(), StoreError> {
        let mut s = self.lock();
        let outbox = s.outboxes.entry((account_id.to_owned(), channel)).or_default();
        // Never past the last appended entry: a bogus ack must not hide entries appended later.
        let sequence = sequence.min(outbox.next);
        if sequence > outbox.acked {
            outbox.acked = sequence;
            outbox.entries = outbox.entries.split_off(&(sequence + 1));
        }
        Ok(())
    }

    async fn outbox_acked(&self, account_id: &str, channel: i32) -> Result<u64, StoreError> {
        Ok(self.lock().outboxes.get(&(account_id.to_owned(), channel)).map(|o| o.acked).unwrap_or(0))
    }

    async fn enqueue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        queued_at_ms: i64,
    ) -> Result<EnqueueOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        if let Some(route) = s.routes.get(&key) {
            return Ok(EnqueueOutcome::Unchanged(route.status));
        }
        s.routes.insert(
            key,
            Route {
                conversation_id: conversation_id.to_owned(),
                skill_id: skill_id.to_owned(),
                status: RouteStatus::Queued,
                agent_id: String::new(),
                version: 0,
                queued_at_ms,
            },
        );
        s.push_queue(account_id, skill_id, queued_at_ms, conversation_id);
        Ok(EnqueueOutcome::Queued)
    }

    async fn queue_head(&self, account_id: &str, skill_id: &str, limit: usize) -> Result<Vec<QueueEntry>, StoreError> {
        let s = self.lock();
        let Some(q) = s.queues.get(&k(account_id, skill_id)) else {
            return Ok(Vec::new());
        };
        Ok(q.iter()
            .take(limit)
            .map(|(at, conv)| QueueEntry {
                conversation_id: conv.clone(),
                queued_at_ms: *at,
                avoid_agent_id: s.routes.get(&k(account_id, conv)).map(|r| r.agent_id.clone()).unwrap_or_default(),
            })
            .collect())
    }

    async fn queue_depth(&self, account_id: &str, skill_id: &str) -> Result<u64, StoreError> {
        Ok(self.lock().queues.get(&k(account_id, skill_id)).map(|q| q.len() as u64).unwrap_or(0))
    }

    async fn route(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, StoreError> {
        Ok(self.lock().routes.get(&k(account_id, conversation_id)).cloned())
    }

    async fn active_skills(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out: Vec<_> = self.lock().queues.keys().cloned().collect();
        out.sort();
        Ok(out)
    }

    async fn unannounced(&self, claimed_before_ms: i64, limit: usize) -> Result<Vec<(String, Route)>, StoreError> {
        let mut s = self.lock();
        let mut due: Vec<(i64, (String, String))> =
            s.unannounced.iter().filter(|(_, at)| **at <= claimed_before_ms).map(|(k, at)| (*at, k.clone())).collect();
        due.sort();
        let mut out = Vec::new();
        for (_, key) in due {
            match s.routes.get(&key) {
                Some(route) if route.status == RouteStatus::Assigned => {
                    if out.len() < limit {
                        out.push((key.0.clone(), route.clone()));
                    }
                }
                _ => {
                    s.unannounced.remove(&key);
                }
            }
        }
        Ok(out)
    }

    async fn announced(&self, account_id: &str, conversation_id: &str, version: u64) -> Result<(), StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        if s.routes.get(&key).is_some_and(|r| r.version == version) {
            s.unannounced.remove(&key);
        }
        Ok(())
    }

    async fn claim(&self, c: &Claim) -> Result<ClaimOutcome, StoreError> {
        let mut s = self.lock();
        let route_key = k(&c.account_id, &c.conversation_id);
        let queued_at = match s.routes.get(&route_key) {
            Some(r) if r.status == RouteStatus::Queued && r.skill_id == c.skill_id => r.queued_at_ms,
            _ => return Ok(ClaimOutcome::ConversationGone),
        };
        let open = s.conversations.get(&route_key).is_some_and(|conv| conv.status == ConversationStatus::Open);
        if !open {
            return Ok(ClaimOutcome::ConversationGone);
        }
        let Some(agent) = s.agents.get_mut(&k(&c.account_id, &c.agent_id)) else {
            return Ok(ClaimOutcome::AgentUnavailable);
        };
        if !agent.logged_in || agent.state != AgentState::Online || !agent.spec.skill_ids.contains(&c.skill_id) {
            return Ok(ClaimOutcome::AgentUnavailable);
        }
        let max = agent.spec.max_conversations as Milli * ONE;
        if agent.capacity_used() + c.weight > max + c.headroom {
            return Ok(ClaimOutcome::AgentFull);
        }
        agent.load.push((c.conversation_id.clone(), c.weight));
        agent.last_assigned_ms = c.now_ms;
        let route = s.routes.get_mut(&route_key).ok_or_else(|| StoreError::Corrupt("route vanished".into()))?;
        route.status = RouteStatus::Assigned;
        route.agent_id = c.agent_id.clone();
        route.version += 1;
        let version = route.version;
        s.remove_from_queue(&c.account_id, &c.skill_id, queued_at, &c.conversation_id);
        s.unannounced.insert(route_key, c.now_ms);
        Ok(ClaimOutcome::Claimed { version })
    }

    async fn release(&self, account_id: &str, conversation_id: &str) -> Result<ReleaseOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        let Some(route) = s.routes.get(&key).cloned() else {
            s.routes.insert(
                key,
                Route {
                    conversation_id: conversation_id.to_owned(),
                    skill_id: String::new(),
                    status: RouteStatus::Closed,
                    agent_id: String::new(),
                    version: 0,
                    queued_at_ms: 0,
                },
            );
            return Ok(ReleaseOutcome::Unchanged);
        };
        let outcome = match route.status {
            RouteStatus::Closed => return Ok(ReleaseOutcome::Unchanged),
            RouteStatus::Queued => {
                s.remove_from_queue(account_id, &route.skill_id, route.queued_at_ms, conversation_id);
                ReleaseOutcome::LeftQueue { skill_id: route.skill_id.clone() }
            }
            RouteStatus::Assigned => {
                if let Some(agent) = s.agents.get_mut(&k(account_id, &route.agent_id)) {
                    agent.load.retain(|(c, _)| c != conversation_id);
                }
                ReleaseOutcome::FreedAgent { agent_id: route.agent_id.clone(), skill_id: route.skill_id.clone() }
            }
        };
        if let Some(r) = s.routes.get_mut(&key) {
            r.status = RouteStatus::Closed;
        }
        Ok(outcome)
    }

    async fn requeue(
        &self,
        account_id: &str,
        conversation_id: &str,
        from_agent: &str,
        to_skill: &str,
        now_ms: i64,
    ) -> Result<RequeueOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        match s.routes.get(&key) {
            Some(r) if r.status == RouteStatus::Assigned && r.agent_id == from_agent => {}
            _ => return Ok(RequeueOutcome::NotAssigned),
        }
        if let Some(agent) = s.agents.get_mut(&k(account_id, from_agent)) {
            agent.load.retain(|(c, _)| c != conversation_id);
        }
        if let Some(r) = s.routes.get_mut(&key) {
            r.status = RouteStatus::Queued;
            r.skill_id = to_skill.to_owned();
            r.queued_at_ms = now_ms;
        }
        s.push_queue(account_id, to_skill, now_ms, conversation_id);
        Ok(RequeueOutcome::Requeued)
    }
}
