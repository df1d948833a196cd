//! Router metric names (`switchyard_router_*`). Every series carries `service="router"`.

pub const QUEUED: &str = "switchyard_router_conversations_queued_total";
pub const ASSIGNED: &str = "switchyard_router_conversations_assigned_total";
pub const CLAIM_REFUSED: &str = "switchyard_router_claims_refused_total";
pub const QUEUE_WAIT: &str = "switchyard_router_queue_wait_seconds";
pub const SKILL_ACTORS: &str = "switchyard_router_skill_actors";
pub const REQUEUED: &str = "switchyard_router_conversations_requeued_total";
pub const OFFERED: &str = "switchyard_router_offers_total";
pub const FALLBACK: &str = "switchyard_router_conversations_rerouted_total";

/// The `service` label every router series carries.
pub const SERVICE: (&str, &str) = ("service", "router");

pub fn describe() {
    metrics::describe_counter!(QUEUED, "Conversations put in a skill queue");
    metrics::describe_counter!(ASSIGNED, "Conversations assigned to an agent");
    metrics::describe_counter!(CLAIM_REFUSED, "Claims refused because the agent was full or unavailable");
    metrics::describe_histogram!(QUEUE_WAIT, metrics::Unit::Seconds, "Time from queueing to assignment");
    metrics::describe_gauge!(SKILL_ACTORS, "Skill queue actors running in this replica");
    metrics::describe_counter!(REQUEUED, "Conversations returned to a queue, by reason");
    metrics::describe_counter!(OFFERED, "Conversations offered to agents (ring-one or ring-all, R6.5)");
    metrics::describe_counter!(
        FALLBACK,
        "Conversations given to an agent of another skill: fallback or unassigned skill, by reason"
    );
}
