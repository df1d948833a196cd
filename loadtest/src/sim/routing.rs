//! The scenario's `[routing]` section against the target: applied to every account at setup
//! (`SetVelocityRules`, and `SetAccountRouting` for the ACD mode and its timings, with the
//! `[capacity]` section's policy), and after
//! the drain the sampled conversations explained (`ExplainRouting`) for the queue-order audit
//! in [`crate::priority`] and, when conversations were offered, the offer audit in
//! [`crate::offers`].

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use futures::{stream, StreamExt};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::{
    velocity_rule, AccountRouting, AcdMode as AcdModePb, CapacityMode, CapacityPolicy, ExplainRoutingRequest,
    RoutingDecision, SetAccountRoutingRequest, SetVelocityRulesRequest, VelocityRule, Warmup,
};

use super::Ctx;
use crate::auth::Conn;
use crate::observe::ConvObs;
use crate::offers::{self, ConvOffers, OfferSummary, Tally};
use crate::priority::{self, Priority, Sample};
use crate::result::Check;
use crate::retry::{self, Idempotence};
use crate::scenario::{channel_value, AcdMode, Capacity, Routing, Scenario};

/// Explanations read at once.
const EXPLAIN_CONCURRENCY: usize = 16;

/// Sets the velocity rules of every account (replacing whatever the account had).
pub(super) async fn apply(routing: &Routing, accounts: &[String], router: Conn) -> anyhow::Result<()> {
    let admin = RoutingAdminServiceClient::new(router);
    let rules: Vec<VelocityRule> = routing
        .velocity
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let channel = channel_value(&r.channel)?;
            Some(VelocityRule {
                name: format!("loadtest-{i}-{}", r.channel),
                multiplier: r.multiplier,
                when: Some(velocity_rule::When::Channel(channel)),
            })
        })
        .collect();
    for account in accounts {
        let request =
            SetVelocityRulesRequest { account_id: account.clone(), rules: rules.clone(), expected_revision: 0 };
        // Replacing the whole list is idempotent.
        retry::setup(
            || format!("setting the velocity rules of {account}"),
            || {
                let (mut admin, request) = (admin.clone(), request.clone());
                async move { admin.set_velocity_rules(request).await }
            },
        )
        .await?;
    }
    Ok(())
}

/// Sets every account's routing when the scenario asks for more than the defaults: the ACD
/// mode with its offer timings (`[routing]`) and the capacity policy (`[capacity]`).
pub(super) async fn set_accounts(scenario: &Scenario, accounts: &[String], router: Conn) -> anyhow::Result<()> {
    let rings = scenario.routing.as_ref().filter(|r| r.acd_mode.rings());
    if rings.is_none() && scenario.capacity.is_none() {
        return Ok(());
    }
    let admin = RoutingAdminServiceClient::new(router);
    for account in accounts {
        set_account_routing(&admin, account, rings, scenario.capacity.as_ref()).await?;
    }
    Ok(())
}

/// The account's ACD mode, offer timings and capacity; everything else takes the router's
/// defaults.
async fn set_account_routing(
    admin: &RoutingAdminServiceClient<Conn>,
    account: &str,
    routing: Option<&Routing>,
    capacity: Option<&Capacity>,
) -> anyhow::Result<()> {
    let acd_mode = match routing.map_or(AcdMode::AutoAccept, |r| r.acd_mode) {
        AcdMode::AutoAccept => AcdModePb::AutoAccept,
        AcdMode::RingOne => AcdModePb::RingOne,
        AcdMode::RingAll => AcdModePb::RingAll,
    };
    let request = SetAccountRoutingRequest {
        account_id: account.to_owned(),
        account: Some(AccountRouting {
            acd_mode: acd_mode as i32,
            ring_timeout: routing.and_then(|r| r.ring_timeout).map(proto_duration),
            reject_cooldown: routing.and_then(|r| r.reject_cooldown).map(proto_duration),
            capacity: capacity.map(capacity_policy),
            ..AccountRouting::default()
        }),
        expected_revision: 0,
    };
    // Setting the same routing again is idempotent.
    retry::setup(
        || format!("setting the account routing of {account}"),
        || {
            let (mut admin, request) = (admin.clone(), request.clone());
            async move { admin.set_account_routing(request).await }
        },
    )
    .await?;
    Ok(())
}

fn capacity_policy(c: &Capacity) -> CapacityPolicy {
    CapacityPolicy {
        mode: CapacityMode::Dynamic as i32,
        active_weight: Some(c.active_weight),
        inactive_weight: Some(c.inactive_weight),
        time_to_inactive: Some(proto_duration(c.time_to_inactive)),
        warmup: c.warmup.map(|w| Warmup {
            enabled: true,
            interval: Some(proto_duration(w.interval)),
            max_period: Some(proto_duration(w.max_period)),
        }),
        ..CapacityPolicy::default()
    }
}

pub(super) fn proto_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// At most `n` of `len` indexes, spread evenly (all of them when `len <= n`).
pub(crate) fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    (0..n).map(|k| k * len / n).collect()
}

/// What the explanations showed: the checks, the queue-order numbers, and the offer numbers
/// when conversations were offered.
pub(super) struct Explained {
    pub checks: Vec<Check>,
    pub priority: Priority,
    pub offers: Option<OfferSummary>,
}

/// One sampled conversation's explanation.
struct Answer {
    conversation_id: String,
    account: u32,
    channel: String,
    decisions: Result<Vec<RoutingDecision>, String>,
}

/// Explains a sample of the opened conversations and judges them.
pub(super) async fn explain(ctx: &Ctx, routing: &Routing, convs: &[ConvObs], tally: &Tally, router: Conn) -> Explained {
    let channels = ctx.scenario.channel_names();
    let opened: Vec<(usize, &str)> = convs
        .iter()
        .enumerate()
        .filter_map(|(idx, c)| c.conversation_ids.first().map(|id| (idx, id.as_str())))
        .collect();
    let picked = spread(opened.len(), routing.explain_sample as usize);
    let client = RoutingAdminServiceClient::new(router);
    let mut answers: Vec<Answer> = stream::iter(picked.into_iter().map(|k| opened[k]))
        .map(|(idx, conversation_id)| {
            let client = client.clone();
            let p = ctx.plan[idx];
            let request = ExplainRoutingRequest {
                account_id: ctx.accounts[p.account as usize].clone(),
                conversation_id: conversation_id.to_owned(),
            };
            let channel = channels.get(p.channel as usize).copied().unwrap_or("web").to_owned();
            async move {
                let answer = retry::call(
                    Idempotence::Idempotent,
                    |_, _| {},
                    || {
                        let (mut client, request) = (client.clone(), request.clone());
                        async move { client.explain_routing(request).await }
                    },
                )
                .await;
                Answer {
                    conversation_id: conversation_id.to_owned(),
                    account: p.account,
                    channel,
                    decisions: answer.map(|r| r.into_inner().decisions).map_err(|status| {
                        format!("{conversation_id} ({} {})", retry::failure_name(&status), status.message())
                    }),
                }
            }
        })
        .buffer_unordered(EXPLAIN_CONCURRENCY)
        .collect()
        .await;
    answers.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));

    let (mut samples, mut unexplained) = (Vec::new(), Vec::new());
    for a in &answers {
        match &a.decisions {
            Ok(decisions) => match Sample::from_decisions(&a.conversation_id, a.account, &a.channel, decisions) {
                Some(s) => samples.push(s),
                None => unexplained.push(format!("{} (no queued decision)", a.conversation_id)),
            },
            Err(e) => unexplained.push(e.clone()),
        }
    }
    unexplained.sort();
    let tolerance_ms = routing.order_tolerance.as_millis() as u64;
    let (mut checks, mut priority) = priority::judge(&samples, &unexplained, tolerance_ms, &|c| routing.velocity_of(c));
    let urgent = *ctx.urgent.lock().unwrap_or_else(|e| e.into_inner());
    (priority.urgent_marked, priority.urgent_refused) = (urgent.marked, urgent.refused);
    let offers = routing.acd_mode.rings().then(|| {
        let (checks_o, summary) = judge_offers(ctx, routing, convs, &answers, tally);
        checks.extend(checks_o);
        summary
    });
    Explained { checks, priority, offers }
}

/// The offer audit over the same explanations.
fn judge_offers(
    ctx: &Ctx,
    routing: &Routing,
    convs: &[ConvObs],
    answers: &[Answer],
    tally: &Tally,
) -> (Vec<Check>, OfferSummary) {
    let mut explained = Vec::new();
    let mut unexplained = Vec::new();
    for a in answers {
        match &a.decisions {
            Ok(decisions) => explained.push(ConvOffers::from_decisions(&a.conversation_id, a.account, decisions)),
            Err(e) => unexplained.push(e.clone()),
        }
    }
    let assigned: HashSet<String> = convs
        .iter()
        .filter(|c| !c.assignments.is_empty())
        .filter_map(|c| c.conversation_ids.first().cloned())
        .collect();
    let agents: BTreeSet<(u32, String)> = ctx.agents.iter().map(|a| (a.account, a.id.clone())).collect();
    offers::judge(&offers::Input {
        mode: routing.acd_mode.name(),
        tally,
        explained: &explained,
        unexplained: &unexplained,
        assigned: &assigned,
        agents: &agents,
    })
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn the_sample_is_bounded_and_spread() {
        assert_eq!(spread(3, 2000), [0, 1, 2]);
        let s = spread(10_000, 2000);
        assert_eq!((s.len(), s[0], s[1], s[1999]), (2000, 0, 5, 9995));
    }
}
