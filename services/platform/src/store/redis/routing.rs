//! Accounts and skills, queues and routes, and the arbiter scripts, on Redis.

use super::routing_config::ROUTING_CONFIG;
use super::*;

impl RedisStore {
    /// R6.2 (3): who served a consumer is kept no longer than the consumer is remembered at all
    /// (`Retention::consumer_ms`).
    fn history_window(&self, window_ms: i64) -> i64 {
        window_ms.clamp(0, self.retention.consumer_ms)
    }
}

#[async_trait]
impl RoutingStore for RedisStore {
    async fn create_account(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let reply =
            self.query(::redis::cmd("HSETNX").arg(self.akey(account_id, "account")).arg("name").arg(name)).await?;
        Ok(integer::<i64>(reply, "HSETNX")? == 1)
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool, StoreError> {
        let reply = self.query(::redis::cmd("EXISTS").arg(self.akey(account_id, "account"))).await?;
        Ok(integer::<i64>(reply, "EXISTS")? == 1)
    }

    async fn create_skill(&self, account_id: &str, skill: &SkillRecord) -> Result<bool, StoreError> {
        let reply = self
            .query(::redis::cmd("HSETNX").arg(self.akey(account_id, "skills")).arg(&skill.skill_id).arg(&skill.name))
            .await?;
        Ok(integer::<i64>(reply, "HSETNX")? == 1)
    }

    async fn list_skills(&self, account_id: &str) -> Result<Vec<SkillRecord>, StoreError> {
        let reply = self.query(::redis::cmd("HGETALL").arg(self.akey(account_id, "skills"))).await?;
        let mut skills = hash(reply, "skills")?
            .into_iter()
            .map(|(skill_id, name)| {
                let name = String::from_utf8(name).map_err(|_| corrupt("skill name: not UTF-8"))?;
                Ok(SkillRecord { skill_id, name })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        skills.sort_by(|a, b| a.skill_id.cmp(&b.skill_id));
        Ok(skills)
    }

    async fn skill_exists(&self, account_id: &str, skill_id: &str) -> Result<bool, StoreError> {
        let reply = self.query(::redis::cmd("HEXISTS").arg(self.akey(account_id, "skills")).arg(skill_id)).await?;
        Ok(integer::<i64>(reply, "HEXISTS")? == 1)
    }

    async fn routing_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        self.read_config_doc(account_id, ROUTING_CONFIG).await
    }

    async fn routing_config_revision(&self, account_id: &str) -> Result<u64, StoreError> {
        self.read_config_revision(account_id, ROUTING_CONFIG).await
    }

    async fn save_routing_config(&self, account_id: &str, expected: u64, doc: Bytes) -> Result<ConfigSave, StoreError> {
        self.run_save_config(account_id, ROUTING_CONFIG, expected, doc).await
    }

    async fn enqueue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        queued_at_ms: i64,
        placement: &Placement,
    ) -> Result<EnqueueOutcome, StoreError> {
        self.mark_account_active(account_id).await?;
        let mut inv = self.scripts.enqueue.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.key(account_id, "queue", skill_id))
            .key(self.akey(account_id, "active-skills"))
            .key(self.key(account_id, "conv", conversation_id))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(skill_id)
            .arg(queued_at_ms)
            .arg(placement.due_ms)
            .arg(placement.score)
            .arg(flag_arg(placement.actionable))
            .arg(&placement.sla)
            .arg(placement.velocity_milli)
            .arg(&placement.agent_group);
        let what = "enqueue";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "queued" => Ok(EnqueueOutcome::Queued),
            "unchanged" => Ok(EnqueueOutcome::Unchanged(route_status(&string(next(&mut rest, what)?, what)?)?)),
            "not_open" => Ok(EnqueueOutcome::NotOpen),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn queue_head(&self, account_id: &str, skill_id: &str, limit: usize) -> Result<Vec<QueueEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let stop = i64::try_from(limit - 1).unwrap_or(i64::MAX);
        let mut inv = self.scripts.queue_head.prepare_invoke();
        inv.key(self.key(account_id, "queue", skill_id)).arg(self.base(account_id)).arg(stop);
        let what = "queue_head";
        let mut items = array(self.run(&inv).await?, what)?.into_iter();
        let mut out = Vec::new();
        while let Some(conversation) = items.next() {
            let conversation_id = string(conversation, what)?;
            let score = integral_score(&string(next(&mut items, what)?, what)?)?;
            let queued_at_ms = integral_score(&string(next(&mut items, what)?, what)?)?;
            let response_due_ms = integral_score(&string(next(&mut items, what)?, what)?)?;
            let actionable = string(next(&mut items, what)?, what)? != "0";
            let sla = string(next(&mut items, what)?, what)?;
            let velocity_milli = parse(&string(next(&mut items, what)?, what)?, what)?;
            let avoid_agent_id = string(next(&mut items, what)?, what)?;
            let reason = QueueReason::parse(&string(next(&mut items, what)?, what)?);
            let agent_group = string(next(&mut items, what)?, what)?;
            let suggested_agent_id = string(next(&mut items, what)?, what)?;
            out.push(QueueEntry {
                suggested_agent_id,
                reason,
                agent_group,
                conversation_id,
                response_due_ms,
                score,
                actionable,
                sla,
                velocity_milli,
                queued_at_ms,
                avoid_agent_id,
            });
        }
        Ok(out)
    }

    async fn replace_in_queue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        placement: &Placement,
        why: Replacement,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut inv = self.scripts.replace_in_queue.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.key(account_id, "queue", skill_id))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(skill_id)
            .arg(placement.due_ms)
            .arg(placement.score)
            .arg(flag_arg(placement.actionable))
            .arg(&placement.sla)
            .arg(placement.velocity_milli)
            .arg(now_ms)
            .arg(why.as_str())
            .arg(flag_arg(why.queued_only()));
        Ok(integer::<i64>(self.run(&inv).await?, "replace_in_queue")? == 1)
    }

    async fn routing_log(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<(Vec<RoutingEvent>, Option<RoutingEvent>), StoreError> {
        let mut pipe = ::redis::pipe();
        pipe.cmd("LRANGE").arg(self.key(account_id, "explain", conversation_id)).arg(0).arg(-1);
        pipe.cmd("HGET").arg(self.key(account_id, "route", conversation_id)).arg("last_pass");
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        let what = "routing_log";
        let log = array(next(&mut replies, what)?, what)?
            .into_iter()
            .map(|entry| decode_routing_event(&bytes(entry, what)?))
            .collect::<Result<Vec<_>, _>>()?;
        let last =
            optional_bytes(next(&mut replies, what)?, what)?.map(|raw| decode_routing_event(&raw)).transpose()?;
        Ok((log, last))
    }

    async fn queue_depth(&self, account_id: &str, skill_id: &str) -> Result<u64, StoreError> {
        let reply = self.query(::redis::cmd("ZCARD").arg(self.key(account_id, "queue", skill_id))).await?;
        integer(reply, "ZCARD")
    }

    /// The account's `active-skills` set holds exactly the skills with a non-empty queue (the
    /// queue scripts keep it in step): one SMISMEMBER.
    async fn any_queued(&self, account_id: &str, skill_ids: &[String]) -> Result<bool, StoreError> {
        if skill_ids.is_empty() {
            return Ok(false);
        }
        let reply =
            self.query(::redis::cmd("SMISMEMBER").arg(self.akey(account_id, "active-skills")).arg(skill_ids)).await?;
        let members = array(reply, "SMISMEMBER")?;
        members.into_iter().try_fold(false, |any, m| Ok(any || integer::<i64>(m, "SMISMEMBER")? == 1))
    }

    async fn route(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, StoreError> {
        let reply = self.query(::redis::cmd("HGETALL").arg(self.key(account_id, "route", conversation_id))).await?;
        decode_route(conversation_id, reply)
    }

    async fn unannounced(&self, claimed_before_ms: i64, limit: usize) -> Result<Vec<(String, Route)>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.active_accounts_key())).await?;
        let accounts = array(reply, "active accounts")?
            .into_iter()
            .map(|a| string(a, "active account"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut due: Vec<(i64, String, Route)> = Vec::new();
        for account in &accounts {
            for (at, route) in self.pending_claims(account, claimed_before_ms, limit).await? {
                due.push((at, account.clone(), route));
            }
        }
        due.sort_by(|a, b| (a.0, &a.1, &a.2.conversation_id).cmp(&(b.0, &b.1, &b.2.conversation_id)));
        Ok(due.into_iter().take(limit).map(|(_, account, route)| (account, route)).collect())
    }

    async fn unannounced_of(&self, account_id: &str, limit: usize) -> Result<Vec<(i64, Route)>, StoreError> {
        self.pending_claims(account_id, i64::MAX, limit).await
    }

    async fn announced(&self, account_id: &str, conversation_id: &str, version: u64) -> Result<(), StoreError> {
        let mut inv = self.scripts.announced.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.akey(account_id, "unannounced"))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(version);
        self.run(&inv).await.map(|_| ())
    }

    async fn active_skills(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.read_active_skills().await
    }

    async fn claim(&self, c: &Claim) -> Result<ClaimOutcome, StoreError> {
        let a = c.account_id.as_str();
        let mut inv = self.scripts.claim.prepare_invoke();
        inv.key(self.key(a, "route", &c.conversation_id))
            .key(self.key(a, "conv", &c.conversation_id))
            .key(self.key(a, "agent", &c.agent_id))
            .key(self.key(a, "agent-skills", &c.agent_id))
            .key(self.key(a, "agent-load", &c.agent_id))
            .key(self.key(a, "queue", &c.skill_id))
            .key(self.akey(a, "active-skills"))
            .key(self.akey(a, "unannounced"))
            .arg(self.base(a))
            .arg(&c.conversation_id)
            .arg(&c.skill_id)
            .arg(&c.agent_id)
            .arg(c.weight)
            .arg(c.headroom)
            .arg(c.now_ms)
            .arg(ONE)
            .arg(self.history_window(c.history_window_ms))
            .arg(c.max_open);
        warmup_args(&mut inv, c.warmup);
        let what = "claim";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "claimed" => Ok(ClaimOutcome::Claimed { version: integer(next(&mut rest, what)?, what)? }),
            "gone" => Ok(ClaimOutcome::ConversationGone),
            "unavailable" => Ok(ClaimOutcome::AgentUnavailable),
            "full" => Ok(ClaimOutcome::AgentFull),
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn claim_best(&self, c: &BestClaim) -> Result<BestOutcome, StoreError> {
        let a = c.account_id.as_str();
        let mut inv = self.scripts.claim_best.prepare_invoke();
        inv.key(self.key(a, "route", &c.conversation_id))
            .key(self.key(a, "conv", &c.conversation_id))
            .key(self.key(a, "queue", &c.skill_id))
            .key(self.akey(a, "active-skills"))
            .key(self.akey(a, "unannounced"))
            .key(self.key(a, "avail", if c.via_skill.is_empty() { &c.skill_id } else { &c.via_skill }))
            .arg(self.base(a))
            .arg(&c.conversation_id)
            .arg(&c.skill_id)
            .arg(c.weight)
            .arg(c.headroom)
            .arg(c.now_ms)
            .arg(c.scan.max(1))
            .arg(&c.via_skill)
            .arg(c.via_reason.as_str())
            .arg(self.history_window(c.history_window_ms));
        match &c.offer {
            None => inv.arg("assign").arg(0),
            Some(terms) => inv.arg(if terms.ring_all { "ring_all" } else { "ring_one" }).arg(terms.expires_at_ms),
        };
        inv.arg(c.max_open);
        warmup_args(&mut inv, c.warmup);
        for group in &c.groups {
            inv.arg(group);
        }
        let what = "claim_best";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "claimed" => {
                let agent_id = string(next(&mut rest, what)?, what)?;
                Ok(BestOutcome::Claimed { agent_id, version: integer(next(&mut rest, what)?, what)? })
            }
            "gone" => Ok(BestOutcome::ConversationGone),
            "offered" => {
                let offer_id = string(next(&mut rest, what)?, what)?;
                let agents = rest.map(|a| string(a, what)).collect::<Result<Vec<_>, _>>()?;
                Ok(BestOutcome::Offered { offer_id, agents })
            }
            "none" => {
                let mut passed = Vec::new();
                while let Some(agent) = rest.next() {
                    let reason = match string(next(&mut rest, what)?, what)?.as_str() {
                        "full" => PassReason::Full,
                        "avoided" => PassReason::Avoided,
                        "unavailable" => PassReason::Unavailable,
                        "other_group" => PassReason::OtherGroup,
                        "rejected" => PassReason::Rejected,
                        "suggested_only" => PassReason::SuggestedOnly,
                        "warming_up" => PassReason::WarmingUp,
                        other => return Err(corrupt(format!("{what}: unexpected reason {other:?}"))),
                    };
                    passed.push((string(agent, what)?, reason));
                }
                Ok(BestOutcome::NoAgent { passed })
            }
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn accept_offer(&self, a: &OfferAnswer) -> Result<AcceptOutcome, StoreError> {
        self.run_accept_offer(a).await
    }

    async fn reject_offer(&self, a: &OfferAnswer, cooldown_ms: i64) -> Result<RejectOutcome, StoreError> {
        self.run_reject_offer(a, cooldown_ms).await
    }

    async fn expire_offer(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        now_ms: i64,
        cooldown_ms: i64,
    ) -> Result<ExpireOutcome, StoreError> {
        self.run_expire_offer(account_id, conversation_id, offer_id, now_ms, cooldown_ms).await
    }

    async fn drop_suggested_agent(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        self.run_drop_suggested(account_id, conversation_id, now_ms).await
    }

    async fn skill_presence(&self, account_id: &str, skill_id: &str) -> Result<SkillPresence, StoreError> {
        let mut pipe = ::redis::pipe();
        // The unassigned skill is every agent's: its holders are the account's agents.
        if skill_id == UNASSIGNED_SKILL {
            pipe.cmd("SCARD").arg(self.key(account_id, "connected", skill_id));
        } else {
            pipe.cmd("SCARD").arg(self.key(account_id, "skill-agents", skill_id));
        }
        pipe.cmd("SCARD").arg(self.key(account_id, "connected", skill_id));
        pipe.cmd("ZCARD").arg(self.key(account_id, "avail", skill_id));
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        let what = "skill_presence";
        let holders = integer(next(&mut replies, what)?, what)?;
        let connected = integer(next(&mut replies, what)?, what)?;
        let online = integer(next(&mut replies, what)?, what)?;
        Ok(SkillPresence { holders, connected, online })
    }

    async fn release(
        &self,
        account_id: &str,
        conversation_id: &str,
        _now_ms: i64,
    ) -> Result<ReleaseOutcome, StoreError> {
        let mut inv = self.scripts.release.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.akey(account_id, "active-skills"))
            .arg(self.base(account_id))
            .arg(conversation_id)
            .arg(self.retention.closed_ms);
        let what = "release";
        let (tag, mut rest) = tagged(self.run(&inv).await?, what)?;
        match tag.as_str() {
            "unchanged" => Ok(ReleaseOutcome::Unchanged),
            "left" => Ok(ReleaseOutcome::LeftQueue { skill_id: string(next(&mut rest, what)?, what)? }),
            "freed" => {
                let agent_id = string(next(&mut rest, what)?, what)?;
                let skill_id = string(next(&mut rest, what)?, what)?;
                Ok(ReleaseOutcome::FreedAgent { agent_id, skill_id })
            }
            other => Err(corrupt(format!("{what}: unexpected outcome {other:?}"))),
        }
    }

    async fn requeue(&self, r: &Requeue) -> Result<RequeueOutcome, StoreError> {
        let a = r.account_id.as_str();
        self.mark_account_active(a).await?;
        let mut inv = self.scripts.requeue.prepare_invoke();
        inv.key(self.key(a, "route", &r.conversation_id))
            .key(self.key(a, "agent-load", &r.from_agent))
            .key(self.key(a, "queue", &r.to_skill))
            .key(self.akey(a, "active-skills"))
            .arg(self.base(a))
            .arg(&r.conversation_id)
            .arg(&r.from_agent)
            .arg(&r.to_skill)
            .arg(r.now_ms)
            .arg(r.version)
            .arg(r.reason.as_str())
            .arg(flag_arg(rules::restarts_response_due(r.reason)))
            .arg(flag_arg(r.placement.is_some()));
        if let Some(p) = &r.placement {
            inv.arg(p.due_ms)
                .arg(p.score)
                .arg(flag_arg(p.actionable))
                .arg(&p.sla)
                .arg(p.velocity_milli)
                .arg(&p.agent_group);
        } else {
            inv.arg("").arg("").arg("").arg("").arg("").arg("");
        }
        inv.arg(&r.suggested_agent);
        match string(self.run(&inv).await?, "requeue")?.as_str() {
            "requeued" => Ok(RequeueOutcome::Requeued),
            "already" => Ok(RequeueOutcome::AlreadyRequeued),
            "not_assigned" => Ok(RequeueOutcome::NotAssigned),
            "closed" => Ok(RequeueOutcome::Closed),
            other => Err(corrupt(format!("requeue: unexpected outcome {other:?}"))),
        }
    }
}

/// The warm-up terms as `claim.lua` and `claim_best.lua` read them: step, period, idle (ms);
/// a step of 0 is no warm-up.
fn warmup_args(inv: &mut ::redis::ScriptInvocation<'_>, terms: Option<rules::WarmupTerms>) {
    let t = terms.unwrap_or(rules::WarmupTerms { step_ms: 0, period_ms: 0, idle_ms: 0 });
    inv.arg(t.step_ms.max(0)).arg(t.period_ms).arg(t.idle_ms);
}
