//! GetResponseTime: a conversation's expected time to response (ETTR) as the consumer is told
//! it (R10.4, R10.8, R10.10-R10.12), for automatic messages' `{expectedResponseTime}`. The due
//! time is the one the queue orders by while queued or offered; once assigned, a consumer
//! message after the queue stay restarts the count (R10.4) in working hours, except before a
//! manual response time (R10.8).

use switchyard_hours::Timestamp;
pub use switchyard_kit::response_time::expected_response;
use switchyard_kit::{validate, Platform, ServiceError};
use switchyard_proto::admin::v1::{GetResponseTimeRequest, GetResponseTimeResponse};
use switchyard_routing::MANUAL_SLA;

use crate::error::RouterError;
use crate::hours_proto::{delay_to, rfc3339};

pub async fn get(platform: &Platform, req: GetResponseTimeRequest) -> Result<GetResponseTimeResponse, ServiceError> {
    validate::id("account_id", &req.account_id)?;
    validate::id("conversation_id", &req.conversation_id)?;
    let store = &platform.store;
    let (account, conversation) = (req.account_id.as_str(), req.conversation_id.as_str());
    let (record, route) =
        futures::try_join!(store.get_conversation(account, conversation), store.route(account, conversation))?;
    // Another account's conversation is not found either (invariant 7).
    let Some(record) = record else {
        return Err(RouterError::ConversationNotFound(req.conversation_id).into());
    };
    let config = platform.routing.get(account).await?;
    let now_ms = platform.clock.now_ms();
    let skill_id = route.as_ref().map_or_else(|| record.skill_id.clone(), |r| r.skill_id.clone());
    let mut reply = GetResponseTimeResponse { now_ms, skill_id, ..Default::default() };
    let Some((due_ms, sla)) = expected_response(&config, &record, route.as_ref()) else { return Ok(reply) };
    // R10.8: a manual response time overrides the delay; otherwise R11.12's closed period.
    if sla != MANUAL_SLA {
        let now = Timestamp::from_millisecond(now_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        reply.delay = config.schedule(&reply.skill_id).closed_period(now).map(delay_to);
    }
    reply.due = true;
    reply.due_ms = due_ms;
    reply.due_at = Timestamp::from_millisecond(due_ms).map(rfc3339).unwrap_or_default();
    reply.remaining_ms = due_ms.saturating_sub(now_ms);
    reply.sla = sla;
    Ok(reply)
}
