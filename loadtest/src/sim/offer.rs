//! A simulated agent's side of offers (`routing.acd_mode` ring-one or ring-all): each offer
//! is accepted after `script.agent_think`, rejected, or left to ring out, as
//! [`crate::offers::answer`] decides from the seed; `OfferEnded` is counted by reason. An
//! accept answered FAILED_PRECONDITION lost a race (another agent accepted first, or the offer
//! rang out meanwhile) and a reject answered so came too late: both are counted, not failures.
//! What happened goes to the run's [`Tally`], which the offer audit judges.

use std::collections::HashSet;
use std::sync::{Arc, MutexGuard, PoisonError};

use switchyard_proto::agent::v1::{self as agentpb, Offer, OfferEnded};
use tonic::Code;

use super::Ctx;
use crate::offers::{self, Answer, Tally};
use crate::retry::Idempotence;

impl Ctx {
    /// The offer tally; a panic elsewhere while it was held does not hide what it holds.
    pub(super) fn offers(&self) -> MutexGuard<'_, Tally> {
        self.offers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The harness is about to log the agent in: the first time counts for the audit.
pub(super) fn logging_in(ctx: &Ctx, me: usize) {
    let info = &ctx.agents[me];
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    ctx.offers().first_login_ms.entry(Tally::login_key(info.account, &info.id)).or_insert(now_ms);
}

/// An offer arrived on the agent's stream (live, or again in the snapshot of a new stream:
/// `seen` holds the offers this agent already answered, and a repeat is not answered twice).
pub(super) fn offered(ctx: &Arc<Ctx>, me: usize, offer: Offer, logged_in: bool, seen: &mut HashSet<String>) {
    if !seen.insert(offer.offer_id.clone()) {
        return;
    }
    let info = &ctx.agents[me];
    let decide = ctx.scenario.offers.as_ref().map_or((0.0, 0.0), |o| (o.reject_share, o.ignore_share));
    let answer = offers::answer(ctx.scenario.seed, &info.id, &offer.offer_id, decide.0, decide.1);
    {
        let mut tally = ctx.offers();
        tally.received += 1;
        if !logged_in {
            tally.while_logged_out.push(format!("{} ({})", info.id, offer.offer_id));
        }
        if answer == Answer::Ignore {
            tally.ignored += 1;
        }
    }
    if answer != Answer::Ignore {
        tokio::spawn(answer_offer(ctx.clone(), me, offer, answer));
    }
}

/// The offer no longer rings for this agent.
pub(super) fn ended(ctx: &Ctx, ended: &OfferEnded) {
    let mut tally = ctx.offers();
    match ended.reason.as_str() {
        "expired" => tally.ended_expired += 1,
        "rescinded" => tally.ended_rescinded += 1,
        "rejected" => tally.ended_rejected += 1,
        _ => {}
    }
}

/// Thinks, then accepts or rejects.
async fn answer_offer(ctx: Arc<Ctx>, me: usize, offer: Offer, answer: Answer) {
    tokio::time::sleep(ctx.scenario.script.agent_think).await;
    let info = &ctx.agents[me];
    let account_id = ctx.accounts[info.account as usize].clone();
    let (agent_id, offer_id) = (info.id.clone(), offer.offer_id.clone());
    let (method, answered) = if answer == Answer::Accept {
        let request = agentpb::AcceptOfferRequest { account_id, agent_id, offer_id };
        // A retried accept of the winner answers OK again.
        let answered = ctx
            .call("AcceptOffer", Idempotence::Idempotent, || {
                let (mut client, request) = (ctx.agent_client(me), request.clone());
                async move { client.accept_offer(request).await }
            })
            .await;
        ("AcceptOffer", answered.map(drop))
    } else {
        let request = agentpb::RejectOfferRequest { account_id, agent_id, offer_id };
        let answered = ctx
            .call("RejectOffer", Idempotence::Idempotent, || {
                let (mut client, request) = (ctx.agent_client(me), request.clone());
                async move { client.reject_offer(request).await }
            })
            .await;
        ("RejectOffer", answered.map(drop))
    };
    let mut tally = ctx.offers();
    match (answer, answered) {
        (Answer::Accept, Ok(())) => {
            tally.accepted += 1;
            tally.accepts.entry(offer.conversation_id).or_default().insert(info.id.clone());
        }
        (_, Ok(())) => tally.rejected += 1,
        (Answer::Accept, Err(status)) if status.code() == Code::FailedPrecondition => tally.lost_accept_races += 1,
        (_, Err(status)) if status.code() == Code::FailedPrecondition => tally.late_rejects += 1,
        (_, Err(status)) => {
            drop(tally);
            ctx.recorder.failed(method, &status);
        }
    }
}
