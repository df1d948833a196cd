//! deploy/compose.yaml, checked by parsing (docker compose is not installed here): Kafka in
//! KRaft mode, Redis, the one-shot `topics`, every service of the registry (each running its own
//! subcommand with its sample config mounted, after Kafka, Redis and the topics), and the
//! OpenTelemetry collector only under the `otel` profile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_norway::Value;
use switchyard_registry::Service;

fn compose() -> Value {
    let text = common::read(&common::deploy_dir().join("compose.yaml"));
    let mut value: Value = serde_norway::from_str(&text).unwrap();
    // Resolve the `<<: *anchor` merge keys, as compose does.
    value.apply_merge().unwrap();
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"].get(name).unwrap_or_else(|| panic!("service {name} is missing"))
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().unwrap_or_else(|| panic!("not a list: {value:?}")).iter().map(scalar).collect()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn condition(service: &Value, on: &str) -> String {
    scalar(&service["depends_on"][on]["condition"])
}

#[test]
fn every_service_of_the_topology_is_there() {
    let compose = compose();
    let mut names: Vec<String> =
        compose["services"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    names.sort();
    let mut expected: Vec<String> = common::services().iter().map(|s| s.to_string()).collect();
    expected.extend(["kafka", "redis", "topics", "otel-collector"].map(String::from));
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn kafka_runs_kraft_single_node_and_redis_without_persistence() {
    let compose = compose();
    let kafka = service(&compose, "kafka");
    assert_eq!(kafka["image"], "apache/kafka:3.9.0");
    let env = &kafka["environment"];
    assert_eq!(env["KAFKA_PROCESS_ROLES"], "broker,controller");
    assert_eq!(env["KAFKA_CONTROLLER_QUORUM_VOTERS"], "1@kafka:9093");
    assert!(scalar(&env["KAFKA_ADVERTISED_LISTENERS"]).contains("kafka:19092"));
    assert!(strings(&kafka["healthcheck"]["test"]).iter().any(|a| a.contains("kafka-topics.sh")));

    let redis = service(&compose, "redis");
    assert_eq!(redis["image"], "redis:7-alpine");
    assert_eq!(strings(&redis["command"]), ["redis-server", "--save", "", "--appendonly", "no"]);
    assert_eq!(strings(&redis["healthcheck"]["test"]), ["CMD", "redis-cli", "ping"]);
}

#[test]
fn topics_runs_once_after_kafka_is_healthy() {
    let compose = compose();
    let topics = service(&compose, "topics");
    assert_eq!(strings(&topics["command"]), ["topics"]);
    assert_eq!(condition(topics, "kafka"), "service_healthy");
    assert_eq!(topics["depends_on"].as_mapping().unwrap().len(), 1, "only Kafka");
    assert_eq!(topics["restart"], "no");
    assert_eq!(topics["build"]["dockerfile"], "deploy/Dockerfile");
    assert_eq!(topics["environment"]["SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS"], "kafka:19092");
}

#[test]
fn each_service_runs_its_own_subcommand_with_its_config() {
    let compose = compose();
    for registered in Service::ALL {
        let name = registered.name();
        let s = service(&compose, name);
        let config = format!("/etc/switchyard/{name}.toml");
        assert_eq!(strings(&s["command"]), [name.to_string(), "--config".into(), config.clone()], "{name}");

        // The image of deploy/Dockerfile, built from the repository root.
        assert_eq!(s["build"]["context"], "..", "{name}");
        assert_eq!(s["build"]["dockerfile"], "deploy/Dockerfile", "{name}");
        assert_eq!(s["image"], service(&compose, "topics")["image"], "{name}: one image");

        // Its sample config, read-only; the file exists.
        let volumes = strings(&s["volumes"]);
        assert_eq!(volumes, [format!("./config/{name}.toml:{config}:ro")], "{name}");
        assert!(common::deploy_dir().join("config").join(format!("{name}.toml")).is_file(), "{name}");

        // Kafka and Redis of the compose network, after both are healthy and the topics exist.
        assert_eq!(s["environment"]["SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS"], "kafka:19092", "{name}");
        assert_eq!(s["environment"]["SWITCHYARD_REDIS__URL"], "redis://redis:6379", "{name}");
        assert_eq!(condition(s, "kafka"), "service_healthy", "{name}");
        assert_eq!(condition(s, "redis"), "service_healthy", "{name}");
        assert_eq!(condition(s, "topics"), "service_completed_successfully", "{name}");

        // Its ports published, and a health check on its readiness endpoint.
        let (grpc, ops) = (registered.grpc_port(), registered.ops_port());
        assert_eq!(strings(&s["ports"]), [format!("127.0.0.1:{grpc}:{grpc}"), format!("127.0.0.1:{ops}:{ops}")]);
        let check = strings(&s["healthcheck"]["test"]).join(" ");
        assert!(check.contains(&format!("/dev/tcp/127.0.0.1/{ops}")) && check.contains("/health/readyz"), "{check}");
        assert!(s["healthcheck"]["interval"].is_string(), "{name}: the shared probe timing is merged in");

        // Traces go to the collector only when the shell sets the endpoint (no value here).
        let env = s["environment"].as_mapping().unwrap();
        assert_eq!(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"), Some(&Value::Null), "{name}");
        assert!(s.get("profiles").is_none(), "{name} starts without a profile");
    }
}

#[test]
fn the_collector_is_only_in_the_otel_profile() {
    let compose = compose();
    let collector = service(&compose, "otel-collector");
    assert_eq!(strings(&collector["profiles"]), ["otel"]);
    assert!(scalar(&collector["image"]).starts_with("otel/opentelemetry-collector-contrib:"));
    assert_eq!(strings(&collector["volumes"]), ["./otel-collector.yaml:/etc/otelcol-contrib/config.yaml:ro"]);
    assert!(strings(&collector["ports"]).contains(&"127.0.0.1:4317:4317".to_owned()));
    for (name, s) in compose["services"].as_mapping().unwrap() {
        if name != "otel-collector" {
            assert!(s.get("profiles").is_none(), "{name:?} has a profile");
        }
    }

    let config: Value =
        serde_norway::from_str(&common::read(&common::deploy_dir().join("otel-collector.yaml"))).unwrap();
    assert_eq!(config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"], "0.0.0.0:4317");
    assert_eq!(strings(&config["service"]["pipelines"]["traces"]["receivers"]), ["otlp"]);
    let exporters = strings(&config["service"]["pipelines"]["traces"]["exporters"]);
    for exporter in exporters {
        assert!(config["exporters"].get(&exporter).is_some(), "exporter {exporter} is defined");
    }
}

/// The mounted configs must listen on all interfaces (published ports reach the container's
/// interface, not its loopback) on the ports compose publishes.
#[test]
fn the_mounted_configs_listen_where_compose_publishes() {
    for service in Service::ALL {
        let name = service.name();
        let config: toml::Table =
            common::read(&common::deploy_dir().join(format!("config/{name}.toml"))).parse().unwrap();
        let (grpc, ops) = (format!("0.0.0.0:{}", service.grpc_port()), format!("0.0.0.0:{}", service.ops_port()));
        assert_eq!(config[name]["grpc_addr"].as_str(), Some(grpc.as_str()), "{name}");
        assert_eq!(config[name]["ops_addr"].as_str(), Some(ops.as_str()), "{name}");
    }
}

/// Every container of the switchyard image gets the signing secret the sample configs name
/// (/run/secrets/<name>), from a file kept out of git.
#[test]
fn every_switchyard_container_gets_the_signing_secret() {
    let compose = compose();
    assert_eq!(scalar(&compose["secrets"]["switchyard-signing-key"]["file"]), "./secrets/signing.key");
    for name in common::services().into_iter().chain(["topics"]) {
        assert_eq!(strings(&service(&compose, name)["secrets"]), ["switchyard-signing-key"], "{name}");
    }
    let ignored = common::read(&common::deploy_dir().join(".gitignore"));
    assert!(ignored.lines().any(|l| l == "/secrets/"), "{ignored}");
}
