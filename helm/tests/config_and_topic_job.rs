//! The configuration the chart hands the services: the ConfigMap's switchyard.toml built from
//! the values, the config checksum that rolls the pods when (and only when) it changes, and the
//! pre-install/pre-upgrade Job that runs `switchyard topics` with a hook ConfigMap of its own.
//! (tests/binary_config.rs loads that TOML with switchyard's own loader.) Needs `helm`.

mod common;

use common::{defaults, render};
use serde_json::Value;
use switchyard_chart_tests::{container, pod_spec, strings, Rendered, Values, SERVICES};

#[test]
fn the_config_map_holds_switchyard_toml_from_the_values() {
    // tests/binary_config.rs loads it with switchyard's own loader; here: what it holds.
    for file in ["default", "minimal", "all-features"] {
        let rendered = render(&Values::ci(file));
        let config = rendered.config_toml(rendered.main_config_map()).unwrap();
        for service in SERVICES {
            assert_eq!(config[service]["grpc_addr"].as_str(), Some("0.0.0.0:7100"), "{file} {service}");
            assert_eq!(config[service]["ops_addr"].as_str(), Some("0.0.0.0:9100"), "{file} {service}");
        }
        assert_eq!(config["telemetry"]["log_format"].as_str(), Some("json"));
    }

    let rendered = render(&defaults());
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["kafka"]["bootstrap_servers"].as_str(), Some("kafka.kafka.svc:9092"));
    assert_eq!(config["kafka"]["partitions"].as_integer(), Some(12));
    assert_eq!(config["kafka"]["replication_factor"].as_integer(), Some(1));
    assert_eq!(config["kafka"]["topic_prefix"].as_str(), Some("switchyard."));
    assert_eq!(config["redis"]["url"].as_str(), Some("redis://redis.redis.svc:6379"));

    // Extra config is merged in; numbers the binary wants as integers stay integers.
    let rendered = render(&Values::ci("all-features"));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["kafka"]["partitions"].as_integer(), Some(24));
    assert_eq!(config["kafka"]["replication_factor"].as_integer(), Some(3));
    assert_eq!(config["kafka"]["settings"]["security.protocol"].as_str(), Some("SASL_SSL"));
    assert_eq!(config["kafka"]["settings"]["fetch.wait.max.ms"].as_str(), Some("50"));
    assert_eq!(config["router"]["assign_interval"].as_str(), Some("1s"));
    assert_eq!(config["router"]["actor_threads"].as_integer(), Some(2));
    assert_eq!(config["router"]["headroom"].as_float(), Some(0.25));
    assert_eq!(config["redis"]["key_prefix"].as_str(), Some("prod"));
    assert_eq!(config["telemetry"]["service_name"].as_str(), Some("switchyard-prod"));
    // The URL has no credentials: the password is a mounted file the TOML names.
    assert_eq!(config["redis"]["url"].as_str(), Some("rediss://redis.example.com:6380/0"));
    assert_eq!(config["redis"]["password_file"].as_str(), Some("/etc/switchyard/secrets/redis/password"));
}

#[test]
fn the_config_checksum_rolls_the_pods_when_the_config_changes() {
    let checksum = |r: &Rendered, service: &str| {
        r.get("Deployment", service)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let base = render(&defaults());
    let sum = checksum(&base, "router");
    assert_eq!(sum.len(), 64, "sha256 hex: {sum}");
    for service in SERVICES {
        assert_eq!(checksum(&base, service), sum, "one ConfigMap, one checksum");
    }
    assert_eq!(checksum(&render(&defaults()), "router"), sum, "same values, same checksum");
    assert_eq!(
        checksum(&render(&defaults().yaml("router:\n  replicaCount: 4\n")), "router"),
        sum,
        "a change outside the config keeps it"
    );
    for change in [
        "config:\n  router:\n    assign_interval: 1s\n",
        "kafka:\n  partitions: 24\n",
        "kafka:\n  settings:\n    fetch.wait.max.ms: \"50\"\n",
        "redis:\n  url: redis://other:6379\n",
    ] {
        let changed = render(&defaults().yaml(change));
        assert_ne!(checksum(&changed, "router"), sum, "{change}");
        assert_ne!(checksum(&changed, "connectors"), sum, "{change}");
    }
}

#[test]
fn the_topic_job_is_a_pre_install_and_pre_upgrade_hook_running_switchyard_topics() {
    let rendered = render(&defaults().yaml("kafka:\n  partitions: 48\n  replicationFactor: 3\n  topicPrefix: t.\n"));
    let job = rendered.get("Job", "topics");
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["helm.sh/hook"], "pre-install,pre-upgrade");
    assert_eq!(annotations["helm.sh/hook-delete-policy"], "before-hook-creation,hook-succeeded");
    assert_eq!(job["spec"]["backoffLimit"], 3);
    let c = container(job);
    assert_eq!(strings(&c["args"]), ["topics", "--config", "/etc/switchyard/switchyard.toml"]);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod_spec(job)["restartPolicy"], "Never");
    // Hooks run before the release's objects exist: the job mounts a hook ConfigMap created first.
    let volume = &pod_spec(job)["volumes"][0]["configMap"]["name"];
    let config_map = rendered
        .of_kind("ConfigMap")
        .find(|o| o["metadata"]["name"] == *volume)
        .unwrap_or_else(|| panic!("no ConfigMap {volume}"));
    assert_eq!(config_map["metadata"]["annotations"]["helm.sh/hook"], "pre-install,pre-upgrade");
    let hook_weight =
        |o: &Value| o["metadata"]["annotations"]["helm.sh/hook-weight"].as_str().unwrap().parse::<i32>().unwrap();
    assert!(hook_weight(config_map) < hook_weight(job));
    let config = rendered.config_toml(config_map).unwrap();
    assert_eq!(config["kafka"]["partitions"].as_integer(), Some(48));
    assert_eq!(config["kafka"]["replication_factor"].as_integer(), Some(3));
    assert_eq!(config["kafka"]["topic_prefix"].as_str(), Some("t."));
    assert_eq!(config["kafka"]["bootstrap_servers"].as_str(), Some("kafka.kafka.svc:9092"));

    let rendered = render(&defaults().yaml("topics:\n  job:\n    backoffLimit: 7\n"));
    assert_eq!(rendered.get("Job", "topics")["spec"]["backoffLimit"], 7);

    let rendered = render(&defaults().yaml("topics:\n  job:\n    enabled: false\n"));
    assert!(rendered.component("topics").next().is_none(), "{}", rendered.summary());
}
