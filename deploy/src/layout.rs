//! What the runner starts and on which ports: everything is derived from one base port and
//! the services' offsets in the registry (`switchyard_registry`, 1..=9).
//!
//! | port               | what                                          |
//! |--------------------|-----------------------------------------------|
//! | base               | Kafka broker (tansu)                          |
//! | base+offset        | gRPC of each service (connectors 1 … surveys 5) |
//! | base+10            | Redis                                         |
//! | base+10+offset     | ops HTTP of each service                      |
//!
//! With the default base 17100 that is 17100, 17101–17105, 17110 and 17111–17115: the
//! services' default ports (7101–7105, 9101–9105) shifted, so a local run and a
//! `switchyard up` on the defaults can coexist.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use switchyard_registry::Service;

/// The default base port.
pub const DEFAULT_BASE_PORT: u16 = 17100;
/// Ports used above the base (base..base+10+the highest offset).
pub const PORT_SPAN: u16 = 11 + Service::max_offset();
/// The lowest base port accepted (ports below 1024 need privileges).
pub const MIN_BASE_PORT: u16 = 1024;
/// The highest base port accepted (the span must fit below 65536).
pub const MAX_BASE_PORT: u16 = u16::MAX - (PORT_SPAN - 1);

/// One process of the local topology: a backend or a service of the registry. Written to
/// `state.json` by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    Redis,
    Kafka,
    Service(Service),
}

impl Component {
    /// The services of the registry, in start order.
    pub const SERVICES: [Component; Service::ALL.len()] = {
        let mut services = [Component::Redis; Service::ALL.len()];
        let mut i = 0;
        while i < services.len() {
            services[i] = Component::Service(Service::ALL[i]);
            i += 1;
        }
        services
    };

    /// Its name: the `switchyard` subcommand for a service, `redis` or `kafka` for a backend.
    pub fn name(self) -> &'static str {
        match self {
            Component::Redis => "redis",
            Component::Kafka => "kafka",
            Component::Service(service) => service.name(),
        }
    }

    /// The component of that name (`kafka`, not `broker`).
    pub fn from_name(name: &str) -> Option<Component> {
        match name {
            "redis" => Some(Component::Redis),
            "kafka" => Some(Component::Kafka),
            _ => Service::from_name(name).map(Component::Service),
        }
    }

    /// What runs it, for messages.
    pub fn program(self) -> &'static str {
        match self {
            Component::Redis => "redis-server",
            Component::Kafka => "tansu",
            Component::Service(_) => "switchyard",
        }
    }

    pub fn is_service(self) -> bool {
        matches!(self, Component::Service(_))
    }

    /// The registry's offset of a service (1..=9), None for backends.
    fn offset(self) -> Option<u16> {
        match self {
            Component::Service(service) => Some(service.offset()),
            Component::Redis | Component::Kafka => None,
        }
    }
}

impl From<Service> for Component {
    fn from(service: Service) -> Self {
        Component::Service(service)
    }
}

impl Serialize for Component {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Component::from_name(&name).ok_or_else(|| serde::de::Error::unknown_variant(&name, &COMPONENT_NAMES))
    }
}

/// Every component's name: the backends, then the services.
const COMPONENT_NAMES: [&str; 2 + Service::ALL.len()] = {
    let mut names = ["redis"; 2 + Service::ALL.len()];
    names[1] = "kafka";
    let mut i = 0;
    while i < Service::ALL.len() {
        names[2 + i] = Service::ALL[i].name();
        i += 1;
    }
    names
};

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
        assert_eq!(layout.grpc(Service::Connectors.into()), Some(17101));
        assert_eq!(layout.ops(Service::Surveys.into()), Some(17115));
        assert_eq!(layout.grpc(Component::Redis), None);
        let ports: Vec<u16> = layout.ports().iter().map(|p| p.port).collect();
        // The five services of today; a service added to the registry adds its pair.
        for port in [17100, 17101, 17102, 17103, 17104, 17105, 17110, 17111, 17112, 17113, 17114, 17115] {
            assert!(ports.contains(&port), "{port} in {ports:?}");
        }
        assert_eq!(ports.len(), 2 + 2 * Service::ALL.len());
        assert!(ports.windows(2).all(|w| w[0] < w[1]), "in port order: {ports:?}");
        let purpose = layout.ports().into_iter().find(|p| p.port == 17113).unwrap().purpose;
        assert_eq!(purpose, "capacity ops HTTP");
    }

    #[test]
    fn every_service_of_the_registry_gets_its_own_ports_within_the_span() {
        let layout = Layout::new(DEFAULT_BASE_PORT).unwrap();
        let services: Vec<Service> = Component::SERVICES
            .iter()
            .map(|c| match c {
                Component::Service(s) => *s,
                other => panic!("{other:?} is not a service"),
            })
            .collect();
        assert_eq!(services, Service::ALL);
        let mut seen = std::collections::BTreeSet::from([layout.kafka(), layout.redis()]);
        for service in Service::ALL {
            let component = Component::from(service);
            let (grpc, ops) = (layout.grpc(component).unwrap(), layout.ops(component).unwrap());
            assert!(seen.insert(grpc) && seen.insert(ops), "{service}: a port is shared");
            // The registry's default ports, shifted.
            assert_eq!(grpc - layout.base(), service.grpc_port() - switchyard_registry::GRPC_PORT_BASE);
            assert_eq!(ops - layout.base() - 10, service.ops_port() - switchyard_registry::OPS_PORT_BASE);
            assert_eq!(Component::from_name(service.name()), Some(component));
        }
        assert_eq!(seen.len(), layout.ports().len());
        assert!(seen.iter().all(|p| (layout.base()..layout.base() + PORT_SPAN).contains(p)), "{seen:?}");
        // state.json names components as the registry does.
        let json = serde_json::to_string(&Component::SERVICES).unwrap();
        let names: Vec<String> = Service::ALL.iter().map(|s| format!("{:?}", s.name())).collect();
        assert_eq!(json, format!("[{}]", names.join(",")));
        assert_eq!(serde_json::from_str::<Vec<Component>>(&json).unwrap(), Component::SERVICES);
        assert!(serde_json::from_str::<Component>("\"zookeeper\"").is_err());
    }

    #[test]
    fn a_base_port_out_of_range_is_refused_with_the_range() {
        for bad in [0, 80, 1023, MAX_BASE_PORT + 1, u16::MAX] {
            let err = Layout::new(bad).unwrap_err().to_string();
            let range = format!("--base-port must be within 1024..={MAX_BASE_PORT}");
            assert!(err.contains(&range) && err.contains(&bad.to_string()), "{err}");
        }
        // 65520 with the five services (offsets up to 5).
        assert_eq!(MAX_BASE_PORT, u16::MAX - 10 - Service::max_offset());
        let top = Layout::new(MAX_BASE_PORT).unwrap();
        let last = Service::ALL.into_iter().max_by_key(|s| s.offset()).unwrap();
        assert_eq!(top.ops(last.into()), Some(u16::MAX));
    }
}
