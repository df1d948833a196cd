//! Offers (R6.5) and transfers to an agent (R12.6) on Redis: the accept, reject and expiry
//! scripts, and dropping a suggested agent whose time ran out.

use super::*;

impl RedisStore {
    pub(super) async fn run_accept_offer(&self, a: &OfferAnswer) -> Result<AcceptOutcome, StoreError> {
        let mut inv = self.scripts.accept_offer.prepare_invoke();
        inv.key(self.key(&a.account_id, "route", &a.conversation_id))
            .key(self.akey(&a.account_id, "unannounced"))
            .arg(self.base(&a.account_id))
            .arg(&a.conversation_id)
            .arg(&a.offer_id)
            .arg(&a.agent_id)
            .arg(a.now_ms);
        let what = "accept_offer";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "accepted" => {
                let version = integer(next(&mut rest, what)?, what)?;
                let skill_id = string(next(&mut rest, what)?, what)?;
                let rescinded = rest.map(|a| string(a, what)).collect::<Result<Vec<_>, _>>()?;
                Ok(AcceptOutcome::Accepted { version, skill_id, rescinded })
            }
            "already" => {
                let version = parse(&string(next(&mut rest, what)?, what)?, what)?;
                Ok(AcceptOutcome::AlreadyAccepted { version, skill_id: string(next(&mut rest, what)?, what)? })
            }
            "gone" => Ok(AcceptOutcome::Gone),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    pub(super) async fn run_reject_offer(
        &self,
        a: &OfferAnswer,
        cooldown_ms: i64,
    ) -> Result<RejectOutcome, StoreError> {
        let mut inv = self.scripts.reject_offer.prepare_invoke();
        inv.key(self.key(&a.account_id, "route", &a.conversation_id))
            .arg(self.base(&a.account_id))
            .arg(&a.conversation_id)
            .arg(&a.offer_id)
            .arg(&a.agent_id)
            .arg(a.now_ms)
            .arg(cooldown_ms.max(0));
        let what = "reject_offer";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "requeued" => Ok(RejectOutcome::Requeued { skill_id: string(next(&mut rest, what)?, what)? }),
            "ringing" => Ok(RejectOutcome::StillRinging),
            "gone" => Ok(RejectOutcome::Gone),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    pub(super) async fn run_expire_offer(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        now_ms: i64,
        cooldown_ms: i64,
    ) -> Result<ExpireOutcome, StoreError> {
        let mut inv = self.scripts.expire_offer.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(offer_id)
            .arg(now_ms)
            .arg(cooldown_ms.max(0));
        let what = "expire_offer";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "expired" => {
                let skill_id = string(next(&mut rest, what)?, what)?;
                let agents = rest.map(|a| string(a, what)).collect::<Result<Vec<_>, _>>()?;
                Ok(ExpireOutcome::Requeued { skill_id, agents })
            }
            "gone" => Ok(ExpireOutcome::Gone),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    pub(super) async fn run_drop_suggested(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut inv = self.scripts.drop_suggested.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(now_ms);
        match self.run(&inv).await? {
            Value::Nil => Ok(None),
            skill => Ok(Some(string(skill, "drop_suggested_agent")?)),
        }
    }
}
