//! The audit trail: every successful admin change (the rows marked `audited` in the table)
//! becomes a record in the account's trail in the store (read by `ListAuditEvents`) and an
//! event on the `audit` topic (key: the account), written once the change has answered OK.

use std::sync::Arc;

use prost::Message;
use switchyard_platform::bus::Record;
use switchyard_platform::store::AuditRecord;
use switchyard_platform::{EventBus, StateStore};

use crate::role::Principal;

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Writes audit records.
#[derive(Clone)]
pub struct AuditSink {
    store: Arc<dyn StateStore>,
    bus: Arc<dyn EventBus>,
    topic: String,
    keep: usize,
}

/// What an admin change will record when it succeeds.
pub(crate) struct Ticket {
    pub(crate) principal: Principal,
    pub(crate) method: &'static str,
    pub(crate) request: String,
}

impl AuditSink {
    pub(crate) fn new(store: Arc<dyn StateStore>, bus: Arc<dyn EventBus>, topic: String, keep: usize) -> Self {
        Self { store, bus, topic, keep }
    }

    pub(crate) async fn record(&self, ticket: Ticket) {
        let record = AuditRecord {
            event_id: uuid::Uuid::now_v7().to_string(),
            account_id: ticket.principal.account_id.clone(),
            at_ms: now_ms(),
            actor: ticket.principal.subject.clone(),
            credential: ticket.principal.credential.to_string(),
            roles: ticket.principal.roles.iter().map(|r| r.name().to_owned()).collect(),
            rpc: ticket.method.to_owned(),
            request: ticket.request,
        };
        if let Err(err) = self.store.append_audit(&record, self.keep).await {
            tracing::error!(account = %record.account_id, rpc = %record.rpc, error = %err, "audit record not stored");
        }
        let event = to_proto(&record);
        let publish = Record::new(self.topic.clone(), record.account_id.clone(), event.encode_to_vec());
        if let Err(err) = self.bus.publish(publish).await {
            tracing::error!(account = %record.account_id, rpc = %record.rpc, error = %err, "audit event not published");
        }
    }
}

pub fn to_proto(record: &AuditRecord) -> switchyard_proto::auth::v1::AuditEvent {
    switchyard_proto::auth::v1::AuditEvent {
        event_id: record.event_id.clone(),
        at_ms: record.at_ms,
        actor: record.actor.clone(),
        credential: record.credential.clone(),
        roles: record.roles.clone(),
        rpc: record.rpc.clone(),
        request: record.request.clone(),
    }
}
