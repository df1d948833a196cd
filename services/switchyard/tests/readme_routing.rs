//! The README's routing examples, run verbatim (ports, binary paths and where the background
//! streams write changed) with grpcurl 1.8 against an embedded cluster: an engagement routes
//! to a skill whose only agent is logged out, the conversation falls back to the next skill
//! where bob is ONLINE (R4.2, R5.1, R5.5); then ring-one offers with a 30 s timeout (R6.5)
//! and a transfer to an agent that rings only for that agent (R12.2); ExplainRouting says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use switchyard_proto::admin::v1::CreateAccountRequest;

/// Every shell block of the section, in order (one shell runs them all).
fn example() -> String {
    let blocks = readme::shell_blocks("## Routing: skills, fallbacks");
    assert_eq!(blocks.len(), 2, "the fallback example and the offers example");
    blocks.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_routing_example_runs_verbatim_with_grpcurl() {
    let grpcurl = switchyard_testkit::tool("grpcurl").unwrap();
    let cluster = Cluster::embedded().await;
    // The quick start before it created acme (and sales, alice); acme is what this needs.
    let account = CreateAccountRequest { account_id: "acme".into(), name: String::new() };
    cluster.routing_admin().await.create_account(account).await.unwrap();
    let admin =
        cluster.auth.signer().issue("acme", "dev-admin", &[switchyard_auth::Role::Admin], Duration::from_secs(600));
    let store = cluster.memory.clone().expect("an embedded cluster");
    let partner = switchyard::auth::create_partner_key(&*store, "acme", "quick start", 0).await.unwrap();
    let dir = std::env::temp_dir().join(switchyard_testkit::unique("readme-routing"));
    std::fs::create_dir_all(&dir).unwrap();
    let stream = dir.join("stream.out").display().to_string();
    let script = readme::on_cluster(&cluster, &example(), &grpcurl.display().to_string(), &stream);
    let out = Command::new("sh")
        .arg("-ec")
        .arg(&script)
        .env("ADMIN_TOKEN", admin.unwrap())
        .env("PARTNER_KEY", partner)
        .env("SWITCHYARD_AUTH__SIGNING__KEY_FILE", &cluster.auth.key_file)
        .env("SWITCHYARD_AUTH__SIGNING__ISSUER", common::auth::TEST_ISSUER)
        .output()
        .unwrap();
    let explained = String::from_utf8_lossy(&out.stdout).to_string();
    let events = std::fs::read_to_string(format!("{stream}.1")).unwrap_or_default();
    let dan_events = std::fs::read_to_string(format!("{stream}.2")).unwrap_or_default();
    for pid in std::fs::read_to_string(format!("{stream}.pids")).unwrap_or_default().lines() {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    assert!(out.status.success(), "the example failed:\n{explained}\n{}", String::from_utf8_lossy(&out.stderr));
    // bob's stream: the assignment on general, with the profile and the skill path.
    assert!(events.contains("\"assigned\""), "{events}");
    for expected in [
        "\"skillId\": \"general\"",
        "\"ctype\": \"gold\"",
        "\"reason\": \"engagement\"",
        "\"detail\": \"spring/web-chat\"",
        "\"reason\": \"fallback\"",
    ] {
        assert!(events.contains(expected), "{expected} in {events}");
    }
    // The two ExplainRouting answers, in order, among the other calls' answers.
    let answers: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&explained).into_iter().map(Result::unwrap).collect();
    let explanations: Vec<&serde_json::Value> = answers.iter().filter(|a| a.get("decisions").is_some()).collect();
    let [first, second] = explanations[..] else { panic!("two explanations in {explained}") };
    let first = first.to_string();
    // The first: queued on billing with the first-time time (120 s), assigned to bob by the
    // fallback.
    for expected in [
        "\"kind\":\"queued\"",
        "\"sla\":\"first_time\"",
        "\"kind\":\"assigned\"",
        "\"agentId\":\"bob\"",
        "\"reason\":\"fallback\"",
    ] {
        assert!(first.contains(expected), "{expected} in {first}");
    }
    // The second: offered to dan (ring-one), accepted, transferred to bob, offered to bob only
    // and accepted.
    let decisions: Vec<(String, String, String)> = second["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let field = |name: &str| d[name].as_str().unwrap_or_default().to_owned();
            (field("kind"), field("agentId"), field("reason"))
        })
        .collect();
    let expected = [
        ("queued", "", "new"),
        ("offered", "dan", "best_agent"),
        ("assigned", "dan", "offer_accepted"),
        ("queued", "dan", "transfer_to_agent"),
        ("offered", "bob", "suggested_agent"),
        ("assigned", "bob", "offer_accepted"),
    ];
    let got: Vec<(&str, &str, &str)> = decisions.iter().map(|(k, a, r)| (k.as_str(), a.as_str(), r.as_str())).collect();
    assert_eq!(got, expected, "{second}");
    // dan's stream: the offer expires 30 s after it was made, then the assignment.
    let dan_said: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&dan_events).into_iter().map(Result::unwrap).collect();
    let offer = dan_said.iter().find_map(|e| e.get("offer")).unwrap_or_else(|| panic!("an offer in {dan_events}"));
    let offered_at = &second["decisions"][1]["atMs"];
    let ms = |v: &serde_json::Value| v.as_str().unwrap().parse::<i64>().unwrap();
    assert_eq!(ms(&offer["expiresAtMs"]) - ms(offered_at), 30_000, "rings 30 s");
    assert!(dan_said.iter().any(|e| e.get("assigned").is_some()), "{dan_events}");
    assert!(events.matches("\"assigned\"").count() >= 2, "bob got the transfer: {events}");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.stop().await;
}
