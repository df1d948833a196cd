//! Backend credentials through the configuration: `--dump-config` prints no secret wherever it
//! was set (file, environment, flag; URL, password keys, librdkafka settings), bad security
//! settings are configuration errors naming the key, and the Redis keys (`username`,
//! `password_file`, `tls_ca_file`) reach a TLS redis-server with an ACL user.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use switchyard::Config;
use switchyard_testkit::{unique, RedisServer, RedisServerOptions, RedisTlsFiles, TestPki};

fn switchyard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("SWITCHYARD_") {
            cmd.env_remove(name);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn dump(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = switchyard(args, env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn assert_hidden(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
}

#[test]
fn dump_config_prints_no_secret_from_any_layer() {
    let dir = std::env::temp_dir().join(unique("secrets"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchyard.toml");
    std::fs::write(
        &file,
        r#"
[kafka]
bootstrap_servers = "127.0.0.1:9093"
[kafka.settings]
"security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "switchyard"
"sasl.password" = "file-sasl-pw"
"ssl.key.password" = "file-key-pw"
"ssl.keystore.password" = "file-keystore-pw"
"sasl.oauthbearer.client.secret" = "file-oauth-secret"
"sasl.oauthbearer.config" = "principal=x secret=file-oauth-config"
"ssl.key.pem" = "-----BEGIN PRIVATE KEY-----file-key-pem"
[kafka.settings_from_files]
"ssl.key.password" = "/run/secrets/kafka/not-this-one"
[redis]
url = "rediss://app:file-url-pw@127.0.0.1:6380"
tls_ca_file = "/run/secrets/redis/ca.pem"
"#,
    )
    .unwrap();
    // settings_from_files and settings name the same key: refused, naming it, printing neither.
    let out = switchyard(&["--config", file.to_str().unwrap(), "--dump-config", "up"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("kafka.settings_from_files.\"ssl.key.password\""), "{err}");
    assert_hidden(&err, &["file-key-pw", "file-url-pw"]);

    let text = std::fs::read_to_string(&file).unwrap().replace(
        "\"ssl.key.password\" = \"/run/secrets/kafka/not-this-one\"",
        "\"sasl.kerberos.keytab\" = \"/run/secrets/kafka/keytab\"",
    );
    std::fs::write(&file, text).unwrap();
    let shown = dump(&["--config", file.to_str().unwrap(), "--dump-config", "up"], &[]);
    assert_hidden(
        &shown,
        &[
            "file-sasl-pw",
            "file-key-pw",
            "file-keystore-pw",
            "file-oauth-secret",
            "file-oauth-config",
            "file-key-pem",
            "file-url-pw",
        ],
    );
    for visible in [
        "SCRAM-SHA-512",
        "\"sasl.username\" = \"switchyard\"",
        "/run/secrets/redis/ca.pem",
        "/run/secrets/kafka/keytab",
        "rediss://***@127.0.0.1:6380",
    ] {
        assert!(shown.contains(visible), "{visible} missing:\n{shown}");
    }

    // The environment (a dict for dotted librdkafka names) and the Redis password key.
    let env = [
        ("SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9093"),
        ("SWITCHYARD_KAFKA__SETTINGS", r#"{"sasl.password"="env-sasl-pw","ssl.key.password"="env-key-pw"}"#),
        ("SWITCHYARD_REDIS__URL", "rediss://127.0.0.1:6380"),
        ("SWITCHYARD_REDIS__USERNAME", "app"),
        ("SWITCHYARD_REDIS__PASSWORD", "env-redis-pw"),
        // A service on its own needs an issuer; its key is a file, whose path is shown.
        ("SWITCHYARD_AUTH__ISSUERS", r#"[{issuer="idp",key_file="/run/secrets/jwt/hs256"}]"#),
    ];
    let shown = dump(&["--dump-config", "router"], &env);
    assert_hidden(&shown, &["env-sasl-pw", "env-key-pw", "env-redis-pw"]);
    assert!(shown.contains("key_file = \"/run/secrets/jwt/hs256\""), "{shown}");
    assert!(shown.contains("username = \"app\"") && shown.contains("password = \"***\""), "{shown}");

    // A flag, and a password file (its path is shown, the file is not read).
    let shown = dump(
        &["--dump-config", "up", "--kafka", "127.0.0.1:9093", "--redis", "redis://:flag-url-pw@127.0.0.1:6379/1"],
        &[],
    );
    assert_hidden(&shown, &["flag-url-pw"]);
    let shown = dump(
        &["--dump-config", "up", "--kafka", "127.0.0.1:9093", "--redis", "redis://127.0.0.1:6379"],
        &[("SWITCHYARD_REDIS__USERNAME", "app"), ("SWITCHYARD_REDIS__PASSWORD_FILE", "/run/secrets/redis/password")],
    );
    assert!(shown.contains("password_file = \"/run/secrets/redis/password\""), "{shown}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_security_settings_are_configuration_errors_naming_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("SWITCHYARD_KAFKA__SETTINGS", r#"{"security.protocol"="SASL_TLS"}"#)],
            "kafka.settings.\"security.protocol\"",
        ),
        (&[("SWITCHYARD_KAFKA__SETTINGS", r#"{"sasl.mechanism"="SCRAM-SHA-1"}"#)], "kafka.settings.\"sasl.mechanism\""),
        (&[("SWITCHYARD_REDIS__TLS_CA_FILE", "/ca.pem")], "redis.tls_ca_file"),
        (&[("SWITCHYARD_REDIS__USERNAME", "app")], "redis.username"),
        (&[("SWITCHYARD_REDIS__CLUSTER_NODES", r#"["rediss://127.0.0.1:7001"]"#)], "redis.cluster_nodes[0]"),
    ];
    for (env, key) in cases {
        let mut env = env.to_vec();
        env.push(("SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9093"));
        env.push(("SWITCHYARD_REDIS__URL", "redis://127.0.0.1:6379"));
        let out = switchyard(&["--dump-config", "up"], &env);
        assert_eq!(out.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key} not named: {err}");
    }
}

/// A TLS redis-server with the ACL user `app`, and the files a deployment mounts.
async fn tls_redis(pki: &TestPki) -> RedisServer {
    let server = pki.server();
    let options = RedisServerOptions {
        tls: Some(RedisTlsFiles { cert: server.cert, key: server.key, ca: pki.ca_file(), auth_clients: false }),
        users: vec![("app".into(), "redis-acl-pw".into())],
        cluster: false,
    };
    RedisServer::start_with(false, options).await.unwrap()
}

#[tokio::test]
async fn redis_credentials_and_ca_come_from_files() {
    let pki = TestPki::new("switchyard-redis").unwrap();
    let server = tls_redis(&pki).await;
    let password_file = pki.dir().join("redis-password");
    std::fs::write(&password_file, "redis-acl-pw\n").unwrap();
    let mut config = Config::default();
    config.redis.url = server.url();
    config.redis.username = "app".into();
    config.redis.password_file = password_file.display().to_string();
    config.redis.tls_ca_file = pki.ca_file().display().to_string();
    config.redis.key_prefix = unique("sy");
    let platform = switchyard::platform(&config).await.unwrap();
    platform.store.ping().await.unwrap();
    assert!(platform.store.create_account("acme", "Acme").await.unwrap());

    // A wrong password names the server, never the password.
    std::fs::write(&password_file, "redis-wrong-pw\n").unwrap();
    let err = format!("{:#}", switchyard::platform(&config).await.err().expect("refused"));
    assert!(err.contains(&format!("127.0.0.1:{}", server.port())), "{err}");
    assert_hidden(&err, &["redis-wrong-pw", "redis-acl-pw"]);

    // A CA file that is not there names the key and the path.
    config.redis.tls_ca_file = "/nonexistent/ca.pem".into();
    let err = format!("{:#}", switchyard::platform(&config).await.err().expect("no CA file"));
    assert!(err.contains("redis.tls_ca_file") && err.contains("/nonexistent/ca.pem"), "{err}");
}
