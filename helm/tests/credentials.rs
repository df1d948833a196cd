//! Credentials in the chart: the defaults render no Secret and no credentials; Kafka and Redis
//! credentials and certificates come from existing Secrets mounted as files, named by the
//! TOML (only a full Redis URL from a Secret travels in the environment). Needs `helm`.

mod common;

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
fn credentials_and_certificates_come_from_existing_secrets_mounted_as_files() {
    let rendered = render(&Values::ci("all-features"));
    assert_eq!(rendered.of_kind("Secret").count(), 0);
    for (kind, name) in [("Deployment", "router"), ("Job", "topics")] {
        let object = rendered.get(kind, name);
        let pod = &object["spec"]["template"]["spec"];
        let volume = |volume: &str| {
            pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == volume)
                .unwrap_or_else(|| panic!("{kind} {name}: no volume {volume}"))
                .clone()
        };
        let items = |volume_name: &str| -> Vec<(String, String)> {
            let v = volume(volume_name);
            v["secret"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["key"].as_str().unwrap().to_owned(), i["path"].as_str().unwrap().to_owned()))
                .collect()
        };
        assert_eq!(volume("kafka-credentials")["secret"]["secretName"], "kafka-credentials");
        assert_eq!(
            items("kafka-credentials"),
            [("user".into(), "sasl-username".into()), ("pass".into(), "sasl-password".into())]
        );
        assert_eq!(volume("kafka-tls")["secret"]["secretName"], "kafka-tls");
        assert_eq!(items("kafka-tls"), [("ca.crt".into(), "ca.crt".into())]);
        assert_eq!(items("redis-credentials"), [("password".into(), "password".into())]);
        assert_eq!(
            items("redis-tls"),
            [
                ("ca.crt".into(), "ca.crt".into()),
                ("tls.crt".into(), "tls.crt".into()),
                ("tls.key".into(), "tls.key".into())
            ]
        );
        let mounts: Vec<(String, String)> = container(object)["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["name"].as_str().unwrap().to_owned(), m["mountPath"].as_str().unwrap().to_owned()))
            .collect();
        for (volume, path) in [
            ("kafka-credentials", "/etc/switchyard/secrets/kafka"),
            ("kafka-tls", "/etc/switchyard/tls/kafka"),
            ("redis-credentials", "/etc/switchyard/secrets/redis"),
            ("redis-tls", "/etc/switchyard/tls/redis"),
        ] {
            assert!(
                mounts.contains(&(volume.to_owned(), path.to_owned())),
                "{kind} {name}: {volume} at {path}: {mounts:?}"
            );
        }
        // No secret travels in the environment.
        let env = container(object)["env"].as_array().unwrap();
        assert!(env.iter().all(|e| e["valueFrom"]["secretKeyRef"].is_null()), "{env:?}");
    }
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    let kafka = &config["kafka"];
    assert_eq!(
        kafka["settings_from_files"]["sasl.username"].as_str(),
        Some("/etc/switchyard/secrets/kafka/sasl-username")
    );
    assert_eq!(
        kafka["settings_from_files"]["sasl.password"].as_str(),
        Some("/etc/switchyard/secrets/kafka/sasl-password")
    );
    assert_eq!(kafka["settings"]["ssl.ca.location"].as_str(), Some("/etc/switchyard/tls/kafka/ca.crt"));
    let redis = &config["redis"];
    assert_eq!(redis["url"].as_str(), Some("rediss://redis.example.com:6380/0"));
    assert_eq!(redis["username"].as_str(), Some("switchyard"));
    assert_eq!(redis["password_file"].as_str(), Some("/etc/switchyard/secrets/redis/password"));
    assert_eq!(redis["tls_ca_file"].as_str(), Some("/etc/switchyard/tls/redis/ca.crt"));
    assert_eq!(redis["tls_cert_file"].as_str(), Some("/etc/switchyard/tls/redis/tls.crt"));
    assert_eq!(redis["tls_key_file"].as_str(), Some("/etc/switchyard/tls/redis/tls.key"));

    // The full URL from a Secret.
    let rendered = render(
        &Values::default()
            .yaml("kafka:\n  bootstrapServers: k:9092\nredis:\n  existingSecret: redis-url-secret\n")
            .yaml("auth:\n  issuers:\n    - {issuer: switchyard, existingSecret: signing, key: signing.key}\n"),
    );
    let env = container(rendered.get("Deployment", "capacity"))["env"].as_array().unwrap().clone();
    let url = env.iter().find(|e| e["name"] == "SWITCHYARD_REDIS__URL").unwrap();
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "redis-url-secret");
    assert_eq!(url["valueFrom"]["secretKeyRef"]["key"], "redis-url");
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert!(config.get("redis").is_none(), "{config:?}");
}
