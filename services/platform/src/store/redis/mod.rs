//! Redis state store. Every operation that reads and then writes, or writes more than one key,
//! is one Lua script (`lua/*.lua`, run with EVALSHA and loaded on NOSCRIPT), so the semantics
//! are the in-memory store's (memory.rs defines them) with the same atomicity.
//!
//! # Keys
//!
//! Every account key is `<prefix>:{<account>}:<family>[:<id>]`; the `{<account>}` hash tag puts
//! all keys of one account in one Redis Cluster slot, so one script can touch a queue, a route
//! and an agent atomically (architecture §4). The account id is percent-escaped for `%`, `{`,
//! `}` and `:` so that no account id can end the hash tag early or collide with another
//! account's keys (invariant 7); family names never contain `:`, so ids after them need no
//! escaping.
//!
//! | family | type | content |
//! |---|---|---|
//! | `account` | hash | `name` |
//! | `skills` | hash | skill id → name |
//! | `agent:<id>` | hash | `max`, `bot`, `logged_in`, `state`, `away_reason`, `state_since`, `last_assigned` |
//! | `agent-skills:<id>` | list | the agent's skill ids in spec order |
//! | `agent-load:<id>` | hash | conversation id → weight (milli) |
//! | `skill-agents:<skill>` | set | agent ids holding the skill (kept by create/update agent) |
//! | `edge-sessions` | set | agent ids with a live edge session |
//! | `conv:<id>` | hash | `consumer`, `channel`, `skill`, `language`, `status`, `opened_at`, `closed_at` |
//! | `transcript:<id>` | list | encoded messages; sequence = position + 1 |
//! | `msg-dedupe:<id>` | hash | dedupe id → sequence |
//! | `open-dedupe` | hash | partner message id → conversation id |
//! | `consumer-open` | hash | consumer id → its open conversation id |
//! | `outbox:<channel>` | stream | entry id `<sequence>-0`, field `p` = payload |
//! | `outbox-meta:<channel>` | hash | `next` (last sequence), `acked` |
//! | `outbox-dedupe:<channel>` | hash | dedupe id → sequence |
//! | `route:<conversation>` | hash | `skill`, `status`, `agent`, `version`, `queued_at` |
//! | `queue:<skill>` | sorted set | member conversation id, score queued-at ms |
//! | `active-skills` | set | skills of the account whose queue is non-empty |
//!
//! # The one key outside an account
//!
//! [`StateStore::active_skills`] spans accounts, so it needs one global key:
//! `<prefix>:active-accounts`, the set of accounts that ever queued something. Scripts never
//! touch it (it lives in another cluster slot): `enqueue` and `requeue` SADD the account to it
//! *before* running their script, and nothing removes it, so it can only over-approximate. The
//! exact answer comes from each account's `active-skills` set, which the enqueue, claim,
//! release and requeue scripts keep in step with the queues atomically. `active_skills` reads
//! the global set and then, in one pipeline, each account's set. (A single global set of
//! "account/skill" pairs would have to be changed in the same script as the queue — a
//! cross-slot write — or after it, where a claim emptying a queue and an enqueue refilling it
//! can race and leave a non-empty queue unlisted.)
//!
//! # Numbers and decoding
//!
//! Weights and limits are stored as integers (milli); timestamps as integer ms. Scripts store
//! the caller's decimal strings unchanged and use Lua numbers only to compare or add, which is
//! exact below 2^53. Everything read back is decoded defensively: a missing field, a value of
//! the wrong shape or a number that does not parse is [`StoreError::Corrupt`], never a panic.
//! Connection, timeout and server-availability errors are [`StoreError::Unavailable`].
//!
//! Requires Redis >= 6.2 (`XTRIM MINID`).

use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Cmd, Pipeline, Script, ScriptInvocation, Value};
use async_trait::async_trait;
use bytes::Bytes;

use super::*;

mod codec;
use codec::*;

/// Time allowed to establish a connection (each attempt).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for one reply. A timed-out script may still have run: callers see
/// `Unavailable` and retry; every write here is idempotent on its ids except `claim`, whose
/// retry then reports `ConversationGone` (the route shows who holds it).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection: a few quick attempts (jittered backoff from 100 ms, at most 1 s apart), then
/// the call fails with `Unavailable` and the caller's own retry/readiness logic takes over.
const RECONNECT_RETRIES: usize = 4;
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

const PRELUDE: &str = include_str!("../lua/prelude.lua");

struct Scripts {
    create_agent: Script,
    update_agent: Script,
    set_agent_session: Script,
    open_conversation: Script,
    append_message: Script,
    close_conversation: Script,
    outbox_append: Script,
    outbox_ack: Script,
    enqueue: Script,
    queue_head: Script,
    claim: Script,
    announced: Script,
    release: Script,
    requeue: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}\n{body}"));
        Self {
            create_agent: script(include_str!("../lua/create_agent.lua")),
            update_agent: script(include_str!("../lua/update_agent.lua")),
            set_agent_session: script(include_str!("../lua/set_agent_session.lua")),
            open_conversation: script(include_str!("../lua/open_conversation.lua")),
            append_message: script(include_str!("../lua/append_message.lua")),
            close_conversation: script(include_str!("../lua/close_conversation.lua")),
            outbox_append: script(include_str!("../lua/outbox_append.lua")),
            outbox_ack: script(include_str!("../lua/outbox_ack.lua")),
            enqueue: script(include_str!("../lua/enqueue.lua")),
            queue_head: script(include_str!("../lua/queue_head.lua")),
            claim: script(include_str!("../lua/claim.lua")),
            announced: script(include_str!("../lua/announced.lua")),
            release: script(include_str!("../lua/release.lua")),
            requeue: script(include_str!("../lua/requeue.lua")),
        }
    }
}

/// The Redis implementation of [`StateStore`]. Cheap to clone (one multiplexed, reconnecting
/// connection shared by all clones).
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); every key starts with `key_prefix`,
    /// which must not contain `{` or `}` (they would change the cluster hash tag).
    pub async fn connect(url: &str, key_prefix: &str) -> Result<RedisStore, StoreError> {
        if key_prefix.contains(['{', '}']) {
            return Err(StoreError::Unavailable(format!(
                "invalid redis key prefix {key_prefix:?}: it must not contain '{{' or '}}'"
            )));
        }
        let invalid = |e: ::redis::RedisError| StoreError::Unavailable(format!("invalid redis url {url:?}: {e}"));
        // TCP_NODELAY (the redis crate leaves it off): the connection multiplexes concurrent
        // requests, and with Nagle on, a request written while another is unacknowledged
        // waits for the peer's delayed ACK (about 40 ms on Linux).
        let info = ::redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(invalid)?
            .set_tcp_settings(::redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = ::redis::Client::open(info).map_err(invalid)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(map_err)?;
        Ok(RedisStore { conn, prefix: Arc::from(key_prefix), scripts: Arc::new(Scripts::new()) })
    }

    /// `<prefix>:{<account>}:`, the start of every key of the account (ARGV[1] of every script).
    fn base(&self, account: &str) -> String {
        format!("{}:{{{}}}:", self.prefix, escape_account(account))
    }

    /// An account-wide key: `<prefix>:{<account>}:<family>`.
    fn akey(&self, account: &str, family: &str) -> String {
        format!("{}{family}", self.base(account))
    }

    /// `<prefix>:{<account>}:<family>:<id>`.
    fn key(&self, account: &str, family: &str, id: &str) -> String {
        format!("{}{family}:{id}", self.base(account))
    }

    fn active_accounts_key(&self) -> String {
        format!("{}:active-accounts", self.prefix)
    }

    async fn query(&self, cmd: &Cmd) -> Result<Value, StoreError> {
        let mut conn = self.conn.clone();
        cmd.query_async::<Value>(&mut conn).await.map_err(map_err)
    }

    async fn query_pipe(&self, pipe: &Pipeline) -> Result<Vec<Value>, StoreError> {
        let mut conn = self.conn.clone();
        let value = pipe.query_async::<Value>(&mut conn).await.map_err(map_err)?;
        array(value, "pipeline reply")
    }

    async fn run(&self, invocation: &ScriptInvocation<'_>) -> Result<Value, StoreError> {
        let mut conn = self.conn.clone();
        invocation.invoke_async::<Value>(&mut conn).await.map_err(map_err)
    }

    /// Registers the account in the global index before a script may queue something in it.
    async fn mark_account_active(&self, account_id: &str) -> Result<(), StoreError> {
        self.query(::redis::cmd("SADD").arg(self.active_accounts_key()).arg(account_id)).await.map(|_| ())
    }

    /// The arguments create_agent.lua and update_agent.lua share: base, id, max, bot, skills.
    fn agent_spec_args(&self, inv: &mut ScriptInvocation<'_>, account_id: &str, spec: &AgentSpec) {
        inv.arg(self.base(account_id)).arg(&spec.agent_id).arg(spec.max_conversations).arg(flag_arg(spec.bot));
        for skill in &spec.skill_ids {
            inv.arg(skill);
        }
    }

    async fn load_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        add_agent_reads(&mut pipe, self, account_id, agent_id);
        let replies = self.query_pipe(&pipe).await?;
        let mut replies = replies.into_iter();
        decode_agent(account_id, agent_id, &mut replies)
    }
}

fn add_agent_reads(pipe: &mut Pipeline, store: &RedisStore, account_id: &str, agent_id: &str) {
    pipe.cmd("HGETALL").arg(store.key(account_id, "agent", agent_id));
    pipe.cmd("LRANGE").arg(store.key(account_id, "agent-skills", agent_id)).arg(0).arg(-1);
    pipe.cmd("HGETALL").arg(store.key(account_id, "agent-load", agent_id));
}

/// Percent-escapes the characters that would break the hash tag or the key layout.
fn escape_account(account: &str) -> String {
    let mut out = String::with_capacity(account.len());
    for c in account.chars() {
        match c {
            '%' => out.push_str("%25"),
            ':' => out.push_str("%3A"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

#[async_trait]
impl StateStore for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        match self.query(&::redis::cmd("PING")).await? {
            Value::SimpleString(s) if s == "PONG" => Ok(()),
            Value::BulkString(b) if b == b"PONG" => Ok(()),
            other => Err(corrupt(format!("PING: unexpected {}", shape(&other)))),
        }
    }

    // --- accounts and skills ---

    async fn create_account(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let reply =
            self.query(::redis::cmd("HSETNX").arg(self.akey(account_id, "account")).arg("name").arg(name)).await?;
        Ok(integer::<i64>(reply, "HSETNX")? == 1)
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool, StoreError> {
        let reply = self.query(::redis::cmd("EXISTS").arg(self.akey(account_id, "account"))).await?;
        Ok(integer::<i64>(reply, "EXISTS")? == 1)
    }

    async fn create_skill(&self, account_id: &str, skill: &SkillRecord) -> Result<bool, StoreError> {
        let reply = self
            .query(::redis::cmd("HSETNX").arg(self.akey(account_id, "skills")).arg(&skill.skill_id).arg(&skill.name))
            .await?;
        Ok(integer::<i64>(reply, "HSETNX")? == 1)
    }

    async fn list_skills(&self, account_id: &str) -> Result<Vec<SkillRecord>, StoreError> {
        let reply = self.query(::redis::cmd("HGETALL").arg(self.akey(account_id, "skills"))).await?;
        let mut skills = hash(reply, "skills")?
            .into_iter()
            .map(|(skill_id, name)| {
                let name = String::from_utf8(name).map_err(|_| corrupt("skill name: not UTF-8"))?;
                Ok(SkillRecord { skill_id, name })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        skills.sort_by(|a, b| a.skill_id.cmp(&b.skill_id));
        Ok(skills)
    }

    async fn skill_exists(&self, account_id: &str, skill_id: &str) -> Result<bool, StoreError> {
        let reply = self.query(::redis::cmd("HEXISTS").arg(self.akey(account_id, "skills")).arg(skill_id)).await?;
        Ok(integer::<i64>(reply, "HEXISTS")? == 1)
    }

    // --- agents ---

    async fn create_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut inv = self.scripts.create_agent.prepare_invoke();
        inv.key(self.key(account_id, "agent", &spec.agent_id))
            .key(self.key(account_id, "agent-skills", &spec.agent_id))
            .key(self.key(account_id, "agent-load", &spec.agent_id));
        self.agent_spec_args(&mut inv, account_id, spec);
        Ok(integer::<i64>(self.run(&inv).await?, "create_agent")? == 1)
    }

    async fn update_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut inv = self.scripts.update_agent.prepare_invoke();
        inv.key(self.key(account_id, "agent", &spec.agent_id)).key(self.key(
            account_id,
            "agent-skills",
            &spec.agent_id,
        ));
        self.agent_spec_args(&mut inv, account_id, spec);
        Ok(integer::<i64>(self.run(&inv).await?, "update_agent")? == 1)
    }

    async fn get_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.load_agent(account_id, agent_id).await
    }

    async fn agents_with_skill(&self, account_id: &str, skill_id: &str) -> Result<Vec<AgentRecord>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.key(account_id, "skill-agents", skill_id))).await?;
        let mut ids = array(reply, "skill agents")?
            .into_iter()
            .map(|id| string(id, "skill agent id"))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for id in &ids {
            add_agent_reads(&mut pipe, self, account_id, id);
        }
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            // The index and the records are read in two steps: skip an agent that lost the
            // skill in between.
            if let Some(agent) = decode_agent(account_id, id, &mut replies)? {
                if agent.spec.skill_ids.iter().any(|s| s == skill_id) {
                    out.push(agent);
                }
            }
        }
        Ok(out)
    }

    async fn set_agent_session(
        &self,
        account_id: &str,
        agent_id: &str,
        session: &AgentSession,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut inv = self.scripts.set_agent_session.prepare_invoke();
        inv.key(self.key(account_id, "agent", agent_id))
            .arg(self.base(account_id))
            .arg(flag_arg(session.logged_in))
            .arg(session.state.as_str())
            .arg(&session.away_reason)
            .arg(now_ms);
        Ok(integer::<i64>(self.run(&inv).await?, "set_agent_session")? == 1)
    }

    // --- agent edge sessions ---

    async fn set_edge_session(&self, account_id: &str, agent_id: &str, logged_in: bool) -> Result<(), StoreError> {
        let command = if logged_in { "SADD" } else { "SREM" };
        self.query(::redis::cmd(command).arg(self.akey(account_id, "edge-sessions")).arg(agent_id)).await?;
        Ok(())
    }

    async fn edge_session(&self, account_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        let reply =
            self.query(::redis::cmd("SISMEMBER").arg(self.akey(account_id, "edge-sessions")).arg(agent_id)).await?;
        Ok(integer::<i64>(reply, "SISMEMBER")? == 1)
    }

    // --- conversations ---

    async fn open_conversation(&self, account_id: &str, new: &NewConversation) -> Result<OpenOutcome, StoreError> {
        let mut inv = self.scripts.open_conversation.prepare_invoke();
        inv.key(self.akey(account_id, "open-dedupe"))
            .key(self.akey(account_id, "consumer-open"))
            .key(self.key(account_id, "conv", &new.conversation_id))
            .arg(self.base(account_id))
            .arg(&new.partner_message_id)
            .arg(&new.consumer_id)
            .arg(&new.conversation_id)
            .arg(new.channel)
            .arg(&new.skill_id)
            .arg(&new.language)
            .arg(new.opened_at_ms);
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
    ) -> Result<AppendOutcome, StoreError> {
        let mut inv = self.scripts.append_message.prepare_invoke();
        inv.key(self.key(account_id, "conv", conversation_id))
            .key(self.key(account_id, "transcript", conversation_id))
            .key(self.key(account_id, "msg-dedupe", conversation_id))
            .arg(self.base(account_id))
            .arg(&message.dedupe_id)
            .arg(encode_message(message));
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
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn transcript(&self, account_id: &str, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError> {
        let reply = self
            .query(::redis::cmd("LRANGE").arg(self.key(account_id, "transcript", conversation_id)).arg(0).arg(-1))
            .await?;
        array(reply, "transcript")?
            .into_iter()
            .zip(1u64..)
            .map(|(raw, sequence)| decode_message(sequence, &bytes(raw, "transcript message")?))
            .collect()
    }

    async fn close_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<CloseOutcome, StoreError> {
        let mut inv = self.scripts.close_conversation.prepare_invoke();
        inv.key(self.key(account_id, "conv", conversation_id))
            .key(self.akey(account_id, "consumer-open"))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(now_ms);
        let what = "close_conversation";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "notfound" => Ok(CloseOutcome::NotFound),
            "closed" => Ok(CloseOutcome::Closed(decode_conversation(conversation_id, next(&mut rest, what)?)?)),
            "already" => Ok(CloseOutcome::AlreadyClosed(decode_conversation(conversation_id, next(&mut rest, what)?)?)),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    // --- partner outbox ---

    async fn outbox_append(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: &str,
        payload: Bytes,
    ) -> Result<u64, StoreError> {
        let channel = channel.to_string();
        let mut inv = self.scripts.outbox_append.prepare_invoke();
        inv.key(self.key(account_id, "outbox-meta", &channel))
            .key(self.key(account_id, "outbox-dedupe", &channel))
            .key(self.key(account_id, "outbox", &channel))
            .arg(self.base(account_id))
            .arg(dedupe_id)
            .arg(payload.as_ref());
        integer(self.run(&inv).await?, "outbox_append")
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
                Ok(OutboxEntry { sequence, payload: Bytes::from(payload) })
            })
            .collect()
    }

    async fn outbox_ack(&self, account_id: &str, channel: i32, sequence: u64) -> Result<(), StoreError> {
        let channel = channel.to_string();
        let mut inv = self.scripts.outbox_ack.prepare_invoke();
        inv.key(self.key(account_id, "outbox-meta", &channel))
            .key(self.key(account_id, "outbox", &channel))
            .arg(self.base(account_id))
            .arg(sequence);
        self.run(&inv).await?;
        Ok(())
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

    // --- queues and routes ---

    async fn enqueue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        queued_at_ms: i64,
    ) -> Result<EnqueueOutcome, StoreError> {
        self.mark_account_active(account_id).await?;
        let mut inv = self.scripts.enqueue.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.key(account_id, "queue", skill_id))
            .key(self.akey(account_id, "active-skills"))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(skill_id)
            .arg(queued_at_ms);
        let what = "enqueue";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "queued" => Ok(EnqueueOutcome::Queued),
            "unchanged" => Ok(EnqueueOutcome::Unchanged(route_status(&string(next(&mut rest, what)?, what)?)?)),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn queue_head(&self, account_id: &str, skill_id: &str, limit: usize) -> Result<Vec<QueueEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stop = i64::try_from(limit - 1).unwrap_or(i64::MAX);
        let mut inv = self.scripts.queue_head.prepare_invoke();
        inv.key(self.key(account_id, "queue", skill_id)).arg(self.base(account_id)).arg(stop);
        let what = "queue_head";
        let mut items = array(self.run(&inv).await?, what)?.into_iter();
        let mut out = Vec::new();
        while let Some(conversation) = items.next() {
            let conversation_id = string(conversation, what)?;
            let queued_at_ms = integral_score(&string(next(&mut items, what)?, what)?)?;
            let avoid_agent_id = string(next(&mut items, what)?, what)?;
            out.push(QueueEntry { conversation_id, queued_at_ms, avoid_agent_id });
        }
        Ok(out)
    }

    async fn queue_depth(&self, account_id: &str, skill_id: &str) -> Result<u64, StoreError> {
        let reply = self.query(::redis::cmd("ZCARD").arg(self.key(account_id, "queue", skill_id))).await?;
        integer(reply, "ZCARD")
    }

    async fn route(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, StoreError> {
        let reply = self.query(::redis::cmd("HGETALL").arg(self.key(account_id, "route", conversation_id))).await?;
        decode_route(conversation_id, reply)
    }

    async fn unannounced(&self, claimed_before_ms: i64, limit: usize) -> Result<Vec<(String, Route)>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.active_accounts_key())).await?;
        let accounts = array(reply, "active accounts")?
            .into_iter()
            .map(|a| string(a, "active account"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut due: Vec<(i64, String, String)> = Vec::new();
        for account in &accounts {
            let reply = self
                .query(
                    ::redis::cmd("ZRANGEBYSCORE")
                        .arg(self.akey(account, "unannounced"))
                        .arg("-inf")
                        .arg(claimed_before_ms)
                        .arg("WITHSCORES")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(limit),
                )
                .await?;
            let mut items = array(reply, "unannounced")?.into_iter();
            while let Some(member) = items.next() {
                let conversation = string(member, "unannounced member")?;
                let score = integral_score(&string(next(&mut items, "unannounced")?, "unannounced score")?)?;
                due.push((score, account.clone(), conversation));
            }
        }
        due.sort();
        let mut out = Vec::new();
        for (_, account, conversation) in due {
            match self.route(&account, &conversation).await? {
                Some(route) if route.status == RouteStatus::Assigned => {
                    if out.len() < limit {
                        out.push((account, route));
                    }
                }
                // No longer assigned: drop it, unless a newer claim came in meanwhile.
                Some(route) => self.announced(&account, &conversation, route.version).await?,
                None => self.announced(&account, &conversation, 0).await?,
            }
        }
        Ok(out)
    }

    async fn announced(&self, account_id: &str, conversation_id: &str, version: u64) -> Result<(), StoreError> {
        let mut inv = self.scripts.announced.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.akey(account_id, "unannounced"))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(version);
        self.run(&inv).await.map(|_| ())
    }

    async fn active_skills(&self) -> Result<Vec<(String, String)>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.active_accounts_key())).await?;
        let accounts = array(reply, "active accounts")?
            .into_iter()
            .map(|a| string(a, "active account"))
            .collect::<Result<Vec<_>, _>>()?;
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for account in &accounts {
            pipe.cmd("SMEMBERS").arg(self.akey(account, "active-skills"));
        }
        let replies = self.query_pipe(&pipe).await?;
        if replies.len() != accounts.len() {
            return Err(corrupt("active skills: pipeline reply length"));
        }
        let mut out = Vec::new();
        for (account, skills) in accounts.iter().zip(replies) {
            for skill in array(skills, "active skills")? {
                out.push((account.clone(), string(skill, "active skill")?));
            }
        }
        out.sort();
        Ok(out)
    }

    // --- the arbiter ---

    async fn claim(&self, c: &Claim) -> Result<ClaimOutcome, StoreError> {
        let a = c.account_id.as_str();
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.key(self.key(a, "route", &c.conversation_id))
            .key(self.key(a, "conv", &c.conversation_id))
            .key(self.key(a, "agent", &c.agent_id))
            .key(self.key(a, "agent-skills", &c.agent_id))
            .key(self.key(a, "agent-load", &c.agent_id))
            .key(self.key(a, "queue", &c.skill_id))
            .key(self.akey(a, "active-skills"))
            .key(self.akey(a, "unannounced"))
            .arg(self.base(a))
            .arg(&c.conversation_id)
            .arg(&c.skill_id)
            .arg(&c.agent_id)
            .arg(c.weight)
            .arg(c.headroom)
            .arg(c.now_ms)
            .arg(ONE);
        let what = "claim";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "claimed" => Ok(ClaimOutcome::Claimed { version: integer(next(&mut rest, what)?, what)? }),
            "gone" => Ok(ClaimOutcome::ConversationGone),
            "unavailable" => Ok(ClaimOutcome::AgentUnavailable),
            "full" => Ok(ClaimOutcome::AgentFull),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn release(&self, account_id: &str, conversation_id: &str) -> Result<ReleaseOutcome, StoreError> {
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.akey(account_id, "active-skills"))
            .arg(self.base(account_id))
            .arg(conversation_id);
        let what = "release";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "unchanged" => Ok(ReleaseOutcome::Unchanged),
            "left" => Ok(ReleaseOutcome::LeftQueue { skill_id: string(next(&mut rest, what)?, what)? }),
            "freed" => {
                let agent_id = string(next(&mut rest, what)?, what)?;
                let skill_id = string(next(&mut rest, what)?, what)?;
                Ok(ReleaseOutcome::FreedAgent { agent_id, skill_id })
            }
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn requeue(
        &self,
        account_id: &str,
        conversation_id: &str,
        from_agent: &str,
        to_skill: &str,
        now_ms: i64,
    ) -> Result<RequeueOutcome, StoreError> {
        self.mark_account_active(account_id).await?;
        let mut inv = self.scripts.requeue.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.key(account_id, "agent-load", from_agent))
            .key(self.key(account_id, "queue", to_skill))
            .key(self.akey(account_id, "active-skills"))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(from_agent)
            .arg(to_skill)
            .arg(now_ms);
        match string(self.run(&inv).await?, "requeue")?.as_str() {
            "requeued" => Ok(RequeueOutcome::Requeued),
            "not_assigned" => Ok(RequeueOutcome::NotAssigned),
            other => Err(corrupt(format!("requeue: unexpected outcome {other:?}"))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn message_encoding_round_trips() {
        let message = NewMessage {
            from: 2,
            sender_id: "agent\n1".into(),
            text: "hello\nworld ✓".into(),
            sent_at_ms: -5,
            dedupe_id: String::new(),
        };
        let decoded = decode_message(7, &encode_message(&message)).expect("decodes");
        assert_eq!(
            decoded,
            StoredMessage {
                sequence: 7,
                from: 2,
                sender_id: "agent\n1".into(),
                text: "hello\nworld ✓".into(),
                sent_at_ms: -5
            }
        );
    }

    #[test]
    fn malformed_messages_are_corrupt() {
        for raw in [&b""[..], b"2\n1\n1\n0\n", b"1\nx\n1\n0\n", b"1\n1\n1\n9\nabc", b"1\n1\n1\n0\n\xff"] {
            assert!(matches!(decode_message(1, raw), Err(StoreError::Corrupt(_))), "{raw:?}");
        }
    }

    #[test]
    fn account_ids_cannot_break_the_hash_tag() {
        assert_eq!(escape_account("a}:b{%"), "a%7D%3Ab%7B%25");
        assert_eq!(escape_account("plain-id_1"), "plain-id_1");
    }

    #[test]
    fn scores_must_be_integers() {
        assert_eq!(integral_score("1700000000123").ok(), Some(1_700_000_000_123));
        assert_eq!(integral_score("1.5e3").ok(), Some(1500));
        assert!(integral_score("1.5").is_err());
        assert!(integral_score("inf").is_err());
    }
}
