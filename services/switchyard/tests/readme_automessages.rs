//! The README's automatic-messages example, run verbatim (ports and binary paths changed) with
//! grpcurl 1.8 against an embedded cluster: the feature on with a prefix, a Spanish first-time
//! welcome for `general`, a Spanish conversation opened there, its welcome previewed (R14.2,
//! R14.4, R14.7) and the settings read back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use switchyard_proto::admin::v1::{CreateAccountRequest, CreateSkillRequest, Skill};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_automessages_example_runs_verbatim_with_grpcurl() {
    let grpcurl = switchyard_testkit::tool("grpcurl").unwrap();
    let cluster = Cluster::embedded().await;
    // The examples before it created acme and its skill general.
    let mut routing = cluster.routing_admin().await;
    routing.create_account(CreateAccountRequest { account_id: "acme".into(), name: String::new() }).await.unwrap();
    let general = Skill { skill_id: "general".into(), name: String::new() };
    routing.create_skill(CreateSkillRequest { account_id: "acme".into(), skill: Some(general) }).await.unwrap();
    let admin =
        cluster.auth.signer().issue("acme", "dev-admin", &[switchyard_auth::Role::Admin], Duration::from_secs(600));
    let store = cluster.memory.clone().expect("an embedded cluster");
    let partner = switchyard::auth::create_partner_key(&*store, "acme", "quick start", 0).await.unwrap();
    let blocks = readme::shell_blocks("## Automatic messages");
    assert_eq!(blocks.len(), 1, "the automatic-messages example");
    let dir = std::env::temp_dir().join(switchyard_testkit::unique("readme-automessages"));
    std::fs::create_dir_all(&dir).unwrap();
    let stream = dir.join("stream.out").display().to_string();
    let script = readme::on_cluster(&cluster, &blocks.concat(), &grpcurl.display().to_string(), &stream);
    let out = Command::new("sh")
        .arg("-ec")
        .arg(&script)
        .env("ADMIN_TOKEN", admin.unwrap())
        .env("PARTNER_KEY", partner)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "the example failed:\n{said}\n{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<serde_json::Value> =
        serde_json::Deserializer::from_str(&said).into_iter().map(Result::unwrap).collect();
    let preview =
        answers.iter().find(|a| a.get("wouldSend").is_some()).unwrap_or_else(|| panic!("a preview in {said}"));
    assert_eq!(preview["wouldSend"], true, "{preview}");
    let text = preview["text"].as_str().unwrap();
    assert!(text.starts_with("¡Hola! Un agente te responderá en ") && text.ends_with(" minutos."), "{preview}");
    assert_eq!((preview["source"].as_str(), preview["language"].as_str()), (Some("skill"), Some("es")), "{preview}");
    let settings = answers.iter().find(|a| a.get("account").is_some()).unwrap_or_else(|| panic!("settings in {said}"));
    assert_eq!((settings["enabled"].as_bool(), settings["textChannelPrefix"].as_str()), (Some(true), Some("Info:")));
    assert_eq!(settings["account"].as_array().unwrap().len(), 16, "the whole catalogue");
    assert_eq!(settings["skills"][0]["skillId"], "general", "{settings}");
    assert_eq!(
        settings["skills"][0]["messages"][0]["texts"]["es"],
        "¡Hola! Un agente te responderá en {expectedResponseTime}."
    );
    let _ = std::fs::remove_dir_all(&dir);
    cluster.stop().await;
}
