//! The registry (`switchyard_registry::for_each_service!`) is the one list of services: every
//! entry is a subcommand with its help, a config section with its own default ports, shown by
//! `--dump-config` and taking `--grpc-addr` / `--ops-addr`, and a service `up` runs; nothing
//! else is. Adding a service to the registry alone makes these hold for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use clap::{CommandFactory, Parser};
use switchyard::cli::Cli;
use switchyard::{Config, Service};

/// Sections of the config that are not services.
const SHARED_SECTIONS: [&str; 8] = ["instance_id", "kafka", "redis", "retention", "telemetry", "auth", "limits", "tls"];
/// Subcommands that are not services.
const OTHER_COMMANDS: [&str; 4] = ["up", "topics", "dead-letters", "auth"];

fn names() -> Vec<&'static str> {
    Service::ALL.iter().map(|s| s.name()).collect()
}

#[test]
fn every_service_of_the_registry_is_a_subcommand_and_nothing_else_is() {
    let cli = Cli::command();
    cli.clone().debug_assert();
    let services: Vec<(&str, String)> = cli
        .get_subcommands()
        .filter(|c| !OTHER_COMMANDS.contains(&c.get_name()))
        .map(|c| (c.get_name(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect();
    let expected: Vec<(&str, String)> = Service::ALL.iter().map(|s| (s.name(), s.about().to_owned())).collect();
    assert_eq!(services, expected);
    for service in Service::ALL {
        let parsed = Cli::try_parse_from(["switchyard", service.name()]).unwrap();
        assert_eq!(parsed.command.service(), Some(service));
    }
    for other in OTHER_COMMANDS.iter().filter(|c| !matches!(**c, "dead-letters" | "auth")) {
        assert_eq!(Cli::try_parse_from(["switchyard", other]).unwrap().command.service(), None, "{other}");
    }
}

#[test]
fn every_service_has_a_config_section_with_distinct_default_ports() {
    let config = Config::default();
    let table = toml::Table::try_from(&config).unwrap();
    let sections: BTreeSet<&str> = table.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = SHARED_SECTIONS.into_iter().chain(names()).collect();
    assert_eq!(sections, expected);
    let mut ports = BTreeSet::new();
    for service in Service::ALL {
        let (grpc, ops) = config.addrs(service);
        assert_eq!(grpc, format!("0.0.0.0:{}", service.grpc_port()), "{service}");
        assert_eq!(ops, format!("0.0.0.0:{}", service.ops_port()), "{service}");
        assert_eq!(table[service.name()]["grpc_addr"].as_str(), Some(grpc.as_str()), "{service}");
        assert!(ports.insert(service.grpc_port()) && ports.insert(service.ops_port()), "{service}: a port is shared");
    }
    config.validate(None).unwrap();
}

/// `switchyard --dump-config <service>` with the given flags, without SWITCHYARD_* variables.
fn dump_config(args: &[&str]) -> toml::Table {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.args(["--kafka", "127.0.0.1:9092", "--redis", "redis://127.0.0.1:6379", "--dump-config"]).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SWITCHYARD_") {
            command.env_remove(key);
        }
    }
    // A service on its own needs an issuer or authentication off; this is about addresses.
    let out = command.env("SWITCHYARD_AUTH__MODE", "disabled").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().parse().unwrap()
}

#[test]
fn dump_config_shows_every_section_and_each_service_takes_its_own_addresses() {
    // `up` (the laptop try-out) listens on loopback; a service run on its own on all interfaces.
    let all = dump_config(&["up"]);
    for service in Service::ALL {
        assert_eq!(
            all[service.name()]["ops_addr"].as_str(),
            Some(format!("127.0.0.1:{}", service.ops_port()).as_str())
        );
        assert_eq!(
            all[service.name()]["grpc_addr"].as_str(),
            Some(format!("127.0.0.1:{}", service.grpc_port()).as_str())
        );
    }
    for service in Service::ALL {
        let (grpc, ops) = (format!("127.0.0.1:{}", 20000 + service.offset()), "127.0.0.1:29999");
        let shown = dump_config(&[service.name(), "--grpc-addr", &grpc, "--ops-addr", ops]);
        for other in Service::ALL {
            let section = &shown[other.name()];
            if other == service {
                assert_eq!(
                    (section["grpc_addr"].as_str(), section["ops_addr"].as_str()),
                    (Some(grpc.as_str()), Some(ops))
                );
            } else {
                let (grpc, ops) = switchyard::config::default_addrs(other);
                assert_eq!(section["grpc_addr"].as_str(), Some(grpc.as_str()), "{service} moved {other}");
                assert_eq!(section["ops_addr"].as_str(), Some(ops.as_str()), "{service} moved {other}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_every_service_of_the_registry() {
    // Cluster::embedded gives `switchyard::up` a listener per registry service and waits for
    // each one's /health/readyz; each also answers gRPC health.
    let cluster = common::Cluster::embedded().await;
    let mut running: Vec<&str> = cluster.grpc.keys().copied().collect();
    running.sort_by_key(|name| Service::from_name(name).map(Service::offset));
    assert_eq!(running, names());
    for service in Service::ALL {
        let channel = tonic::transport::Channel::from_shared(cluster.grpc[service.name()].clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let status = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
        assert_eq!(
            status.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
    cluster.stop().await;
}
