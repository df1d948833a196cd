//! Announcing assignments: each claim's event on the `assignments` topic, retried while the
//! broker is slow; a claim stays pending in the store until its own event is acknowledged, and
//! the sweep announces the ones whose claimer died in between.

use switchyard_kit::{config::keys, envelope, ServiceError};
use switchyard_proto::events::v1::{envelope::Body, ConversationAssigned};

use super::Engine;

impl Engine {
    /// Publishes the skill's assignments claimed more than `grace` ago whose event was never
    /// confirmed (the claiming process died in between). Returns how many of the skill's
    /// assignments are still unconfirmed (younger ones, or ones whose publish failed).
    pub async fn reannounce_skill(
        &self,
        account_id: &str,
        skill_id: &str,
        grace: std::time::Duration,
    ) -> Result<usize, ServiceError> {
        let cutoff = self.platform.clock.now_ms() - grace.as_millis() as i64;
        let mut pending = 0;
        for (claimed_at, route) in self.platform.store.unannounced_of(account_id, 1000).await? {
            if route.skill_id != skill_id {
                continue;
            }
            if claimed_at > cutoff {
                pending += 1;
                continue;
            }
            tracing::info!(account_id, conversation_id = %route.conversation_id, agent_id = %route.agent_id, "announcing an assignment left unannounced");
            self.announce(account_id, &route.conversation_id, &route.agent_id, &route.skill_id, route.version).await?;
        }
        Ok(pending)
    }

    /// Publishes a batch of fresh claims at once: the broker round trips overlap instead of
    /// adding up (on Kafka each one waits for the produce acknowledgement). Each claim stays
    /// pending in the store until its own event is acknowledged.
    pub(super) async fn announce_all(
        &self,
        account_id: &str,
        claims: Vec<(String, String, u64, String)>,
    ) -> Result<(), ServiceError> {
        futures::future::try_join_all(claims.iter().map(|(conversation, agent, version, skill)| {
            self.announce(account_id, conversation, agent, skill, *version)
        }))
        .await
        .map(|_| ())
    }

    /// Publishes the assignment. The event id is derived from the assignment version, so a
    /// repeat is recognised as the same event downstream.
    pub(super) async fn announce(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        skill_id: &str,
        version: u64,
    ) -> Result<(), ServiceError> {
        let body = Body::ConversationAssigned(ConversationAssigned {
            conversation_id: conversation_id.to_owned(),
            agent_id: agent_id.to_owned(),
            skill_id: skill_id.to_owned(),
            assignment_version: version,
        });
        let env = envelope::with_id(
            format!("assigned:{conversation_id}:{version}"),
            account_id,
            self.platform.clock.now_ms(),
            body,
        );
        let key = keys::conversation(account_id, conversation_id);
        let mut delay = std::time::Duration::from_millis(50);
        // The claim is already durable: keep trying so the agent hears of it. If this process
        // dies first, the claim stays pending and `reannounce` publishes it later.
        for attempt in 0..8 {
            match envelope::publish(&*self.platform.bus, &self.platform.topics.assignments, key.clone(), &env).await {
                Ok(()) => {
                    self.platform.store.announced(account_id, conversation_id, version).await?;
                    return Ok(());
                }
                Err(err) if attempt < 7 => {
                    tracing::warn!(conversation_id, error = %err, "publishing assignment failed, retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }
}
