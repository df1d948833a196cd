//! The README's routing example, run verbatim (ports, binary paths and where the background
//! stream writes changed) with grpcurl 1.8 against an embedded cluster: an engagement routes
//! to a skill whose only agent is logged out, the conversation falls back to the next skill
//! where bob is ONLINE (R4.2, R5.1, R5.5), and ExplainRouting says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use switchyard_proto::admin::v1::CreateAccountRequest;

fn example() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("## Routing: skills, fallbacks").nth(1).expect("the README has the routing example");
    section.split("```sh").nth(1).unwrap().split("```").next().unwrap().to_owned()
}

fn on_cluster(cluster: &Cluster, script: &str, grpcurl: &str, stream: &str) -> String {
    let mut out = script.to_owned();
    for (service, port) in [("connectors", 7101), ("router", 7102), ("capacity", 7103)] {
        let addr = cluster.grpc[service].trim_start_matches("http://").replace("127.0.0.1", "localhost");
        out = out.replace(&format!("localhost:{port}"), &addr);
    }
    let out = out
        .replace("grpcurl ", &format!("{grpcurl} "))
        .replace("target/release/switchyard", env!("CARGO_BIN_EXE_switchyard"));
    // The background stream writes to a file the test reads (and its pid, to stop it).
    out.lines()
        .map(|line| match line.strip_suffix(" &") {
            Some(foreground) => format!("{foreground} > '{stream}' 2>&1 &\necho $! > '{stream}.pid'"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
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
    let script = on_cluster(&cluster, &example(), &grpcurl.display().to_string(), &stream);
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
    let events = std::fs::read_to_string(&stream).unwrap_or_default();
    if let Ok(pid) = std::fs::read_to_string(format!("{stream}.pid")) {
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
    // ExplainRouting: queued on billing with the first-time time (120 s), assigned to bob by
    // the fallback.
    for expected in [
        "\"kind\": \"queued\"",
        "\"sla\": \"first_time\"",
        "\"kind\": \"assigned\"",
        "\"agentId\": \"bob\"",
        "\"reason\": \"fallback\"",
    ] {
        assert!(explained.contains(expected), "{expected} in {explained}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    cluster.stop().await;
}
