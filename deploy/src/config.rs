//! The configuration files `up` writes into `<dir>/config/`: one per service (Kafka, Redis,
//! the service's own loopback ports, and how callers authenticate) and one for
//! `switchyard topics`.

use anyhow::Context;

use crate::auth::Auth;
use crate::layout::{Component, Layout};

/// Environment variables that would override what the runner writes into the config files
/// (flags > environment > file), removed from the environment of the processes it starts.
/// Every other `SWITCHYARD_*` variable passes through, e.g. `SWITCHYARD_ROUTER__HEADROOM`.
pub fn overriding_env_vars() -> Vec<String> {
    let mut vars = vec![
        "SWITCHYARD_CONFIG".to_owned(),
        "SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS".into(),
        "SWITCHYARD_REDIS__URL".into(),
        // Authentication is the run's own: its key, or --no-auth.
        "SWITCHYARD_AUTH__MODE".into(),
        "SWITCHYARD_AUTH__ISSUERS".into(),
        "SWITCHYARD_AUTH__SIGNING__ISSUER".into(),
        "SWITCHYARD_AUTH__SIGNING__AUDIENCE".into(),
        "SWITCHYARD_AUTH__SIGNING__ALGORITHM".into(),
        "SWITCHYARD_AUTH__SIGNING__KEY_FILE".into(),
    ];
    for service in Component::SERVICES {
        let upper = service.name().to_uppercase();
        vars.push(format!("SWITCHYARD_{upper}__GRPC_ADDR"));
        vars.push(format!("SWITCHYARD_{upper}__OPS_ADDR"));
    }
    vars
}

const HEADER: &str = "# Written by `switchyard-local up` for this run; rewritten by the next one.\n\
# SWITCHYARD_<SECTION>__<KEY> environment variables still apply on top (except the addresses).\n\n";

fn backends(layout: &Layout) -> toml::Table {
    let mut kafka = toml::Table::new();
    kafka.insert("bootstrap_servers".into(), format!("127.0.0.1:{}", layout.kafka()).into());
    let mut redis = toml::Table::new();
    redis.insert("url".into(), format!("redis://127.0.0.1:{}", layout.redis()).into());
    let mut table = toml::Table::new();
    table.insert("kafka".into(), kafka.into());
    table.insert("redis".into(), redis.into());
    table
}

/// Group-member liveness for the local broker. tansu keeps the session timeout of a group's
/// first member and notices a killed member only after it, so this bounds how long a killed
/// router's or capacity manager's partitions wait (measured: kill to reassignment ~ this plus
/// 2.5 s). Apache Kafka refuses less than its `group.min.session.timeout.ms` (6 s by default).
const SESSION_TIMEOUT_MS: &str = "3000";
const HEARTBEAT_INTERVAL_MS: &str = "500";

/// TLS on the services' gRPC ports (`up --tls-cert ...`), written into each service's config
/// (`[tls]`), so a restarted process (chaos) serves TLS too. Paths are absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTls {
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
    pub client_ca_file: Option<std::path::PathBuf>,
    /// none, optional or required.
    pub client_auth: String,
}

impl LocalTls {
    fn table(&self) -> toml::Table {
        let mut table = toml::Table::new();
        table.insert("cert_file".into(), self.cert_file.display().to_string().into());
        table.insert("key_file".into(), self.key_file.display().to_string().into());
        if let Some(ca) = &self.client_ca_file {
            table.insert("client_ca_file".into(), ca.display().to_string().into());
        }
        table.insert("client_auth".into(), self.client_auth.clone().into());
        table
    }
}

/// The config file of one service.
pub fn service_config(
    layout: &Layout,
    service: Component,
    auth: &Auth,
    tls: Option<&LocalTls>,
) -> anyhow::Result<String> {
    let (Some(grpc), Some(ops)) = (layout.grpc(service), layout.ops(service)) else {
        anyhow::bail!("{} is not a switchyard service", service.name());
    };
    let mut own = toml::Table::new();
    own.insert("grpc_addr".into(), format!("127.0.0.1:{grpc}").into());
    own.insert("ops_addr".into(), format!("127.0.0.1:{ops}").into());
    let mut table = backends(layout);
    let mut settings = toml::Table::new();
    settings.insert("session.timeout.ms".into(), SESSION_TIMEOUT_MS.into());
    settings.insert("heartbeat.interval.ms".into(), HEARTBEAT_INTERVAL_MS.into());
    if let Some(toml::Value::Table(kafka)) = table.get_mut("kafka") {
        kafka.insert("settings".into(), settings.into());
    }
    table.insert(service.name().into(), own.into());
    table.insert("auth".into(), auth.table().into());
    if let Some(tls) = tls {
        table.insert("tls".into(), tls.table().into());
    }
    // Stable across restarts of the process: it rejoins its consumer groups as itself.
    table.insert("instance_id".into(), format!("{}-local", service.name()).into());
    Ok(format!("{HEADER}{}", toml::to_string(&table).context("writing a service config")?))
}

/// The config file of `switchyard topics` (Kafka only).
pub fn topics_config(layout: &Layout) -> anyhow::Result<String> {
    let mut table = backends(layout);
    table.remove("redis");
    Ok(format!("{HEADER}{}", toml::to_string(&table).context("writing the topics config")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_registry::Service;

    #[test]
    fn a_service_config_holds_the_backends_and_its_own_ports() {
        let layout = Layout::new(20000).unwrap();
        let auth = Auth::Required { key_file: "/run/auth/signing.key".into() };
        let text = service_config(&layout, Component::Service(Service::Capacity), &auth, None).unwrap();
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["kafka"]["bootstrap_servers"].as_str(), Some("127.0.0.1:20000"));
        assert_eq!(table["redis"]["url"].as_str(), Some("redis://127.0.0.1:20010"));
        assert_eq!(table["capacity"]["grpc_addr"].as_str(), Some("127.0.0.1:20003"));
        assert_eq!(table["capacity"]["ops_addr"].as_str(), Some("127.0.0.1:20013"));
        assert_eq!(table["instance_id"].as_str(), Some("capacity-local"));
        assert_eq!(table["kafka"]["settings"]["session.timeout.ms"].as_str(), Some("3000"));
        assert_eq!(table["auth"]["issuers"][0]["key_file"].as_str(), Some("/run/auth/signing.key"));
        assert_eq!(table["auth"]["signing"]["issuer"].as_str(), Some(crate::auth::ISSUER));
        assert_eq!(table.len(), 5);
        assert!(service_config(&layout, Component::Redis, &auth, None).is_err());
        let off: toml::Table = service_config(&layout, Component::Service(Service::Router), &Auth::Disabled, None)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(off["auth"]["mode"].as_str(), Some("disabled"));
        let topics: toml::Table = topics_config(&layout).unwrap().parse().unwrap();
        assert_eq!(topics.keys().collect::<Vec<_>>(), ["kafka"]);
        assert!(overriding_env_vars().contains(&"SWITCHYARD_SURVEYS__OPS_ADDR".to_owned()));
    }

    #[test]
    fn tls_options_go_into_every_service_config() {
        let layout = Layout::new(20000).unwrap();
        let tls = LocalTls {
            cert_file: "/certs/tls.crt".into(),
            key_file: "/certs/tls.key".into(),
            client_ca_file: Some("/certs/ca.crt".into()),
            client_auth: "required".into(),
        };
        let text = service_config(&layout, Component::Service(Service::Router), &Auth::Disabled, Some(&tls)).unwrap();
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["tls"]["cert_file"].as_str(), Some("/certs/tls.crt"));
        assert_eq!(table["tls"]["key_file"].as_str(), Some("/certs/tls.key"));
        assert_eq!(table["tls"]["client_ca_file"].as_str(), Some("/certs/ca.crt"));
        assert_eq!(table["tls"]["client_auth"].as_str(), Some("required"));
        let plain = LocalTls { client_ca_file: None, client_auth: "none".into(), ..tls };
        let text = service_config(&layout, Component::Service(Service::Router), &Auth::Disabled, Some(&plain)).unwrap();
        let table: toml::Table = text.parse().unwrap();
        assert!(table["tls"].get("client_ca_file").is_none());
    }
}
