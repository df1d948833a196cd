//! ExplainRouting: why a conversation went where it went, read from what the routing
//! operations recorded in the same step as each decision (no extra work on the hot path beyond
//! the log writes inside the scripts).

use switchyard_kit::{validate, Platform, ServiceError};
use switchyard_platform::store::{RoutingEvent, ONE};
use switchyard_proto::admin::v1::{ExplainRoutingRequest, ExplainRoutingResponse, PassedCandidate, RoutingDecision};

use crate::error::RouterError;

pub async fn explain(platform: &Platform, req: ExplainRoutingRequest) -> Result<ExplainRoutingResponse, ServiceError> {
    validate::id("account_id", &req.account_id)?;
    validate::id("conversation_id", &req.conversation_id)?;
    let store = &platform.store;
    if !store.account_exists(&req.account_id).await? {
        return Err(RouterError::AccountNotFound(req.account_id).into());
    }
    let (account, conversation) = (req.account_id.as_str(), req.conversation_id.as_str());
    let (record, route, (log, last)) = futures::try_join!(
        store.get_conversation(account, conversation),
        store.route(account, conversation),
        store.routing_log(account, conversation)
    )?;
    // Another account's conversation is not found either (invariant 7: ids are per account).
    let Some(record) = record else {
        return Err(RouterError::ConversationNotFound(req.conversation_id).into());
    };
    Ok(ExplainRoutingResponse {
        conversation_id: req.conversation_id.clone(),
        status: route.as_ref().map_or("opened", |r| r.status.as_str()).to_owned(),
        skill_id: route.as_ref().map_or_else(|| record.skill_id.clone(), |r| r.skill_id.clone()),
        agent_id: route.as_ref().map(|r| r.agent_id.clone()).unwrap_or_default(),
        skill_path: switchyard_kit::skill_path::of(&record, route.as_ref()),
        decisions: log.into_iter().map(decision).collect(),
        last_pass: last.map(decision),
        profile: record.profile.into_iter().collect(),
    })
}

fn decision(e: RoutingEvent) -> RoutingDecision {
    RoutingDecision {
        at_ms: e.at_ms,
        kind: e.kind,
        skill_id: e.skill_id,
        agent_id: e.agent_id,
        assignment_version: e.version,
        reason: e.reason,
        due_ms: e.due_ms,
        score: e.score,
        actionable: e.actionable,
        sla: e.sla,
        velocity: e.velocity_milli as f64 / ONE as f64,
        agent_group: e.agent_group,
        passed: e.passed.into_iter().map(|(agent_id, why)| PassedCandidate { agent_id, why }).collect(),
    }
}
