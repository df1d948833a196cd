//! Decoding the conversation and route hashes, forward-compatibly: fields this version does
//! not know are left alone (every write is per field, so they are carried), a status or
//! reason it does not know is a `Newer` value, and a record written before versioning (no
//! `v` field) is read with the meaning its fields had then.

use std::collections::BTreeMap;

use ::redis::Value;

use super::codec::{corrupt, parse, Fields};
use crate::store::*;

pub(super) fn decode_conversation(conversation_id: &str, value: Value) -> Result<ConversationRecord, StoreError> {
    let f = Fields::new(value, "conversation")?;
    if f.is_empty() {
        return Err(corrupt(format!("conversation {conversation_id:?}: empty record")));
    }
    let status = match f.str("status")?.as_str() {
        "open" => ConversationStatus::Open,
        "closed" => ConversationStatus::Closed,
        "" => return Err(corrupt(format!("conversation {conversation_id:?}: empty status"))),
        _ => ConversationStatus::Newer,
    };
    let pending = match optional(&f, "pending")?.as_deref() {
        None | Some("agent") => PendingSide::Agent,
        Some("consumer") => PendingSide::Consumer,
        Some(_) => PendingSide::Newer,
    };
    Ok(ConversationRecord {
        conversation_id: conversation_id.to_owned(),
        consumer_id: f.str("consumer")?,
        channel: f.num("channel")?,
        skill_id: f.str("skill")?,
        language: f.str("language")?,
        status,
        opened_at_ms: f.num("opened_at")?,
        closed_at_ms: f.num("closed_at")?,
        pending,
        last_consumer_message_ms: optional_num(&f, "last_consumer_msg")?.unwrap_or(0),
        last_agent_message_ms: optional_num(&f, "last_agent_msg")?.unwrap_or(0),
        waiting_since_ms: optional_num(&f, "waiting_since")?.unwrap_or(0),
        readers: ids(&optional(&f, "readers")?.unwrap_or_default()),
        managers: ids(&optional(&f, "managers")?.unwrap_or_default()),
        profile: match optional(&f, "profile")? {
            Some(json) if !json.is_empty() => serde_json::from_str(&json)
                .map_err(|e| corrupt(format!("conversation {conversation_id:?}: profile: {e}")))?,
            _ => BTreeMap::new(),
        },
        skill_reason: optional(&f, "skill_reason")?.unwrap_or_default(),
        skill_detail: optional(&f, "skill_detail")?.unwrap_or_default(),
        first_conversation: optional(&f, "first")?.is_some_and(|v| v == "1"),
    })
}

/// One entry of a conversation's routing log: a JSON object of strings (see prelude.lua).
pub(super) fn decode_routing_event(raw: &[u8]) -> Result<RoutingEvent, StoreError> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| corrupt(format!("routing log entry: {e}")))?;
    let text = |field: &str| value.get(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let number = |field: &str| -> Result<i64, StoreError> {
        match value.get(field).and_then(|v| v.as_str()) {
            None | Some("") => Ok(0),
            Some(n) => parse(n, field),
        }
    };
    // cjson writes an empty table as an object, not an array: either means none.
    let passed = value
        .get("passed")
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str()?.rsplit_once(':').map(|(a, why)| (a.to_owned(), why.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok(RoutingEvent {
        at_ms: number("at")?,
        kind: text("kind"),
        skill_id: text("skill"),
        agent_id: text("agent"),
        version: number("version")? as u64,
        reason: text("reason"),
        due_ms: number("due")?,
        score: number("score")?,
        actionable: text("actionable") == "1",
        sla: text("sla"),
        velocity_milli: if value.get("velocity").is_some() { number("velocity")? } else { ONE },
        agent_group: text("group"),
        passed,
    })
}

/// The profile as stored in the conversation hash: a JSON object of strings.
pub(super) fn encode_profile(profile: &BTreeMap<String, String>) -> Result<String, StoreError> {
    serde_json::to_string(profile).map_err(|e| corrupt(format!("profile: {e}")))
}

pub(super) fn decode_route(conversation_id: &str, reply: Value) -> Result<Option<Route>, StoreError> {
    let f = Fields::new(reply, "route")?;
    if f.is_empty() {
        return Ok(None);
    }
    let status = route_status(&f.str("status")?)?;
    let record_version: u32 = optional_num(&f, "v")?.unwrap_or(1);
    let queued_at_ms: i64 = f.num("queued_at")?;
    let mut agent_id = f.str("agent")?;
    let mut avoid_agent_id = optional(&f, "avoid")?.unwrap_or_default();
    if record_version == 1 && status == RouteStatus::Queued {
        // Before versioning a queued route's agent was the agent to avoid.
        avoid_agent_id = std::mem::take(&mut agent_id);
    }
    Ok(Some(Route {
        conversation_id: conversation_id.to_owned(),
        skill_id: f.str("skill")?,
        status,
        agent_id,
        avoid_agent_id,
        suggested_agent_id: optional(&f, "suggested")?.unwrap_or_default(),
        agent_group: optional(&f, "group")?.unwrap_or_default(),
        offer_id: optional(&f, "offer")?.unwrap_or_default(),
        offer_expires_ms: optional_num(&f, "offer_expires")?.unwrap_or(0),
        offer_agents: optional(&f, "offer_agents")?
            .map(|a| a.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
        version: f.num("version")?,
        assigned_at_ms: optional_num(&f, "assigned_at")?.unwrap_or(0),
        queued_at_ms,
        queue_reason: optional(&f, "reason")?.map_or(QueueReason::New, |r| QueueReason::parse(&r)),
        // Before versioning the queue was ordered by the entry time.
        response_due_ms: optional_num(&f, "due")?.unwrap_or(queued_at_ms),
        // Before placements the queue was ordered by the due time, all actionable.
        queue_score: match optional_num(&f, "score")? {
            Some(score) => score,
            None => optional_num(&f, "due")?.unwrap_or(queued_at_ms),
        },
        actionable: optional(&f, "actionable")?.is_none_or(|a| a != "0"),
        sla: optional(&f, "sla")?.unwrap_or_default(),
        velocity_milli: optional_num(&f, "velocity")?.unwrap_or(ONE),
        transfers: optional_num(&f, "transfers")?.unwrap_or(0),
        requeued_version: optional_num(&f, "requeued_version")?.unwrap_or(0),
        skill_history: skill_history(&optional(&f, "skills")?.unwrap_or_default())?,
        record_version,
    }))
}

/// Forward-compatible: a status written by a newer version is [`RouteStatus::Newer`], not an
/// error; an empty one is corrupt.
pub(super) fn route_status(text: &str) -> Result<RouteStatus, StoreError> {
    match text {
        "queued" => Ok(RouteStatus::Queued),
        "offered" => Ok(RouteStatus::Offered),
        "assigned" => Ok(RouteStatus::Assigned),
        "closed" => Ok(RouteStatus::Closed),
        "" => Err(corrupt("route.status is empty")),
        _ => Ok(RouteStatus::Newer),
    }
}

/// The `skills` field: newline-separated `<at> <reason> <skill>` steps (see prelude.lua).
fn skill_history(text: &str) -> Result<Vec<SkillStep>, StoreError> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, ' ');
            let (Some(at), Some(reason), Some(skill)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(corrupt(format!("route.skills: step {line:?}")));
            };
            Ok(SkillStep {
                skill_id: skill.to_owned(),
                reason: QueueReason::parse(reason),
                at_ms: parse(at, "route.skills step time")?,
            })
        })
        .collect()
}

/// A space-separated list of ids (ids hold no spaces).
fn ids(text: &str) -> Vec<String> {
    text.split(' ').filter(|id| !id.is_empty()).map(str::to_owned).collect()
}

fn optional(f: &Fields, field: &str) -> Result<Option<String>, StoreError> {
    if f.has(field) {
        f.str(field).map(Some)
    } else {
        Ok(None)
    }
}

fn optional_num<T: std::str::FromStr>(f: &Fields, field: &str) -> Result<Option<T>, StoreError> {
    if f.has(field) {
        f.num(field).map(Some)
    } else {
        Ok(None)
    }
}
