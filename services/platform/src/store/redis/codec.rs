//! Decoding Redis replies into store types, defensively: a value of the wrong shape is
//! [`StoreError::Corrupt`], a connection problem [`StoreError::Unavailable`], never a panic.

use std::collections::HashMap;
use std::str::FromStr;

use ::redis::{ErrorKind, RedisError, Value};

use crate::store::*;

pub(super) fn map_err(e: RedisError) -> StoreError {
    let corrupt = matches!(e.kind(), ErrorKind::Parse | ErrorKind::UnexpectedReturnType)
        || matches!(e.code(), Some("CORRUPT") | Some("WRONGTYPE"));
    if corrupt {
        StoreError::Corrupt(e.to_string())
    } else {
        StoreError::Unavailable(e.to_string())
    }
}

// --- defensive decoding -------------------------------------------------------------------

pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(super) fn shape(value: &Value) -> &'static str {
    match value {
        Value::Nil => "nil",
        Value::Int(_) => "integer",
        Value::BulkString(_) | Value::SimpleString(_) | Value::VerbatimString { .. } => "string",
        Value::Array(_) => "array",
        Value::Okay => "OK",
        Value::Map(_) => "map",
        Value::Set(_) => "set",
        Value::Double(_) => "double",
        Value::Boolean(_) => "boolean",
        Value::ServerError(_) => "error",
        _ => "unexpected value",
    }
}

pub(super) fn bytes(value: Value, what: &str) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::VerbatimString { text, .. } => Ok(text.into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => Err(corrupt(format!("{what}: expected a string, got {}", shape(&other)))),
    }
}

/// A bulk string, or None for a nil reply (a missing field).
pub(super) fn optional_bytes(value: Value, what: &str) -> Result<Option<Vec<u8>>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => bytes(other, what).map(Some),
    }
}

pub(super) fn parse_u64(raw: &[u8], what: &str) -> Result<u64, StoreError> {
    let text = std::str::from_utf8(raw).map_err(|_| corrupt(format!("{what}: not UTF-8")))?;
    parse(text, what)
}

pub(super) fn string(value: Value, what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes(value, what)?).map_err(|_| corrupt(format!("{what}: not UTF-8")))
}

pub(super) fn parse<T: FromStr>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| corrupt(format!("{what}: {text:?} is not a valid number")))
}

pub(super) fn integer<T: FromStr + TryFrom<i64>>(value: Value, what: &str) -> Result<T, StoreError> {
    match value {
        Value::Int(i) => T::try_from(i).map_err(|_| corrupt(format!("{what}: {i} is out of range"))),
        other => parse(&string(other, what)?, what),
    }
}

pub(super) fn array(value: Value, what: &str) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(corrupt(format!("{what}: expected an array, got {}", shape(&other)))),
    }
}

/// A flat `[field, value, ...]` array (RESP2 HGETALL) or a RESP3 map.
pub(super) fn hash(value: Value, what: &str) -> Result<HashMap<String, Vec<u8>>, StoreError> {
    let pairs: Vec<(Value, Value)> = match value {
        Value::Map(pairs) => pairs,
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Err(corrupt(format!("{what}: odd number of hash items")));
            }
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            pairs
        }
        other => return Err(corrupt(format!("{what}: expected a hash, got {}", shape(&other)))),
    };
    pairs.into_iter().map(|(k, v)| Ok((string(k, what)?, bytes(v, what)?))).collect()
}

/// The fields of one stored hash, with typed access that reports what is wrong.
pub(super) struct Fields {
    what: &'static str,
    map: HashMap<String, Vec<u8>>,
}

impl Fields {
    pub(super) fn new(value: Value, what: &'static str) -> Result<Self, StoreError> {
        Ok(Self { what, map: hash(value, what)? })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(super) fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    pub(super) fn str(&self, field: &str) -> Result<String, StoreError> {
        let raw = self.map.get(field).ok_or_else(|| corrupt(format!("{}: missing field {field:?}", self.what)))?;
        String::from_utf8(raw.clone()).map_err(|_| corrupt(format!("{}: field {field:?} is not UTF-8", self.what)))
    }

    pub(super) fn num<T: FromStr>(&self, field: &str) -> Result<T, StoreError> {
        parse(&self.str(field)?, &format!("{}.{field}", self.what))
    }

    pub(super) fn flag(&self, field: &str) -> Result<bool, StoreError> {
        match self.str(field)?.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            other => Err(corrupt(format!("{}.{field}: {other:?} is not 0 or 1", self.what))),
        }
    }
}

/// Takes the next item of a script or pipeline reply.
pub(super) fn next(items: &mut impl Iterator<Item = Value>, what: &str) -> Result<Value, StoreError> {
    items.next().ok_or_else(|| corrupt(format!("{what}: reply too short")))
}

/// Splits a script reply `{tag, ...}` into its tag and the rest.
pub(super) fn tagged(value: Value, what: &str) -> Result<(String, std::vec::IntoIter<Value>), StoreError> {
    let mut items = array(value, what)?.into_iter();
    let tag = string(next(&mut items, what)?, what)?;
    Ok((tag, items))
}

pub(super) fn flag_arg(value: bool) -> &'static str {
    if value {
        "1"
    } else {
        "0"
    }
}

/// Decodes the three replies of [`add_agent_reads`]; `None` when the agent hash is absent.
pub(super) fn decode_agent(
    account_id: &str,
    agent_id: &str,
    replies: &mut impl Iterator<Item = Value>,
) -> Result<Option<AgentRecord>, StoreError> {
    let f = Fields::new(next(replies, "agent")?, "agent")?;
    let skills = array(next(replies, "agent skills")?, "agent skills")?;
    let load = hash(next(replies, "agent load")?, "agent load")?;
    if f.is_empty() {
        return Ok(None);
    }
    let state = f.str("state")?;
    let state = AgentState::parse(&state).ok_or_else(|| corrupt(format!("agent.state: {state:?}")))?;
    let skill_ids = skills.into_iter().map(|s| string(s, "agent skill id")).collect::<Result<Vec<_>, _>>()?;
    let mut load = load
        .into_iter()
        .map(|(conversation, weight)| {
            let weight = String::from_utf8(weight).map_err(|_| corrupt("agent load weight: not UTF-8"))?;
            Ok((conversation, parse::<Milli>(&weight, "agent load weight")?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // A hash has no order; report the load sorted by conversation id.
    load.sort();
    Ok(Some(AgentRecord {
        account_id: account_id.to_owned(),
        spec: AgentSpec {
            agent_id: agent_id.to_owned(),
            skill_ids,
            max_conversations: f.num("max")?,
            bot: f.flag("bot")?,
            group_id: if f.has("group") { f.str("group")? } else { String::new() },
            nickname: if f.has("nickname") { f.str("nickname")? } else { String::new() },
        },
        logged_in: f.flag("logged_in")?,
        state,
        away_reason: f.str("away_reason")?,
        state_since_ms: f.num("state_since")?,
        last_assigned_ms: f.num("last_assigned")?,
        load,
        warmup: rules::WarmState {
            armed: f.has("warm_armed") && f.flag("warm_armed")?,
            from_ms: if f.has("warm_from") { f.num("warm_from")? } else { 0 },
            taken: if f.has("warm_taken") { f.num("warm_taken")? } else { 0 },
        },
    }))
}

/// A transcript line as stored: `1\n<from>\n<sent_at_ms>\n<sender byte length>\n<sender><text>`.
/// The sequence is not stored; it is the line's position.
pub(super) fn encode_message(message: &NewMessage) -> Vec<u8> {
    let mut out = format!("1\n{}\n{}\n{}\n", message.from, message.sent_at_ms, message.sender_id.len()).into_bytes();
    out.extend_from_slice(message.sender_id.as_bytes());
    out.extend_from_slice(message.text.as_bytes());
    out
}

pub(super) fn decode_message(sequence: u64, raw: &[u8]) -> Result<StoredMessage, StoreError> {
    let bad = |why: &str| corrupt(format!("transcript message {sequence}: {why}"));
    let mut parts = raw.splitn(5, |b| *b == b'\n');
    let mut header = || -> Result<&str, StoreError> {
        let part = parts.next().ok_or_else(|| bad("truncated header"))?;
        std::str::from_utf8(part).map_err(|_| bad("header is not UTF-8"))
    };
    if header()? != "1" {
        return Err(bad("unknown encoding version"));
    }
    let from: i32 = parse(header()?, "transcript message from")?;
    let sent_at_ms: i64 = parse(header()?, "transcript message sent_at")?;
    let sender_len: usize = parse(header()?, "transcript message sender length")?;
    let body = parts.next().ok_or_else(|| bad("missing body"))?;
    if body.len() < sender_len {
        return Err(bad("sender longer than the body"));
    }
    let (sender, text) = body.split_at(sender_len);
    Ok(StoredMessage {
        sequence,
        from,
        sender_id: String::from_utf8(sender.to_vec()).map_err(|_| bad("sender is not UTF-8"))?,
        text: String::from_utf8(text.to_vec()).map_err(|_| bad("text is not UTF-8"))?,
        sent_at_ms,
    })
}

/// A stream entry id `<sequence>-0`.
pub(super) fn stream_sequence(id: &str) -> Result<u64, StoreError> {
    let (sequence, _) = id.split_once('-').ok_or_else(|| corrupt(format!("outbox entry id {id:?}")))?;
    parse(sequence, "outbox entry id")
}

/// A sorted-set score that must be an integer (ms).
pub(super) fn integral_score(text: &str) -> Result<i64, StoreError> {
    if let Ok(v) = text.parse::<i64>() {
        return Ok(v);
    }
    let v: f64 = parse(text, "queue score")?;
    if v.fract() != 0.0 || !v.is_finite() || v.abs() > 9.007_199_254_740_992e15 {
        return Err(corrupt(format!("queue score {text:?} is not an integer")));
    }
    // Exact: integral and within ±2^53.
    #[allow(clippy::cast_possible_truncation)]
    Ok(v as i64)
}
