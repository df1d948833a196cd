//! The command line: configuration layering, validation with the key named, exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn switchyard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("SWITCHYARD_CONFIG");
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn dump_config_shows_layers_defaults_file_env_and_flags() {
    let dir = std::env::temp_dir().join(switchyard_testkit::unique("cfg"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchyard.toml");
    std::fs::write(
        &file,
        "[router]\nheadroom = 0.25\nassign_interval = \"5s\"\n[kafka]\npartitions = 6\n[[auth.issuers]]\nissuer = \"idp\"\nkey_file = \"/k\"\n",
    )
    .unwrap();
    let out = switchyard(
        &["--config", file.to_str().unwrap(), "--redis", "redis://u:secret@127.0.0.1:1", "--dump-config", "router"],
        &[("SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9"), ("SWITCHYARD_KAFKA__PARTITIONS", "3")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("headroom = 0.25"), "file layer: {text}");
    assert!(text.contains("assign_interval = \"5s\""), "durations as strings: {text}");
    assert!(text.contains("partitions = 3"), "env beats file: {text}");
    assert!(text.contains("bootstrap_servers = \"127.0.0.1:9\""), "{text}");
    assert!(text.contains("redis://***@127.0.0.1:1") && !text.contains("secret"), "password redacted: {text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_single_service_needs_kafka_and_redis_and_says_so() {
    let out = switchyard(&["router"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kafka.bootstrap_servers is required"), "{}", stderr(&out));
    let out = switchyard(&["capacity", "--kafka", "127.0.0.1:9092"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("redis.url is required"), "{}", stderr(&out));
}

#[test]
fn bad_values_and_unknown_keys_are_named() {
    let out = switchyard(&["--dump-config", "up"], &[("SWITCHYARD_KAFKA__PARTITIONS", "0")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kafka.partitions"), "{}", stderr(&out));
    let out = switchyard(&["--dump-config", "up"], &[("SWITCHYARD_ROUTER__HEADROM", "1")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("headrom"), "{}", stderr(&out));
    let out = switchyard(&["--dump-config", "up", "--kafka", "nohost"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("kafka.bootstrap_servers"), "{}", stderr(&out));
}

#[test]
fn a_port_in_use_fails_fast_with_its_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    // Every other address is port 0, so only the taken one can fail.
    let mut env: Vec<(String, String)> = ["CONNECTORS", "ROUTER", "CAPACITY", "AUTOMESSAGES", "SURVEYS"]
        .iter()
        .flat_map(|s| {
            [
                (format!("SWITCHYARD_{s}__GRPC_ADDR"), "127.0.0.1:0".to_owned()),
                (format!("SWITCHYARD_{s}__OPS_ADDR"), "127.0.0.1:0".to_owned()),
            ]
        })
        .collect();
    env.retain(|(k, _)| k != "SWITCHYARD_ROUTER__OPS_ADDR");
    env.push(("SWITCHYARD_ROUTER__OPS_ADDR".into(), addr.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = switchyard(&["up"], &env);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&addr), "{}", stderr(&out));
}

/// The data-safety settings are validated at start, named when wrong, and shown by
/// `--dump-config`.
#[test]
fn data_safety_settings_are_validated_and_shown() {
    for (var, value, key) in [
        ("SWITCHYARD_RETENTION__CLOSED", "0s", "retention.closed"),
        ("SWITCHYARD_RETENTION__DEDUPE_WINDOW", "400d", "retention.dedupe_window"),
        ("SWITCHYARD_CONNECTORS__ASSIGNMENT_HISTORY", "1001", "connectors.assignment_history"),
        ("SWITCHYARD_CONNECTORS__MAX_MESSAGES_PER_CONVERSATION", "0", "connectors.max_messages_per_conversation"),
        ("SWITCHYARD_CONNECTORS__CONSUMER_MESSAGES_PER_MINUTE", "60001", "connectors.consumer_messages_per_minute"),
        ("SWITCHYARD_CONNECTORS__MAX_STREAMS", "0", "connectors.max_streams"),
        ("SWITCHYARD_CAPACITY__LOGOUT_REQUEUE_GRACE", "25h", "capacity.logout_requeue_grace"),
    ] {
        let out = switchyard(&["--dump-config", "up"], &[(var, value)]);
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        assert!(stderr(&out).contains(key), "{var}={value}: {}", stderr(&out));
    }
    let out = switchyard(
        &["--dump-config", "up"],
        &[("SWITCHYARD_RETENTION__CLOSED", "3d"), ("SWITCHYARD_CAPACITY__LOGOUT_REQUEUE_GRACE", "0s")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    for shown in [
        "closed = \"3days\"",
        "dedupe_window = \"1day\"",
        "assignment_history = 20",
        "consumer_messages_per_minute = 120",
        "logout_requeue_grace = \"0s\"",
        "static_membership = false",
    ] {
        assert!(text.contains(shown), "{shown} missing:\n{text}");
    }
}
