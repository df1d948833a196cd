//! The gRPC edge as real clients meet it (issue 8, findings 7–9): the README's grpcurl quick
//! start run with grpcurl 1.8 (reflection v1alpha only) and buf curl (reflection v1), wire-level
//! garbage answered INVALID_ARGUMENT, metric labels that callers cannot multiply, and streams
//! that end UNAVAILABLE on shutdown so clients reconnect elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::raw::RawCodec;
use common::*;
use switchyard_proto::common::v1::Channel;
use switchyard_proto::connectors::v1 as conn;
use tonic::Code;

fn readme_block() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split("## Try it with grpcurl").nth(1).expect("the README has the quick start");
    section.split("```sh").nth(1).unwrap().split("```").next().unwrap().to_owned()
}

/// The README's "Try it with grpcurl" commands.
fn readme_commands() -> Vec<String> {
    let commands: Vec<String> =
        readme_block().lines().filter(|l| l.starts_with("grpcurl ")).map(str::to_owned).collect();
    assert!(commands.len() >= 6, "{commands:?}");
    commands
}

/// The quick start's credentials, as `switchyard up` prints them (an admin token and a partner
/// key of acme) plus the agent's token from the README's own `switchyard auth issue-token` line,
/// run with this binary and the cluster's signing key.
async fn quick_start_env(cluster: &Cluster) -> Vec<(String, String)> {
    let admin =
        cluster.auth.signer().issue("acme", "dev-admin", &[switchyard_auth::Role::Admin], Duration::from_secs(600));
    let store = cluster.memory.clone().expect("an embedded cluster");
    let partner = switchyard::auth::create_partner_key(&*store, "acme", "quick start", 0).await.unwrap();
    let line = readme_block().lines().find(|l| l.starts_with("export AGENT_TOKEN=$(")).unwrap().to_owned();
    let issue = line.trim_start_matches("export AGENT_TOKEN=$(").trim_end().trim_end_matches(')').to_owned();
    let issue = issue.replacen("target/release/switchyard", env!("CARGO_BIN_EXE_switchyard"), 1);
    let out = Command::new("sh")
        .arg("-c")
        .arg(&issue)
        .env("SWITCHYARD_AUTH__SIGNING__KEY_FILE", &cluster.auth.key_file)
        .env("SWITCHYARD_AUTH__SIGNING__ISSUER", common::auth::TEST_ISSUER)
        .output()
        .unwrap();
    assert!(out.status.success(), "`{issue}`: {}", String::from_utf8_lossy(&out.stderr));
    let agent = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    vec![("ADMIN_TOKEN".into(), admin.unwrap()), ("PARTNER_KEY".into(), partner), ("AGENT_TOKEN".into(), agent)]
}

/// The commands with the README's ports replaced by this cluster's.
fn on_cluster(cluster: &Cluster, command: &str) -> String {
    let mut out = command.to_owned();
    for (service, port) in [("connectors", 7101), ("router", 7102), ("capacity", 7103)] {
        let addr = cluster.grpc[service].trim_start_matches("http://").replace("127.0.0.1", "localhost");
        out = out.replace(&format!("localhost:{port}"), &addr);
    }
    out
}

/// `grpcurl -plaintext -H "HEADER" -d 'JSON' HOST:PORT SERVICE/METHOD [&]` as buf curl.
fn as_buf_curl(buf: &std::path::Path, command: &str, protocol: &str) -> String {
    let background = command.trim_end().ends_with('&');
    let words = shell_words(command.trim_end().trim_end_matches('&'));
    let data = &words[words.iter().position(|w| w == "-d").unwrap() + 1];
    let header = &words[words.iter().position(|w| w == "-H").unwrap() + 1];
    let (host, method) = (&words[words.len() - 2], &words[words.len() - 1]);
    format!(
        "{} curl --protocol grpc --http2-prior-knowledge --reflect-protocol {protocol} -H \"{header}\" -d '{data}' http://{host}/{method}{}",
        buf.display(),
        if background { " &" } else { "" }
    )
}

/// Splits a command line on spaces outside quotes (the README's commands quote JSON in single
/// quotes and headers in double quotes).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote) = (Vec::new(), String::new(), None);
    for c in line.chars() {
        match c {
            '\'' | '"' if quote.is_none() => quote = Some(c),
            c if quote == Some(c) => quote = None,
            ' ' if quote.is_none() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Runs the commands in order with `sh`; the one ending in `&` (the agent's stream) runs in the
/// background and its output is returned once it shows the assignment.
async fn run_quick_start(commands: Vec<String>, env: &[(String, String)]) -> String {
    let dir = std::env::temp_dir().join(switchyard_testkit::unique("quickstart"));
    std::fs::create_dir_all(&dir).unwrap();
    let stream_out = dir.join("stream.out");
    let mut background = None;
    for command in commands {
        if let Some(foreground) = command.trim_end().strip_suffix('&') {
            let file = std::fs::File::create(&stream_out).unwrap();
            let child = Command::new("sh")
                .arg("-c")
                .arg(foreground)
                .envs(env.iter().cloned())
                .stdout(file)
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            background = Some(child);
            // Give the stream a moment to connect before the conversation opens.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let out = Command::new("sh").arg("-c").arg(&command).envs(env.iter().cloned()).output().unwrap();
        assert!(
            out.status.success(),
            "`{command}` failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = background.expect("the quick start streams the agent's events in the background");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = std::fs::read_to_string(&stream_out).unwrap_or_default();
        if seen.contains("assigned") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

/// Finding 7: grpcurl 1.8 speaks only server reflection v1alpha, and the example consumer id
/// `+15550100` (an E.164 number) was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_runs_verbatim_with_grpcurl_1_8() {
    let grpcurl = switchyard_testkit::tool("grpcurl").unwrap();
    let version = Command::new(&grpcurl).arg("-version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stderr).to_string() + &String::from_utf8_lossy(&version.stdout);
    assert!(version.contains("v1.8"), "this test is about grpcurl 1.8 (v1alpha only): {version}");
    let cluster = Cluster::embedded().await;
    let commands = readme_commands()
        .iter()
        .map(|c| on_cluster(&cluster, c).replacen("grpcurl ", &format!("{} ", grpcurl.display()), 1))
        .collect();
    let env = quick_start_env(&cluster).await;
    let stream = run_quick_start(commands, &env).await;
    assert!(stream.contains("\"assigned\"") && stream.contains("+15550100"), "{stream}");
    cluster.stop().await;
}

/// The same commands through buf curl, once with reflection v1 only (as grpcurl 1.9 and other
/// current clients speak it) and once with v1alpha only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_runs_with_buf_curl_over_both_reflection_versions() {
    let buf = switchyard_testkit::tool("buf").unwrap();
    for protocol in ["grpc-v1", "grpc-v1alpha"] {
        let cluster = Cluster::embedded().await;
        let commands =
            readme_commands().iter().map(|c| as_buf_curl(&buf, &on_cluster(&cluster, c), protocol)).collect();
        let env = quick_start_env(&cluster).await;
        let stream = run_quick_start(commands, &env).await;
        assert!(stream.contains("\"assigned\"") && stream.contains("+15550100"), "{protocol}: {stream}");
        cluster.stop().await;
    }
}

/// Sends `body` as the request of `path`, as a partner of acme.
async fn raw_call(cluster: &Cluster, path: &'static str, body: &'static [u8]) -> tonic::Status {
    let token = cluster.auth.signer().issue("acme", "p", &[switchyard_auth::Role::Partner], Duration::from_secs(600));
    let bearer = switchyard_auth::client::Bearer::new(&token.unwrap()).unwrap();
    let channel = tonic::service::interceptor::InterceptedService::new(cluster.raw("connectors").await, bearer);
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(Bytes::from_static(body)), path, RawCodec).await.unwrap_err()
}

async fn metrics_text(cluster: &Cluster) -> String {
    http_get(&format!("{}/metrics", cluster.ops["connectors"])).await.unwrap().1
}

/// Finding 9: invalid UTF-8 and truncated varints were answered INTERNAL and counted as
/// server errors; a client's malformed request is INVALID_ARGUMENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_level_garbage_is_invalid_argument() {
    let cluster = Cluster::embedded().await;
    let open = "/switchyard.connectors.v1.ConnectorService/OpenConversation";
    // Field 1 (account_id, a string) holding bytes that are not UTF-8.
    let status = raw_call(&cluster, open, &[0x0a, 0x02, 0xff, 0xfe]).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // Field 2 (channel, a varint) cut off in the middle.
    let status = raw_call(&cluster, open, &[0x10, 0xff]).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let text = metrics_text(&cluster).await;
    let line = format!(
        "switchyard_grpc_requests_total{{service=\"connectors\",method=\"{}\",code=\"3\"}} 2",
        open.trim_start_matches('/')
    );
    assert!(text.contains(&line), "{line} missing");
    assert!(!text.contains("code=\"13\""), "nothing counted as a server error");
    cluster.stop().await;
}

/// Finding 8: any unknown method path became a label value (5,000 junk calls grew /metrics
/// from 0.7 to 5.9 MB). Also: every metric has HELP, latencies are histograms, and every
/// series in `up` says which service it is from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_cannot_multiply_metric_series() {
    let cluster = Cluster::embedded().await;
    // Some real traffic first, so the service metrics exist.
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 1)]).await;
    let channel = tonic::transport::Channel::from_shared(cluster.grpc["connectors"].clone()).unwrap().connect().await;
    let mut grpc = tonic::client::Grpc::new(channel.unwrap());
    for i in 0..2_000 {
        grpc.ready().await.unwrap();
        let path = if i % 2 == 0 {
            format!("/switchyard.connectors.v1.ConnectorService/Junk{i}")
        } else {
            format!("/evil.v{i}.Service/Method{i}")
        };
        let path = tonic::codegen::http::uri::PathAndQuery::try_from(path).unwrap();
        let status = grpc.unary(tonic::Request::new(Bytes::new()), path, RawCodec).await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
    }
    let text = metrics_text(&cluster).await;
    assert!(!text.contains("Junk") && !text.contains("evil"), "a caller's path became a label value");
    let methods: std::collections::HashSet<&str> =
        text.lines().filter_map(|l| l.split("method=\"").nth(1)?.split('"').next()).collect();
    // The recorder is the process's: other tests' traffic shows too, but only real methods.
    let real = |m: &&str| *m == "unknown" || m.starts_with("switchyard.") || m.starts_with("grpc.");
    assert!(methods.iter().all(real) && methods.len() < 40, "method label values: {methods:?}");
    assert!(text.contains("method=\"unknown\",code=\"12\"} 2000"), "junk shares one label value");

    let mut described = std::collections::HashSet::new();
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            described.insert(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            typed.push((parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned()));
        } else if !line.is_empty() {
            assert!(line.contains("service=\""), "a series without its service: {line}");
        }
    }
    for (name, kind) in &typed {
        assert!(described.contains(name), "{name} has no HELP");
        assert_ne!(kind, "summary", "{name} is a summary; histograms aggregate across replicas");
    }
    assert!(text.contains("switchyard_grpc_request_duration_seconds_bucket{"), "latency is a histogram");
    cluster.stop().await;
}

/// Finding 9: on SIGTERM, open streams ended with OK, so clients did not know to reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_unavailable_on_shutdown() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 1)]).await;
    let mut agent = online(&cluster, "acme", "alice").await;
    let mut partner = cluster.connector().await;
    let mut outbound = partner
        .stream_outbound(conn::StreamOutboundRequest {
            account_id: "acme".into(),
            channel: Channel::Web as i32,
            from_sequence: None,
        })
        .await
        .unwrap()
        .into_inner();
    let stop = tokio::spawn(cluster.stop());
    let agent_end = tokio::time::timeout(WAIT, agent.message()).await.expect("ended in time");
    assert_eq!(agent_end.map(|_| ()).unwrap_err().code(), Code::Unavailable);
    let partner_end = tokio::time::timeout(WAIT, outbound.message()).await.expect("ended in time");
    assert_eq!(partner_end.map(|_| ()).unwrap_err().code(), Code::Unavailable);
    stop.await.unwrap();
}

/// Reflection answers in both versions (grpcurl 1.8 asks v1alpha, newer clients v1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_answers_v1_and_v1alpha() {
    use tonic_reflection::pb::{v1, v1alpha};
    let cluster = Cluster::embedded().await;
    let channel = tonic::transport::Channel::from_shared(cluster.grpc["connectors"].clone()).unwrap().connect().await;
    let channel = channel.unwrap();

    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1alpha::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        response.message_response
    else {
        panic!("{response:?}")
    };
    assert!(list.service.iter().any(|s| s.name == "switchyard.connectors.v1.ConnectorService"));

    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut stream = client.server_reflection_info(futures::stream::iter([request])).await.unwrap().into_inner();
    assert!(stream.message().await.unwrap().is_some());
    cluster.stop().await;
}
