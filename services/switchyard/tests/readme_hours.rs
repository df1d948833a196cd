//! The README's capacity and working-hours examples, run verbatim (ports and binary paths
//! changed) with grpcurl 1.8 against an embedded cluster: weights 1.0 / 0.1 after 4 minutes and
//! a 90 s warm-up read back with their defaults (R8.4, R8.12, R8.14), an agent's load; then a
//! New York workdays object and a Christmas
//! occasion as the account defaults, automatic mode, and GetSkillHours on Christmas morning
//! (closed for the holiday until Monday 9 am, R11.6, R11.12) and on the Friday evening before
//! the 2027 spring DST change (Monday 9 am is an hour earlier in UTC, R11.3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use switchyard_proto::admin::v1::{CreateAccountRequest, CreateSkillRequest, Skill};
use switchyard_proto::capacity::v1::{AgentSpec, CreateAgentRequest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_capacity_and_working_hours_examples_run_verbatim_with_grpcurl() {
    let grpcurl = switchyard_testkit::tool("grpcurl").unwrap();
    let cluster = Cluster::embedded().await;
    // The examples before it created acme, its skill general and the agent bob.
    let mut routing = cluster.routing_admin().await;
    routing.create_account(CreateAccountRequest { account_id: "acme".into(), name: String::new() }).await.unwrap();
    let general = Skill { skill_id: "general".into(), name: String::new() };
    routing.create_skill(CreateSkillRequest { account_id: "acme".into(), skill: Some(general) }).await.unwrap();
    let admin =
        cluster.auth.signer().issue("acme", "dev-admin", &[switchyard_auth::Role::Admin], Duration::from_secs(600));
    let bob = AgentSpec {
        agent_id: "bob".into(),
        skill_ids: vec!["general".into()],
        max_conversations: 3,
        bot: false,
        group_id: String::new(),
        nickname: String::new(),
    };
    let agent = CreateAgentRequest { account_id: "acme".into(), agent: Some(bob) };
    cluster.capacity_admin().await.create_agent(agent).await.unwrap();
    let blocks = readme::shell_blocks("## Capacity and working hours");
    assert_eq!(blocks.len(), 2, "the capacity example and the working-hours example");
    let dir = std::env::temp_dir().join(switchyard_testkit::unique("readme-hours"));
    std::fs::create_dir_all(&dir).unwrap();
    let stream = dir.join("stream.out").display().to_string();
    let script = readme::on_cluster(&cluster, &blocks.concat(), &grpcurl.display().to_string(), &stream);
    let out = Command::new("sh").arg("-ec").arg(&script).env("ADMIN_TOKEN", admin.unwrap()).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "the example failed:\n{said}\n{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&said).into_iter().map(Result::unwrap).collect();
    // The capacity policy read back, defaults filled in (proto3 JSON leaves out zeros).
    let config = answers.iter().find_map(|a| a.get("config")).unwrap_or_else(|| panic!("a configuration in {said}"));
    let capacity = &config["account"]["capacity"];
    assert_eq!(capacity["mode"], "CAPACITY_MODE_DYNAMIC", "{capacity}");
    assert_eq!((capacity["activeWeight"].as_f64(), capacity["inactiveWeight"].as_f64()), (Some(1.0), Some(0.1)));
    assert_eq!(capacity["timeToInactive"], "240s", "{capacity}");
    assert_eq!(capacity["warmup"]["interval"], "90s", "{capacity}");
    assert_eq!(capacity["warmup"]["maxPeriod"], "1200s", "{capacity}");
    assert_eq!(capacity["warmup"]["enabled"], true, "{capacity}");
    let load = answers.iter().find(|a| a.get("agent").is_some()).unwrap_or_else(|| panic!("bob's load in {said}"));
    assert_eq!(load["agent"]["agentId"], "bob", "{load}");
    let hours: Vec<&serde_json::Value> = answers.iter().filter(|a| a.get("atMs").is_some()).collect();
    let [christmas, before_dst] = hours[..] else { panic!("two GetSkillHours answers in {said}") };
    // Closed (false is not printed), for the holiday, until Monday 9 am in New York.
    assert_eq!(christmas.get("open"), None, "{christmas}");
    assert_eq!(christmas["delay"]["kind"], "DELAY_KIND_HOLIDAY", "{christmas}");
    assert_eq!(christmas["nextShiftStart"], "2026-12-28T14:00:00Z", "{christmas}");
    assert_eq!((christmas["workdaysId"].as_str(), christmas["occasionsId"].as_str()), (Some("ny"), Some("us")));
    assert_eq!(before_dst["delay"]["kind"], "DELAY_KIND_NIGHT", "{before_dst}");
    assert_eq!(before_dst["nextShiftStart"], "2027-03-15T13:00:00Z", "{before_dst}");
    let _ = std::fs::remove_dir_all(&dir);
    cluster.stop().await;
}
