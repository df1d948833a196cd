//! System messages on automessages' behalf (R14.6): connectors stays the one writer of
//! transcripts and outboxes, so automessages asks and connectors appends, as Party SYSTEM,
//! once per dedupe id for the conversation's life. A system message changes neither the
//! pending side (the store's rule), nor the response due time (the router reads consumer
//! messages only), nor auto-close activity (agents' messages only, R13.6).

use switchyard_kit::ServiceError;
use switchyard_platform::store::ConversationStatus;
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::SystemMessageRequested;

use crate::edge::Edge;

/// System messages appended, and requests dropped (closed, gone or invalid), by outcome (appended, closed, full, gone).
pub const SYSTEM_MESSAGES_TOTAL: &str = "switchyard_connectors_system_messages_total";

impl Edge {
    /// Appends the requested system message (validated with every event, `envelope::validate`)
    /// unless the conversation closed (or expired) or a message with its dedupe id is in the
    /// transcript already.
    pub async fn append_system_message(
        &self,
        account_id: &str,
        request: &SystemMessageRequested,
    ) -> Result<(), ServiceError> {
        let conversation = request.conversation_id.as_str();
        let Some(record) = self.platform.store.get_conversation(account_id, conversation).await? else {
            return count("gone");
        };
        if record.status != ConversationStatus::Open {
            return count("closed");
        }
        let mut message = self.party_message(Party::System, "", request.text.clone());
        message.dedupe_id = request.dedupe_id.clone();
        match self.append_and_publish(account_id, &record, message, None).await {
            Ok(_) => count("appended"),
            // Closed between the read and the append, or full: nothing a retry changes.
            Err(ServiceError::FailedPrecondition(_)) => count("closed"),
            Err(ServiceError::ResourceExhausted(_)) => count("full"),
            Err(err) => Err(err),
        }
    }
}

fn count(outcome: &'static str) -> Result<(), ServiceError> {
    metrics::counter!(SYSTEM_MESSAGES_TOTAL, "service" => "connectors", "outcome" => outcome).increment(1);
    Ok(())
}
