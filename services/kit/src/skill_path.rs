//! How a conversation came to its skill (R4.2, R5.7), as agents see it in an assignment and
//! managers in ExplainRouting: the selection at open (kept on the conversation record by the
//! connectors), then every later change (kept on the route by the router).

use switchyard_platform::store::{ConversationRecord, QueueReason, Route};
use switchyard_proto::agent::v1::SkillStep;

/// The selection at open, then the route's skill changes after its first queueing.
pub fn of(record: &ConversationRecord, route: Option<&Route>) -> Vec<SkillStep> {
    let opened = SkillStep {
        skill_id: record.skill_id.clone(),
        reason: if record.skill_reason.is_empty() { "requested".into() } else { record.skill_reason.clone() },
        detail: record.skill_detail.clone(),
        at_ms: record.opened_at_ms,
    };
    let later =
        route.into_iter().flat_map(|r| r.skill_history.iter()).filter(|s| s.reason != QueueReason::New).map(|s| {
            SkillStep {
                skill_id: s.skill_id.clone(),
                reason: s.reason.as_str().to_owned(),
                detail: String::new(),
                at_ms: s.at_ms,
            }
        });
    std::iter::once(opened).chain(later).collect()
}
