//! The sample configs in deploy/config/ are valid for their service: `switchyard --config
//! <file> --dump-config <service>` exits 0 (the binary rejects unknown keys and bad values
//! with exit 2), and the effective values are the file's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// `switchyard --config <file> --dump-config <service>` with no SWITCHYARD_* variables from
/// the test's environment.
fn dump_config(file: &Path, service: &str) -> Output {
    let mut command = Command::new(common::switchyard_binary());
    command.arg("--config").arg(file).args(["--dump-config", service]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWITCHYARD_") {
            command.env_remove(key);
        }
    }
    command.output().unwrap()
}

fn config_file(service: &str) -> std::path::PathBuf {
    common::deploy_dir().join("config").join(format!("{service}.toml"))
}

#[test]
fn every_sample_config_is_valid_for_its_service() {
    for service in common::services() {
        let file = config_file(service);
        let output = dump_config(&file, service);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: exit {:?}: {stderr}", file.display(), output.status.code());

        // What the binary took is what the file says.
        let sample: toml::Table = common::read(&file).parse().unwrap();
        let effective: toml::Table = String::from_utf8_lossy(&output.stdout).parse().unwrap();
        for (key, value) in sample[service].as_table().unwrap() {
            assert_eq!(effective[service].get(key), Some(value), "{service}.{key}");
        }
        for (section, key) in [("kafka", "bootstrap_servers"), ("redis", "url"), ("telemetry", "log_format")] {
            assert_eq!(effective[section].get(key), sample[section].get(key), "{service}: {section}.{key}");
        }
    }
}

#[test]
fn each_sample_has_the_shared_sections_and_only_its_own_service() {
    for service in common::services() {
        let sample: toml::Table = common::read(&config_file(service)).parse().unwrap();
        let mut sections: Vec<&str> = sample.keys().map(String::as_str).collect();
        sections.sort();
        let mut expected = vec!["auth", "kafka", "redis", "telemetry", service];
        expected.sort();
        assert_eq!(sections, expected, "{service}");
        assert!(sample["kafka"]["bootstrap_servers"].as_str().is_some_and(|s| !s.is_empty()), "{service}");
        assert!(sample["redis"]["url"].as_str().is_some_and(|s| s.starts_with("redis://")), "{service}");
        // Authentication on, trusting and signing with the compose secret.
        let auth = &sample["auth"];
        assert_eq!(auth["mode"].as_str(), Some("required"), "{service}");
        let secret = Some("/run/secrets/switchyard-signing-key");
        assert_eq!(auth["issuers"][0]["key_file"].as_str(), secret, "{service}");
        assert_eq!(auth["signing"]["key_file"].as_str(), secret, "{service}");
        assert_eq!(auth["issuers"][0]["issuer"].as_str(), auth["signing"]["issuer"].as_str(), "{service}");
    }
    // The router's tunables are all shown.
    let router: toml::Table = common::read(&config_file("router")).parse().unwrap();
    for key in ["assign_interval", "actor_threads", "headroom", "batch"] {
        assert!(router["router"].get(key).is_some(), "router.{key}");
    }
}

/// The check has teeth: the same file with an unknown key, or a bad value, exits 2 naming it.
#[test]
fn a_broken_sample_is_rejected_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let original = common::read(&config_file("router"));
    for (broken, named) in [
        (original.replace("batch = 32", "batch = 32\nbacth = 1"), "bacth"),
        (original.replace("headroom = 0.5", "headroom = 500"), "router.headroom"),
    ] {
        let file = tmp.path().join("router.toml");
        std::fs::write(&file, broken).unwrap();
        let output = dump_config(&file, "router");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
    }
}
