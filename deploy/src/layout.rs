//! What the runner starts and on which ports: everything is derived from one base port.
//!
//! | port        | what                                   |
//! |-------------|----------------------------------------|
//! | base        | Kafka broker (tansu)                   |
//! | base+1..5   | gRPC of connectors, router, capacity, automessages, surveys |
//! | base+10     | Redis                                  |
//! | base+11..15 | ops HTTP of the same five services     |
//!
//! With the default base 17100 that is 17100, 17101–17105, 17110 and 17111–17115: the
//! services' default ports (7101–7105, 9101–9105) shifted, so a local run and a
//! `switchyard up` on the defaults can coexist.

use serde::{Deserialize, Serialize};

/// The default base port.
pub const DEFAULT_BASE_PORT: u16 = 17100;
/// Ports used above the base (base..base+15).
pub const PORT_SPAN: u16 = 16;
/// The lowest base port accepted (ports below 1024 need privileges).
pub const MIN_BASE_PORT: u16 = 1024;
/// The highest base port accepted (the span must fit below 65536).
pub const MAX_BASE_PORT: u16 = u16::MAX - (PORT_SPAN - 1);

/// One process of the local topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    Redis,
    Kafka,
    Connectors,
    Router,
    Capacity,
    Automessages,
    Surveys,
}

impl Component {
    /// The five Switchyard services, in start order (also their port offsets 1..=5).
    pub const SERVICES: [Component; 5] =
        [Component::Connectors, Component::Router, Component::Capacity, Component::Automessages, Component::Surveys];

    /// Its name: the `switchyard` subcommand for a service, `redis` or `kafka` for a backend.
    pub fn name(self) -> &'static str {
        match self {
            Component::Redis => "redis",
            Component::Kafka => "kafka",
            Component::Connectors => "connectors",
            Component::Router => "router",
            Component::Capacity => "capacity",
            Component::Automessages => "automessages",
            Component::Surveys => "surveys",
        }
    }

    /// What runs it, for messages.
    pub fn program(self) -> &'static str {
        match self {
            Component::Redis => "redis-server",
            Component::Kafka => "tansu",
            _ => "switchyard",
        }
    }

    pub fn is_service(self) -> bool {
        self.offset().is_some()
    }

    /// 1..=5 for the services (the last digit of their default ports), None for backends.
    fn offset(self) -> Option<u16> {
        match self {
            Component::Connectors => Some(1),
            Component::Router => Some(2),
            Component::Capacity => Some(3),
            Component::Automessages => Some(4),
            Component::Surveys => Some(5),
            Component::Redis | Component::Kafka => None,
        }
    }
}

/// A port the runner needs, and what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortUse {
    pub port: u16,
    pub purpose: String,
}

/// The ports of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    base: u16,
}

impl Layout {
    pub fn new(base: u16) -> anyhow::Result<Self> {
        if !(MIN_BASE_PORT..=MAX_BASE_PORT).contains(&base) {
            anyhow::bail!(
                "--base-port must be within {MIN_BASE_PORT}..={MAX_BASE_PORT} (the runner uses base..base+{}), got {base}",
                PORT_SPAN - 1
            );
        }
        Ok(Self { base })
    }

    pub fn base(&self) -> u16 {
        self.base
    }

    pub fn kafka(&self) -> u16 {
        self.base
    }

    pub fn redis(&self) -> u16 {
        self.base + 10
    }

    /// The gRPC port of a service (None for backends).
    pub fn grpc(&self, component: Component) -> Option<u16> {
        component.offset().map(|o| self.base + o)
    }

    /// The ops HTTP port of a service (None for backends).
    pub fn ops(&self, component: Component) -> Option<u16> {
        component.offset().map(|o| self.base + 10 + o)
    }

    /// The main port of a component: gRPC for a service, the listener for a backend.
    pub fn port(&self, component: Component) -> u16 {
        match component {
            Component::Redis => self.redis(),
            Component::Kafka => self.kafka(),
            service => self.grpc(service).unwrap_or(self.base),
        }
    }

    /// Every port of the run with its purpose, in port order.
    pub fn ports(&self) -> Vec<PortUse> {
        let mut ports = vec![
            PortUse { port: self.kafka(), purpose: "Kafka broker (tansu)".into() },
            PortUse { port: self.redis(), purpose: "Redis".into() },
        ];
        for service in Component::SERVICES {
            if let (Some(grpc), Some(ops)) = (self.grpc(service), self.ops(service)) {
                ports.push(PortUse { port: grpc, purpose: format!("{} gRPC", service.name()) });
                ports.push(PortUse { port: ops, purpose: format!("{} ops HTTP", service.name()) });
            }
        }
        ports.sort_by_key(|p| p.port);
        ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_shifts_the_service_defaults() {
        let layout = Layout::new(DEFAULT_BASE_PORT).unwrap();
        assert_eq!(layout.kafka(), 17100);
        assert_eq!(layout.redis(), 17110);
        assert_eq!(layout.grpc(Component::Connectors), Some(17101));
        assert_eq!(layout.ops(Component::Surveys), Some(17115));
        assert_eq!(layout.grpc(Component::Redis), None);
        let ports: Vec<u16> = layout.ports().iter().map(|p| p.port).collect();
        assert_eq!(ports, [17100, 17101, 17102, 17103, 17104, 17105, 17110, 17111, 17112, 17113, 17114, 17115]);
        let purpose = layout.ports().into_iter().find(|p| p.port == 17113).unwrap().purpose;
        assert_eq!(purpose, "capacity ops HTTP");
    }

    #[test]
    fn a_base_port_out_of_range_is_refused_with_the_range() {
        for bad in [0, 80, 1023, MAX_BASE_PORT + 1, u16::MAX] {
            let err = Layout::new(bad).unwrap_err().to_string();
            assert!(err.contains("--base-port must be within 1024..=65520") && err.contains(&bad.to_string()), "{err}");
        }
        let top = Layout::new(MAX_BASE_PORT).unwrap();
        assert_eq!(top.ops(Component::Surveys), Some(u16::MAX));
    }
}
