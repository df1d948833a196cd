//! The security settings of the two backends: what `validate` checks (each error names the
//! key), and reading the Redis password and TLS files into connection options.

use super::{redact, KafkaConfig, RedisConfig};
use switchyard_platform::store::RedisOptions;

/// `security.protocol` values librdkafka knows (it compares them without case).
const KAFKA_PROTOCOLS: &[&str] = &["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"];
/// SASL mechanisms librdkafka implements (it compares them with case).
const KAFKA_MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"];

pub(super) fn validate_kafka_security(config: &KafkaConfig) -> Result<(), String> {
    let setting =
        |name: &str| config.settings.get(name).map(|v| (format!("kafka.settings.\"{name}\""), v.trim().to_owned()));
    if let Some((key, value)) = setting("security.protocol") {
        if !KAFKA_PROTOCOLS.contains(&value.to_ascii_lowercase().as_str()) {
            return Err(format!("{key} must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL, got {value:?}"));
        }
    }
    let mut mechanism: Option<String> = None;
    for name in ["sasl.mechanism", "sasl.mechanisms"] {
        let Some((key, value)) = setting(name) else { continue };
        if !KAFKA_MECHANISMS.contains(&value.as_str()) {
            return Err(format!("{key} must be one of {}, got {value:?}", KAFKA_MECHANISMS.join(", ")));
        }
        if mechanism.as_ref().is_some_and(|m| *m != value) {
            return Err("kafka.settings.\"sasl.mechanism\" and \"sasl.mechanisms\" (the same setting) differ".into());
        }
        mechanism = Some(value);
    }
    for (name, path) in &config.settings_from_files {
        if config.settings.contains_key(name) {
            return Err(format!(
                "kafka.settings_from_files.\"{name}\" and kafka.settings.\"{name}\" are both set: keep one"
            ));
        }
        if path.trim().is_empty() {
            return Err(format!("kafka.settings_from_files.\"{name}\" must be a file path"));
        }
    }
    Ok(())
}

pub(super) fn validate_redis_security(config: &RedisConfig) -> Result<(), String> {
    let tls = config.url.starts_with("rediss://");
    for (key, value) in [
        ("redis.tls_ca_file", &config.tls_ca_file),
        ("redis.tls_cert_file", &config.tls_cert_file),
        ("redis.tls_key_file", &config.tls_key_file),
    ] {
        if !value.is_empty() && !tls {
            return Err(format!("{key} is set but redis.url is not a rediss:// (TLS) URL"));
        }
    }
    if config.tls_cert_file.is_empty() != config.tls_key_file.is_empty() {
        return Err("redis.tls_cert_file and redis.tls_key_file go together: set both or neither".into());
    }
    if !config.password.is_empty() && !config.password_file.is_empty() {
        return Err("redis.password and redis.password_file are both set: keep one".into());
    }
    let password_in_url = url_has_password(&config.url);
    if password_in_url && (!config.password.is_empty() || !config.password_file.is_empty()) {
        return Err(format!(
            "redis.url {} carries a password and redis.password or redis.password_file is set: keep one",
            redact(&config.url)
        ));
    }
    if !config.username.is_empty() && config.password.is_empty() && config.password_file.is_empty() && !password_in_url
    {
        return Err("redis.username needs redis.password or redis.password_file".into());
    }
    if config.is_cluster() && config.url.is_empty() {
        return Err("redis.cluster and redis.cluster_nodes need redis.url (one node of the cluster)".into());
    }
    let scheme = if tls { "rediss://" } else { "redis://" };
    for (i, node) in config.cluster_nodes.iter().enumerate() {
        if !node.starts_with(scheme) {
            return Err(format!(
                "redis.cluster_nodes[{i}] must be a {scheme} URL like redis.url, got {:?}",
                redact(node)
            ));
        }
        if redact(node) != *node {
            return Err(format!(
                "redis.cluster_nodes[{i}] must not carry credentials (use redis.username and redis.password_file)"
            ));
        }
    }
    Ok(())
}

/// Whether the URL's user information has a password (`redis://:pw@h`, `redis://u:pw@h`).
fn url_has_password(url: &str) -> bool {
    let Some(start) = url.find("://").map(|i| i + 3) else { return false };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').is_some_and(|at| authority[..at].split_once(':').is_some_and(|(_, pw)| !pw.is_empty()))
}

/// Reads a mounted file named by `key`; the error names the key and the path.
fn read_file(key: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: cannot read {path}: {e}"))
}

/// A secret read from a file: UTF-8, without one trailing newline (`echo` and editors add one).
fn read_secret(key: &str, path: &str) -> Result<String, String> {
    let bytes = read_file(key, path)?;
    let mut text = String::from_utf8(bytes).map_err(|_| format!("{key}: {path} is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

pub(super) fn redis_options(config: &RedisConfig) -> Result<RedisOptions, String> {
    let mut options = RedisOptions::new(config.url.clone());
    options.cluster = config.is_cluster();
    options.cluster_nodes = config.cluster_nodes.clone();
    if !config.username.is_empty() {
        options.username = Some(config.username.clone());
    }
    if !config.password.is_empty() {
        options.password = Some(config.password.clone());
    } else if !config.password_file.is_empty() {
        options.password = Some(read_secret("redis.password_file", &config.password_file)?);
    }
    if !config.tls_ca_file.is_empty() {
        options.tls_ca_pem = Some(read_file("redis.tls_ca_file", &config.tls_ca_file)?);
    }
    if !config.tls_cert_file.is_empty() {
        let cert = read_file("redis.tls_cert_file", &config.tls_cert_file)?;
        let key = read_file("redis.tls_key_file", &config.tls_key_file)?;
        options.tls_client = Some((cert, key));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn kafka(settings: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig {
            settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn kafka_security_settings_are_checked_naming_the_key() {
        for mechanism in KAFKA_MECHANISMS {
            let ok = kafka(&[("security.protocol", "sasl_ssl"), ("sasl.mechanism", mechanism)]);
            assert_eq!(ok.validate(), Ok(()));
        }
        let err = kafka(&[("security.protocol", "SASL_TLS")]).validate().err().unwrap_or_default();
        assert!(err.contains("kafka.settings.\"security.protocol\"") && err.contains("SASL_TLS"), "{err}");
        let err = kafka(&[("sasl.mechanisms", "SCRAM-SHA-1")]).validate().err().unwrap_or_default();
        assert!(err.contains("kafka.settings.\"sasl.mechanisms\"") && err.contains("SCRAM-SHA-1"), "{err}");
        let err = kafka(&[("sasl.mechanism", "PLAIN"), ("sasl.mechanisms", "GSSAPI")]).validate().err();
        assert!(err.unwrap_or_default().contains("differ"));

        let mut both = kafka(&[("sasl.password", "x")]);
        both.settings_from_files = BTreeMap::from([("sasl.password".to_owned(), "/s/p".to_owned())]);
        assert!(both.validate().err().unwrap_or_default().contains("kafka.settings_from_files.\"sasl.password\""));
    }

    #[test]
    fn redis_security_settings_are_checked_naming_the_key() {
        let redis = |url: &str| RedisConfig { url: url.into(), ..Default::default() };
        let err = RedisConfig { tls_ca_file: "/ca.pem".into(), ..redis("redis://h:1") }.validate().err();
        assert!(err.unwrap_or_default().contains("redis.tls_ca_file"));
        let err = RedisConfig { tls_cert_file: "/c.pem".into(), ..redis("rediss://h:1") }.validate().err();
        assert!(err.unwrap_or_default().contains("redis.tls_key_file"));
        let err = RedisConfig { password_file: "/p".into(), ..redis("redis://:pw@h:1") }.validate().err();
        let err = err.unwrap_or_default();
        assert!(err.contains("redis.password_file") && !err.contains("pw"), "{err}");
        let err = RedisConfig { username: "app".into(), ..redis("redis://h:1") }.validate().err();
        assert!(err.unwrap_or_default().contains("redis.username"));
        let err = RedisConfig { cluster_nodes: vec!["redis://h:2".into()], ..redis("rediss://h:1") }.validate().err();
        assert!(err.unwrap_or_default().contains("redis.cluster_nodes[0]"));
        let err = RedisConfig { cluster_nodes: vec!["redis://u:p@h:2".into()], ..redis("redis://h:1") }.validate();
        assert!(err.err().unwrap_or_default().contains("credentials"));
        let err = RedisConfig { cluster: true, ..Default::default() }.validate().err();
        assert!(err.unwrap_or_default().contains("redis.url"));
        let ok = RedisConfig {
            username: "app".into(),
            password_file: "/p".into(),
            tls_ca_file: "/ca".into(),
            cluster_nodes: vec!["rediss://h:2".into()],
            ..redis("rediss://h:1")
        };
        assert_eq!(ok.validate(), Ok(()));
        assert!(url_has_password("redis://u:p@h") && url_has_password("redis://:p@h"));
        assert!(!url_has_password("redis://u@h") && !url_has_password("redis://h:1/0?a=b:c@d"));
    }

    #[test]
    fn missing_files_name_the_key_and_secrets_lose_one_newline() {
        let config =
            RedisConfig { url: "rediss://h:1".into(), tls_ca_file: "/nonexistent/ca.pem".into(), ..Default::default() };
        let err = redis_options(&config).err().unwrap_or_default();
        assert!(err.starts_with("redis.tls_ca_file: cannot read /nonexistent/ca.pem"), "{err}");

        let dir = std::env::temp_dir().join(format!("sy-secret-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("pw");
        let _ = std::fs::write(&path, "s3cret\n\n");
        let path = path.display().to_string();
        assert_eq!(read_secret("k", &path).ok().as_deref(), Some("s3cret\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
