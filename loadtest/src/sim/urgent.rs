//! Urgent marks (R10.3) from the `[routing]` section: a share of the web conversations is
//! marked urgent by its consumer `urgent_after` after the open (`MarkUrgent`). Urgent is
//! refused on a consumer's first conversation, so at setup each of those consumers is made a
//! returning one: a prior conversation is opened and closed before any agent logs in and
//! before the partner streams open, and the outbox entries of the priors are acknowledged, so
//! the run's streams start after them and the run's agents never see them.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard_proto::common::v1::Channel as ChannelPb;
use switchyard_proto::connectors::v1 as conn;
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use tonic::Code;

use super::{consumer_id, Ctx};
use crate::auth::Conn;
use crate::retry::{self, Idempotence};
use crate::scenario::Scenario;
use crate::schedule::Planned;

type Connector<'a> = &'a dyn Fn(usize, usize) -> ConnectorServiceClient<Conn>;

/// What setup needs to know of the run (the run's context does not exist yet: the priors come
/// before the arrival clock starts).
pub(super) struct Setup<'a> {
    pub scenario: &'a Scenario,
    pub plan: &'a [Planned],
    pub accounts: &'a [String],
    pub skills: &'a [String],
    /// Proto `Channel` values by schedule channel index.
    pub channels: &'a [i32],
    /// A partner's client of an account on connection `i`: `(i, account)`.
    pub connector: Connector<'a>,
}

/// How long setup waits for the priors' closes on the outbound stream.
const PRIOR_CLOSES_WAIT: Duration = Duration::from_secs(30);

/// What the consumers' urgent marks came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UrgentTally {
    /// Marked: the conversation's response is now due within the urgent response time.
    pub marked: u64,
    /// Refused with FAILED_PRECONDITION: the agent had answered (the conversation waits for
    /// the consumer) or the conversation closed before the mark.
    pub refused: u64,
}

/// Whether the consumer of conversation `idx` marks it urgent: a web conversation, drawn with
/// the scenario's share from its own seed (so the schedule does not change).
pub(super) fn marks(scenario: &Scenario, plan: &[Planned], channels: &[i32], idx: usize) -> bool {
    let Some(routing) = &scenario.routing else { return false };
    let p = plan[idx];
    routing.urgent_share > 0.0
        && channels.get(p.channel as usize) == Some(&(ChannelPb::Web as i32))
        && StdRng::seed_from_u64(scenario.seed ^ (idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .random_bool(routing.urgent_share.clamp(0.0, 1.0))
}

/// Makes the consumers who will mark urgent returning ones (see the module). Returns how many.
pub(super) async fn returning_consumers(run: &Setup<'_>) -> anyhow::Result<usize> {
    let web = ChannelPb::Web as i32;
    let mut made = 0;
    for account in 0..run.accounts.len() {
        let consumers: Vec<usize> = (0..run.plan.len())
            .filter(|&idx| {
                run.plan[idx].account as usize == account && marks(run.scenario, run.plan, run.channels, idx)
            })
            .collect();
        if consumers.is_empty() {
            continue;
        }
        for &idx in &consumers {
            prior_conversation(run, account, idx).await?;
        }
        acknowledge_priors(run, account, web, consumers.len()).await?;
        made += consumers.len();
    }
    Ok(made)
}

async fn prior_conversation(run: &Setup<'_>, account: usize, idx: usize) -> anyhow::Result<()> {
    let p = run.plan[idx];
    let open = conn::OpenConversationRequest {
        account_id: run.accounts[account].clone(),
        channel: ChannelPb::Web as i32,
        consumer_id: consumer_id(idx),
        skill_id: run.skills[p.skill as usize].clone(),
        partner_message_id: format!("prior-{idx}"),
        ..Default::default()
    };
    let opened = retry::setup(
        || format!("opening the prior conversation of consumer {idx}"),
        || {
            let (mut client, open) = ((run.connector)(idx, account), open.clone());
            async move { client.open_conversation(open).await }
        },
    )
    .await?;
    let close = conn::CloseConversationRequest {
        account_id: run.accounts[account].clone(),
        conversation_id: opened.conversation_id,
    };
    retry::setup(
        || format!("closing the prior conversation of consumer {idx}"),
        || {
            let (mut client, close) = ((run.connector)(idx, account), close.clone());
            async move { client.close_conversation(close).await }
        },
    )
    .await?;
    Ok(())
}

/// Reads the account's web outbox up to the priors' `closes` closes and acknowledges them.
async fn acknowledge_priors(run: &Setup<'_>, account: usize, channel: i32, closes: usize) -> anyhow::Result<()> {
    let account_id = run.accounts[account].clone();
    let request = conn::StreamOutboundRequest { account_id: account_id.clone(), channel, from_sequence: None };
    let mut stream = retry::setup(
        || format!("reading the priors' outbox of {account_id}"),
        || {
            let (mut client, request) = ((run.connector)(account, account), request.clone());
            async move { client.stream_outbound(request).await }
        },
    )
    .await?;
    let (mut seen, mut last) = (0, 0);
    let read = tokio::time::timeout(PRIOR_CLOSES_WAIT, async {
        while seen < closes {
            let Some(event) = stream.message().await? else { break };
            last = event.sequence;
            if matches!(event.event, Some(conn::outbound_event::Event::Closed(_))) {
                seen += 1;
            }
        }
        Ok::<_, tonic::Status>(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) || seen < closes {
        anyhow::bail!("the outbox of {account_id} showed {seen} of the {closes} prior conversations' closes");
    }
    let ack = conn::AckOutboundRequest { account_id: account_id.clone(), channel, sequence: last };
    retry::setup(
        || format!("acknowledging the priors of {account_id}"),
        || {
            let (mut client, ack) = ((run.connector)(account, account), ack.clone());
            async move { client.ack_outbound(ack).await }
        },
    )
    .await?;
    Ok(())
}

/// The consumer of conversation `idx` marks it urgent after the scenario's delay.
pub(super) async fn mark(ctx: &Ctx, idx: usize, conversation_id: String) {
    let Some(routing) = &ctx.scenario.routing else { return };
    tokio::time::sleep(routing.urgent_after).await;
    let p = ctx.plan[idx];
    let request = conn::MarkUrgentRequest { account_id: ctx.accounts[p.account as usize].clone(), conversation_id };
    let answer = ctx
        .call("MarkUrgent", Idempotence::Idempotent, || {
            let (mut client, request) = (ctx.connector(idx, p.account as usize), request.clone());
            async move { client.mark_urgent(request).await }
        })
        .await;
    let mut tally = ctx.urgent.lock().unwrap_or_else(|e| e.into_inner());
    match answer {
        Ok(_) => tally.marked += 1,
        Err(status) if status.code() == Code::FailedPrecondition => tally.refused += 1,
        Err(status) => ctx.recorder.failed("MarkUrgent", &status),
    }
}
