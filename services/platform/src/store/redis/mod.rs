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
//! | `conv:<id>` | hash | `consumer`, `channel`, `skill`, `language`, `status`, `opened_at`, `closed_at`; expires a retention after close |
//! | `transcript:<id>` | list | encoded messages; sequence = position + 1; expires with `conv` |
//! | `msg-dedupe:<id>` | hash | dedupe id → sequence; expires with `conv` |
//! | `open-dedupe:<channel>\|<consumer>\|<partner message id>` | string | conversation id; expires after the dedupe window |
//! | `rate:<channel>\|<consumer>` | string | the consumer's theoretical arrival time (µs, `rate.rs`); expires when idle |
//! | `consumer-open` | hash | consumer id → its open conversation id |
//! | `outbox:<channel>` | stream | entry id `<sequence>-0`, field `p` = payload; trimmed on ack |
//! | `outbox-meta:<channel>` | hash | `next` (last sequence), `delivered`, `acked` |
//! | `outbox-dedupe:<channel>` | sorted set | dedupe id scored by its sequence; trimmed on ack |
//! | `route:<conversation>` | hash | `skill`, `status`, `agent`, `version`, `queued_at`, `requeued_version`; expires a retention after release |
//! | `queue:<skill>` | sorted set | member conversation id, score queued-at ms |
//! | `active-skills` | set | skills of the account whose queue is non-empty |
//! | `unannounced` | sorted set | conversation id scored by claim time, until its assignment event is acknowledged |
//!
//! `|` separates ids inside one key name: ids never contain it, so no two (channel, consumer,
//! id) triples share a key.
//!
//! # Timers
//!
//! Timers are keyed by shard, not by account: `<prefix>:timers:{<shard>}:due` (sorted set:
//! timer id scored by due time, or lease expiry once handed out) and
//! `<prefix>:timers:{<shard>}:data` (hash: timer id → payload). The shard name is the hash
//! tag, so both keys of a shard share a cluster slot; a replica reads only the shards it owns.
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
//! # Redis Cluster
//!
//! Every script names its keys in KEYS (so the client sends it to the node of their slot) and
//! derives the others from ARGV[1], the account's key base: all of one account's slot.
//! Multi-key reads (the agent pipelines, LLEN + LRANGE) stay within one account. Three reads
//! span accounts and so slots: `active_skills` reads each account's `active-skills` with one
//! command each on a cluster (a pipeline on one server), `unannounced` reads each account's
//! `unannounced` set one by one already, and the global `active-accounts` set is one key. Timer
//! shards are hash tags of their own. Nothing here needs a cross-slot transaction.
//!
//! Requires Redis >= 6.2 (`XTRIM MINID`).

use std::sync::Arc;

use ::redis::{Cmd, Pipeline, Script, ScriptInvocation, Value};
use async_trait::async_trait;
use bytes::Bytes;

use super::*;

mod access;
mod agents;
mod automessages;
mod codec;
mod connection;
mod conversations;
mod offers;
mod records;
mod routing;
mod routing_config;
mod spanning;
mod timers;

use codec::*;
use connection::Connection;
pub use connection::RedisOptions;
use records::*;

const PRELUDE: &str = include_str!("../lua/prelude.lua");

struct Scripts {
    create_agent: Script,
    update_agent: Script,
    set_load_weight: Script,
    set_agent_session: Script,
    open_conversation: Script,
    append_message: Script,
    close_conversation: Script,
    set_participant: Script,
    outbox_append: Script,
    outbox_delivered: Script,
    outbox_ack: Script,
    enqueue: Script,
    queue_head: Script,
    claim: Script,
    claim_best: Script,
    save_config: Script,
    replace_in_queue: Script,
    accept_offer: Script,
    reject_offer: Script,
    expire_offer: Script,
    drop_suggested: Script,
    announced: Script,
    release: Script,
    requeue: Script,
    timer_schedule: Script,
    timer_cancel: Script,
    timer_due: Script,
    timer_complete: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| {
            Script::new(&format!(
                "local RECORD_VERSION = '{RECORD_VERSION}'\nlocal SKILL_HISTORY_LIMIT = {SKILL_HISTORY_LIMIT}\nlocal MILLI = {ONE}\n{PRELUDE}\n{body}"
            ))
        };
        Self {
            create_agent: script(include_str!("../lua/create_agent.lua")),
            update_agent: script(include_str!("../lua/update_agent.lua")),
            set_load_weight: script(include_str!("../lua/set_weight.lua")),
            set_agent_session: script(include_str!("../lua/set_agent_session.lua")),
            open_conversation: script(include_str!("../lua/open_conversation.lua")),
            append_message: script(include_str!("../lua/append_message.lua")),
            close_conversation: script(include_str!("../lua/close_conversation.lua")),
            set_participant: script(include_str!("../lua/set_participant.lua")),
            outbox_append: script(include_str!("../lua/outbox_append.lua")),
            outbox_delivered: script(include_str!("../lua/outbox_delivered.lua")),
            outbox_ack: script(include_str!("../lua/outbox_ack.lua")),
            enqueue: script(include_str!("../lua/enqueue.lua")),
            queue_head: script(include_str!("../lua/queue_head.lua")),
            claim: script(include_str!("../lua/claim.lua")),
            claim_best: script(include_str!("../lua/claim_best.lua")),
            save_config: script(include_str!("../lua/save_config.lua")),
            replace_in_queue: script(include_str!("../lua/replace_in_queue.lua")),
            accept_offer: script(include_str!("../lua/accept_offer.lua")),
            reject_offer: script(include_str!("../lua/reject_offer.lua")),
            expire_offer: script(include_str!("../lua/expire_offer.lua")),
            drop_suggested: script(include_str!("../lua/drop_suggested.lua")),
            announced: script(include_str!("../lua/announced.lua")),
            release: script(include_str!("../lua/release.lua")),
            requeue: script(include_str!("../lua/requeue.lua")),
            timer_schedule: script(include_str!("../lua/timer_schedule.lua")),
            timer_cancel: script(include_str!("../lua/timer_cancel.lua")),
            timer_due: script(include_str!("../lua/timer_due.lua")),
            timer_complete: script(include_str!("../lua/timer_complete.lua")),
        }
    }
}

/// The Redis implementation of [`StateStore`], on one server or a Redis Cluster. Cheap to
/// clone (one multiplexed, reconnecting connection, or the cluster client's, shared by all
/// clones).
#[derive(Clone)]
pub struct RedisStore {
    conn: Connection,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
    retention: Retention,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379`); every key starts with `key_prefix`,
    /// which must not contain `{` or `}` (they would change the cluster hash tag).
    pub async fn connect(url: &str, key_prefix: &str, retention: Retention) -> Result<RedisStore, StoreError> {
        Self::connect_with(&RedisOptions::new(url), key_prefix, retention).await
    }

    /// Connects as `options` say: TLS, ACL user and password, one server or a cluster.
    pub async fn connect_with(
        options: &RedisOptions,
        key_prefix: &str,
        retention: Retention,
    ) -> Result<RedisStore, StoreError> {
        if key_prefix.contains(['{', '}']) {
            return Err(StoreError::Unavailable(format!(
                "invalid redis key prefix {key_prefix:?}: it must not contain '{{' or '}}'"
            )));
        }
        let conn = Connection::open(options).await?;
        Ok(RedisStore { conn, prefix: Arc::from(key_prefix), scripts: Arc::new(Scripts::new()), retention })
    }

    /// Whether this store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
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
        inv.arg(self.base(account_id))
            .arg(&spec.agent_id)
            .arg(spec.max_conversations)
            .arg(flag_arg(spec.bot))
            .arg(&spec.group_id)
            .arg(&spec.nickname);
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

/// Percent-escapes the characters that would break the hash tag or the key layout (account
/// ids and timer shard names).
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

    /// Redis expires what outlived its retention by itself.
    async fn maintain(&self, _now_ms: i64) -> Result<(), StoreError> {
        Ok(())
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
            max_messages: 0,
            consumer_rate_per_minute: None,
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
