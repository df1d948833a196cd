//! Credentials in the chart: the defaults render no Secret and no credentials; Kafka and Redis
//! credentials come from existing Secrets through the environment, in an order Kubernetes can
//! expand, without helper variables the binary would read as configuration. Needs `helm`.

mod common;

use std::collections::BTreeSet;

use common::{defaults, render};
use switchyard_chart_tests::{container, Values, SERVICES};

#[test]
fn default_values_render_no_secret_and_no_credentials() {
    let rendered = render(&defaults());
    assert_eq!(rendered.of_kind("Secret").count(), 0);
    for service in SERVICES {
        let env = container(rendered.get("Deployment", service))["env"].as_array().unwrap().clone();
        let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["SWITCHYARD_INSTANCE_ID"], "{service}");
        assert_eq!(env[0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    }
    let toml = rendered.main_config_map()["data"]["switchyard.toml"].as_str().unwrap();
    assert!(!toml.contains('@') && !toml.contains("sasl"), "{toml}");
}

#[test]
fn credentials_come_from_existing_secrets_through_the_environment() {
    let rendered = render(&Values::ci("all-features"));
    assert_eq!(rendered.of_kind("Secret").count(), 0);
    let deployment = rendered.get("Deployment", "router");
    let env = container(deployment)["env"].as_array().unwrap();
    let var =
        |name: &str| env.iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("no {name} in {env:?}")).clone();
    let secret = |name: &str| {
        let v = var(name);
        (
            v["valueFrom"]["secretKeyRef"]["name"].as_str().unwrap().to_owned(),
            v["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(secret("KAFKA_SASL_USERNAME"), ("kafka-credentials".into(), "user".into()));
    assert_eq!(secret("KAFKA_SASL_PASSWORD"), ("kafka-credentials".into(), "pass".into()));
    assert_eq!(
        var("SWITCHYARD_KAFKA__SETTINGS")["value"],
        r#"{"sasl.username"="$(KAFKA_SASL_USERNAME)","sasl.password"="$(KAFKA_SASL_PASSWORD)"}"#
    );
    assert_eq!(secret("REDIS_PASSWORD"), ("redis-credentials".into(), "password".into()));
    assert_eq!(var("SWITCHYARD_REDIS__URL")["value"], "rediss://:$(REDIS_PASSWORD)@redis.example.com:6380/0");
    // Kubernetes expands $(VAR) only from variables defined before.
    let position = |name: &str| env.iter().position(|e| e["name"] == name).unwrap();
    assert!(position("KAFKA_SASL_PASSWORD") < position("SWITCHYARD_KAFKA__SETTINGS"));
    assert!(position("REDIS_PASSWORD") < position("SWITCHYARD_REDIS__URL"));
    // Helper variables must not look like configuration to the binary.
    let switchyard_vars: BTreeSet<&str> =
        env.iter().filter_map(|e| e["name"].as_str()).filter(|n| n.starts_with("SWITCHYARD_")).collect();
    assert_eq!(
        switchyard_vars,
        ["SWITCHYARD_INSTANCE_ID", "SWITCHYARD_KAFKA__SETTINGS", "SWITCHYARD_REDIS__URL"].into()
    );
    // The topic job gets the Kafka credentials too.
    let job_env = container(rendered.get("Job", "topics"))["env"].as_array().unwrap();
    assert!(job_env.iter().any(|e| e["name"] == "SWITCHYARD_KAFKA__SETTINGS"));

    // The full URL from a Secret.
    let rendered = render(
        &Values::default().yaml("kafka:\n  bootstrapServers: k:9092\nredis:\n  existingSecret: redis-url-secret\n"),
    );
    let env = container(rendered.get("Deployment", "capacity"))["env"].as_array().unwrap().clone();
    let url = env.iter().find(|e| e["name"] == "SWITCHYARD_REDIS__URL").unwrap();
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "redis-url-secret");
    assert_eq!(url["valueFrom"]["secretKeyRef"]["key"], "redis-url");
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert!(config.get("redis").is_none(), "{config:?}");
}
