//! What the chart hands each container (its arguments, the TOML of its ConfigMap, and its
//! environment with the Secrets and the pod name filled in as Kubernetes would) passes
//! switchyard's own configuration loader, the one `switchyard <command> --config ...` runs at
//! start: unknown keys, wrong types or a malformed SWITCHYARD_* variable would stop the pod
//! with exit code 2. This binary sets SWITCHYARD_* variables in its own process, so it is a
//! test file of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use clap::Parser;
use serde_json::Value;
use switchyard::cli::{load_config, Cli};
use switchyard::Config;
use switchyard_chart_tests::{ci_values_files, container, strings, Helm, Values};

const POD_NAME: &str = "sy-switchyard-router-5d9f8c7b6-x2x4q";
/// What the test pretends every Secret key holds: figment's dict syntax and URLs must carry it.
const SECRET: &str = "pa,s}s{w:o]rd";

/// The value Kubernetes gives each variable: literals with `$(VAR)` expanded from the variables
/// before, Secret keys as `<key>:SECRET`, the pod name.
fn pod_environment(container: &Value) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = var["name"].as_str().unwrap_or_else(|| panic!("variable without a name: {var}")).to_owned();
        let value = if let Some(literal) = var["value"].as_str() {
            let mut expanded = literal.to_owned();
            for (earlier, value) in &env {
                expanded = expanded.replace(&format!("$({earlier})"), value);
            }
            expanded
        } else if let Some(key) = var["valueFrom"]["secretKeyRef"]["key"].as_str() {
            // A full Redis URL in a Secret must be a URL.
            if key == "redis-url" {
                "redis://:secret@redis.example.com:6379/2".to_owned()
            } else {
                format!("{key}:{SECRET}")
            }
        } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
            POD_NAME.to_owned()
        } else {
            panic!("unexpected variable {var}");
        };
        env.push((name, value));
    }
    env
}

/// Loads the configuration the way the container's command line does, with `toml` as the
/// mounted file and exactly `env` as the SWITCHYARD_* environment.
fn load(container: &Value, toml: &Path, env: &[(String, String)]) -> Result<Config, String> {
    // One process environment: under `cargo test` the tests of this file share it.
    static ENV: Mutex<()> = Mutex::new(());
    let _env = ENV.lock().unwrap_or_else(PoisonError::into_inner);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHYARD_") {
            std::env::remove_var(name);
        }
    }
    for (name, value) in env {
        std::env::set_var(name, value);
    }
    let mut args = vec!["switchyard".to_owned()];
    for arg in strings(&container["args"]) {
        args.push(if arg == "/etc/switchyard/switchyard.toml" { toml.display().to_string() } else { arg.to_owned() });
    }
    let cli = Cli::try_parse_from(&args).map_err(|e| format!("{args:?}: {e}"))?;
    load_config(&cli)
}

/// Writes a ConfigMap's switchyard.toml as the file the container would mount.
fn write_config(config_map: &Value, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{}.toml", config_map["metadata"]["name"].as_str().unwrap_or("config")));
    let text =
        config_map["data"]["switchyard.toml"].as_str().unwrap_or_else(|| panic!("no switchyard.toml in {config_map}"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

#[test]
fn every_container_of_every_ci_values_file_starts_with_a_config_switchyard_accepts() {
    let helm = Helm::new().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::tempdir().unwrap();
    for file in ci_values_files().unwrap() {
        let values_text = std::fs::read_to_string(&file).unwrap();
        let values: Value = serde_norway::from_str(&values_text).unwrap();
        let rendered = helm.render(&Values::default().file(&file)).unwrap_or_else(|e| panic!("{e:#}"));
        let main_toml = write_config(rendered.main_config_map(), dir.path());
        let mut checked = BTreeMap::new();
        for object in rendered.objects.iter().filter(|o| o["kind"] == "Deployment" || o["kind"] == "Job") {
            let c = container(object);
            let toml = if object["kind"] == "Job" {
                let name = object["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"].as_str().unwrap();
                let hook_map = rendered.of_kind("ConfigMap").find(|o| o["metadata"]["name"] == name).unwrap();
                write_config(hook_map, dir.path())
            } else {
                main_toml.clone()
            };
            let env = pod_environment(c);
            let config = load(c, &toml, &env).unwrap_or_else(|e| {
                panic!(
                    "{}: {} refuses its configuration: {e}\nenv: {env:?}",
                    file.display(),
                    object["metadata"]["name"]
                )
            });
            let command = c["args"][0].as_str().unwrap().to_owned();

            assert_eq!(config.instance_id, POD_NAME);
            assert_eq!(config.kafka.bootstrap_servers, values["kafka"]["bootstrapServers"].as_str().unwrap());
            if let Some(partitions) = values["kafka"]["partitions"].as_i64() {
                assert_eq!(i64::from(config.kafka.partitions), partitions);
            }
            if values["kafka"]["existingSecret"].is_string() {
                // Mounted files, read when the clients are created.
                let files = &config.kafka.settings_from_files;
                assert_eq!(files["sasl.username"], "/etc/switchyard/secrets/kafka/sasl-username");
                assert_eq!(files["sasl.password"], "/etc/switchyard/secrets/kafka/sasl-password");
                assert_eq!(config.kafka.settings["security.protocol"], "SASL_SSL");
            }
            if command != "topics" {
                let expected_url = match (values["redis"]["existingSecret"].as_str(), values["redis"]["url"].as_str()) {
                    (Some(_), Some(url)) => {
                        assert_eq!(config.redis.password_file, "/etc/switchyard/secrets/redis/password");
                        url.to_owned()
                    }
                    (Some(_), None) => "redis://:secret@redis.example.com:6379/2".to_owned(),
                    (None, Some(url)) => url.to_owned(),
                    (None, None) => unreachable!("the chart requires Redis"),
                };
                assert_eq!(config.redis.url, expected_url);
                let service = switchyard::Service::from_name(&command)
                    .unwrap_or_else(|| panic!("unexpected command {command}: not a service of the registry"));
                let (grpc, ops) = config.addrs(service);
                assert_eq!((grpc.as_str(), ops.as_str()), ("0.0.0.0:7100", "0.0.0.0:9100"));
            }
            checked.insert(command, ());
        }
        // Every service of the registry the file leaves enabled, and the topic job unless it is off.
        let mut expected: Vec<&str> = switchyard::Service::ALL
            .iter()
            .map(|s| s.name())
            .filter(|name| values[*name]["enabled"] != false)
            .chain((values["topics"]["job"]["enabled"] != false).then_some("topics"))
            .collect();
        expected.sort();
        if file.ends_with("minimal-values.yaml") {
            assert!(["capacity", "connectors", "router"].iter().all(|s| expected.contains(s)), "{expected:?}");
            assert!(!expected.contains(&"topics") && !expected.contains(&"surveys"), "{expected:?}");
        }
        assert_eq!(checked.keys().map(String::as_str).collect::<Vec<_>>(), expected, "{}", file.display());
    }
}

#[test]
fn a_kubernetes_service_link_variable_would_be_refused() {
    // Why the chart sets enableServiceLinks: false (asserted in tests/workloads.rs).
    let dir = tempfile::tempdir().unwrap();
    let helm = Helm::new().unwrap_or_else(|e| panic!("{e:#}"));
    let rendered = helm.render(&Values::ci("default")).unwrap_or_else(|e| panic!("{e:#}"));
    let toml = write_config(rendered.main_config_map(), dir.path());
    let deployment = rendered.get("Deployment", "router");
    let mut env = pod_environment(container(deployment));
    env.push(("SWITCHYARD_ROUTER_SERVICE_HOST".into(), "10.0.0.7".into()));
    let err = load(container(deployment), &toml, &env).unwrap_err();
    assert!(err.contains("router_service_host"), "{err}");
}
