//! Returning an assigned conversation to its skill's queue from capacity (a logout's grace ran
//! out, an unanswered consumer under auto unassign): a `RouteConversation` command on
//! `routing`, keyed by the skill, for that assignment only (`assignment_version`), avoiding
//! the agent (R6.4). The router applies it like a back-to-queue; a repeat of the same command
//! (same event id) changes nothing.

use switchyard_kit::{config::keys, envelope, Platform, ServiceError};
use switchyard_platform::store::Route;
use switchyard_proto::events::v1::{envelope::Body, RouteConversation};

/// The command that returns `route` (assigned to its agent) to its queue with `reason`.
pub(crate) fn command(route: &Route, now_ms: i64, reason: &str) -> RouteConversation {
    RouteConversation {
        conversation_id: route.conversation_id.clone(),
        skill_id: route.skill_id.clone(),
        queued_at_ms: now_ms,
        avoid_agent_id: route.agent_id.clone(),
        assignment_version: route.version,
        reason: reason.into(),
        ..Default::default()
    }
}

/// Publishes `cmd` with the event id `<what>:<conversation>:<assignment version>`.
pub(crate) async fn publish(
    platform: &Platform,
    account_id: &str,
    what: &str,
    cmd: RouteConversation,
) -> Result<(), ServiceError> {
    let id = format!("{what}:{}:{}", cmd.conversation_id, cmd.assignment_version);
    let key = keys::skill(account_id, &cmd.skill_id);
    let env = envelope::with_id(id, account_id, platform.clock.now_ms(), Body::RouteConversation(cmd));
    Ok(envelope::publish(&*platform.bus, &platform.topics.routing, key, &env).await?)
}
