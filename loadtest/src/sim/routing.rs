//! The scenario's `[routing]` section against the target: applied to every account at setup
//! (`SetVelocityRules`), and after the drain the sampled conversations explained
//! (`ExplainRouting`) for the queue-order audit in [`crate::priority`].

use futures::{stream, StreamExt};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::{velocity_rule, ExplainRoutingRequest, SetVelocityRulesRequest, VelocityRule};

use crate::auth::Conn;
use crate::observe::ConvObs;
use crate::priority::{self, Priority, Sample};
use crate::result::Check;
use crate::retry::{self, Idempotence};
use crate::scenario::{channel_value, Routing, Scenario};
use crate::schedule::Planned;

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
        retry::call(
            Idempotence::Idempotent,
            |_, _| {},
            || {
                let (mut admin, request) = (admin.clone(), request.clone());
                async move { admin.set_velocity_rules(request).await }
            },
        )
        .await
        .map_err(|s| anyhow::anyhow!("{} {}", s.code(), s.message()))
        .map_err(|e| e.context(format!("setting the velocity rules of {account}")))?;
    }
    Ok(())
}

/// At most `n` of `len` indexes, spread evenly (all of them when `len <= n`).
pub(crate) fn spread(len: usize, n: usize) -> Vec<usize> {
    if len <= n {
        return (0..len).collect();
    }
    (0..n).map(|k| k * len / n).collect()
}

/// Explains a sample of the opened conversations and judges them: the checks and numbers.
pub(super) async fn explain(
    scenario: &Scenario,
    routing: &Routing,
    plan: &[Planned],
    accounts: &[String],
    convs: &[ConvObs],
    router: Conn,
) -> (Vec<Check>, Priority) {
    let channels = scenario.channel_names();
    let opened: Vec<(usize, &str)> = convs
        .iter()
        .enumerate()
        .filter_map(|(idx, c)| c.conversation_ids.first().map(|id| (idx, id.as_str())))
        .collect();
    let picked = spread(opened.len(), routing.explain_sample as usize);
    let client = RoutingAdminServiceClient::new(router);
    let answers: Vec<Result<Sample, String>> = stream::iter(picked.into_iter().map(|k| opened[k]))
        .map(|(idx, conversation_id)| {
            let client = client.clone();
            let p = plan[idx];
            let request = ExplainRoutingRequest {
                account_id: accounts[p.account as usize].clone(),
                conversation_id: conversation_id.to_owned(),
            };
            let channel = channels.get(p.channel as usize).copied().unwrap_or("web");
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
                match answer {
                    Ok(r) => Sample::from_decisions(conversation_id, p.account, channel, &r.into_inner().decisions)
                        .ok_or_else(|| format!("{conversation_id} (no queued decision)")),
                    Err(status) => {
                        Err(format!("{conversation_id} ({} {})", retry::failure_name(&status), status.message()))
                    }
                }
            }
        })
        .buffer_unordered(EXPLAIN_CONCURRENCY)
        .collect()
        .await;
    let (mut samples, mut unexplained) = (Vec::new(), Vec::new());
    for answer in answers {
        match answer {
            Ok(s) => samples.push(s),
            Err(e) => unexplained.push(e),
        }
    }
    samples.sort_by(|a, b| a.conversation_id.cmp(&b.conversation_id));
    unexplained.sort();
    let tolerance_ms = routing.order_tolerance.as_millis() as u64;
    priority::judge(&samples, &unexplained, tolerance_ms, &|c| routing.velocity_of(c))
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
