//! The engine's timed outcomes (on the durable timers of the skill's sweep shard) and offer
//! events: an offer that rang out (R6.5), a suggested agent that did not take its transfer in
//! time (R12.6), and the events that tell agents about offers.

use switchyard_kit::{config::keys, envelope, ServiceError};
use switchyard_platform::store::{ExpireOutcome, OfferTerms, RouteStatus};
use switchyard_proto::events::v1::{envelope::Body, ConversationOffered, OfferEnded};

use super::Engine;

/// R6.5: how the account's ACD mode offers a conversation (None: auto-accept).
pub(super) fn offer_terms(config: &switchyard_routing::RoutingConfig, now_ms: i64) -> Option<OfferTerms> {
    let ring_all = match config.account.acd_mode {
        switchyard_routing::AcdMode::AutoAccept => return None,
        switchyard_routing::AcdMode::RingOne => false,
        switchyard_routing::AcdMode::RingAll => true,
    };
    Some(OfferTerms { ring_all, expires_at_ms: now_ms + config.account.ring_timeout_ms as i64 })
}

impl Engine {
    /// R12.6: the suggested agent did not take the conversation within the skill's maximum
    /// wait: any agent of the skill may now. Returns the skill to run a pass on.
    pub async fn suggested_agent_timed_out(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<String>, ServiceError> {
        let now = self.platform.clock.now_ms();
        let skill = self.platform.store.drop_suggested_agent(account_id, conversation_id, now).await?;
        if let Some(skill) = &skill {
            tracing::info!(account_id, conversation_id, skill_id = %skill, "suggested agent timed out; any agent of the skill may take it");
            self.sweep.schedule(account_id, skill).await?;
        }
        Ok(skill)
    }

    /// R6.5: an offer of the conversation rang out (its durable timer): back to its queue, the
    /// agents it rang for told and kept from it for the reject cooldown. Returns the skill to
    /// run a pass on, or None when the offer was answered (or renewed) meanwhile.
    pub async fn expire_offer(&self, account_id: &str, conversation_id: &str) -> Result<Option<String>, ServiceError> {
        let store = &self.platform.store;
        let Some(route) = store.route(account_id, conversation_id).await? else { return Ok(None) };
        let now = self.platform.clock.now_ms();
        if route.status != RouteStatus::Offered {
            return Ok(None);
        }
        let config = self.platform.routing.get(account_id).await?;
        let cooldown = config.account.reject_cooldown_ms as i64;
        match store.expire_offer(account_id, conversation_id, &route.offer_id, now, cooldown).await? {
            ExpireOutcome::Requeued { skill_id, agents } => {
                for agent in &agents {
                    self.offer_ended(account_id, conversation_id, &route.offer_id, agent, "expired").await?;
                }
                self.sweep.schedule(account_id, &skill_id).await?;
                Ok(Some(skill_id))
            }
            ExpireOutcome::Gone => Ok(None),
        }
    }

    pub(super) async fn publish_offer(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        offer_id: &str,
        agents: &[String],
        expires_at_ms: i64,
    ) -> Result<(), ServiceError> {
        let body = Body::ConversationOffered(ConversationOffered {
            conversation_id: conversation_id.to_owned(),
            offer_id: offer_id.to_owned(),
            agent_ids: agents.to_vec(),
            skill_id: skill_id.to_owned(),
            expires_at_ms,
        });
        let env = envelope::with_id(format!("offered:{offer_id}"), account_id, self.platform.clock.now_ms(), body);
        let key = keys::conversation(account_id, conversation_id);
        let service = crate::metrics::SERVICE;
        metrics::counter!(crate::metrics::OFFERED, service.0 => service.1).increment(1);
        envelope::publish(&*self.platform.bus, &self.platform.topics.assignments, key, &env).await.map_err(Into::into)
    }

    async fn offer_ended(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        agent_id: &str,
        outcome: &str,
    ) -> Result<(), ServiceError> {
        let body = Body::OfferEnded(OfferEnded {
            conversation_id: conversation_id.to_owned(),
            offer_id: offer_id.to_owned(),
            agent_id: agent_id.to_owned(),
            outcome: outcome.to_owned(),
        });
        let id = format!("offer-ended:{offer_id}:{agent_id}");
        let env = envelope::with_id(id, account_id, self.platform.clock.now_ms(), body);
        let key = keys::conversation(account_id, conversation_id);
        envelope::publish(&*self.platform.bus, &self.platform.topics.assignments, key, &env).await.map_err(Into::into)
    }
}
