//! The one list of Switchyard's services. Everything that names the services derives from
//! [`for_each_service!`]: the [`Service`] enum here, the `switchyard` binary's subcommands,
//! config sections and what each runs (`services/switchyard/src/config.rs`), the local
//! runner's processes and ports (`deploy/src/layout.rs`), the load harness's chaos targets, and
//! the tests that check the Helm chart and the deploy files against it.
//!
//! Adding a service is one entry in [`for_each_service!`] (plus its crate); see "Adding a
//! service" in the project README.

/// gRPC ports: a service listens on `GRPC_PORT_BASE + offset` by default.
pub const GRPC_PORT_BASE: u16 = 7100;
/// Ops HTTP ports: a service listens on `OPS_PORT_BASE + offset` by default.
pub const OPS_PORT_BASE: u16 = 9100;
/// The highest offset: the local runner puts Redis on base+10 and the ops ports on
/// base+10+offset, so offsets stay within 1..=9.
pub const MAX_OFFSET: u16 = 9;

/// The registry: calls `$callback! { ... }` with one entry per service, in start order.
///
/// An entry is `Variant name = offset, crate, "about";`:
/// - `Variant`: the [`Service`] variant;
/// - `name`: the subcommand, the config section (`[name]`, `SWITCHYARD_NAME__*`), the
///   process and log name of the local runner, the chart's values block and object suffix;
/// - `offset`: 1..=9, distinct: default ports `7100 + offset` (gRPC) and `9100 + offset` (ops
///   HTTP), local-runner ports base+offset and base+10+offset;
/// - `crate`: the service's crate, used by the `switchyard` binary only (this crate does not
///   depend on it): its `Config` is the section's type and its `run` what the subcommand runs;
/// - `"about"`: one line without a trailing period, the subcommand's help.
///
/// ```
/// macro_rules! names {
///     ($($variant:ident $name:ident = $offset:literal, $krate:ident, $about:literal;)*) => {
///         [$(stringify!($name)),*]
///     };
/// }
/// let names = switchyard_registry::for_each_service!(names);
/// assert_eq!(names[1], "router");
/// ```
#[macro_export]
macro_rules! for_each_service {
    ($($callback:ident)::+) => {
        $($callback)::+! {
            Connectors connectors = 1, switchyard_connectors, "The partner and agent edges (ConnectorService, AgentService)";
            Router router = 2, switchyard_router, "Per-skill queues and assignment";
            Capacity capacity = 3, switchyard_capacity, "Agents, their state and load";
            Automessages automessages = 4, switchyard_automessages, "Automatic messages";
            Surveys surveys = 5, switchyard_surveys, "Post-conversation surveys";
        }
    };
}

macro_rules! define_services {
    ($($variant:ident $name:ident = $offset:literal, $krate:ident, $about:literal;)*) => {
        /// A Switchyard service (see [`for_each_service!`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Service {
            $(#[doc = $about] $variant,)*
        }

        impl Service {
            /// Every service, in start order (the registry's order).
            pub const ALL: [Service; [$(Service::$variant),*].len()] = [$(Service::$variant),*];

            /// Subcommand, config section, process name (see [`for_each_service!`]).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Service::$variant => stringify!($name),)*
                }
            }

            /// 1..=9: its place in the port layouts.
            pub const fn offset(self) -> u16 {
                match self {
                    $(Service::$variant => $offset,)*
                }
            }

            /// One line: what it does.
            pub const fn about(self) -> &'static str {
                match self {
                    $(Service::$variant => $about,)*
                }
            }
        }
    };
}

for_each_service!(define_services);

impl Service {
    /// The service of that name.
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its default gRPC port (7101 for offset 1).
    pub const fn grpc_port(self) -> u16 {
        GRPC_PORT_BASE + self.offset()
    }

    /// Its default ops HTTP port (9101 for offset 1).
    pub const fn ops_port(self) -> u16 {
        OPS_PORT_BASE + self.offset()
    }

    /// The highest offset in use.
    pub const fn max_offset() -> u16 {
        let mut max = 0;
        let mut i = 0;
        while i < Service::ALL.len() {
            if Service::ALL[i].offset() > max {
                max = Service::ALL[i].offset();
            }
            i += 1;
        }
        max
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// The registry's rules, checked when it compiles: offsets within 1..=MAX_OFFSET and distinct,
// names distinct.
const _: () = {
    let all = Service::ALL;
    let mut i = 0;
    while i < all.len() {
        let offset = all[i].offset();
        assert!(offset >= 1 && offset <= MAX_OFFSET, "a service offset is outside 1..=9");
        let mut j = i + 1;
        while j < all.len() {
            assert!(all[j].offset() != offset, "two services share an offset");
            assert!(!same(all[i].name(), all[j].name()), "two services share a name");
            j += 1;
        }
        i += 1;
    }
};

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_services_keep_their_names_order_and_ports() {
        let table: Vec<(&str, u16, u16)> =
            Service::ALL.iter().take(5).map(|s| (s.name(), s.grpc_port(), s.ops_port())).collect();
        assert_eq!(
            table,
            [
                ("connectors", 7101, 9101),
                ("router", 7102, 9102),
                ("capacity", 7103, 9103),
                ("automessages", 7104, 9104),
                ("surveys", 7105, 9105),
            ]
        );
        assert!(Service::max_offset() >= 5 && Service::max_offset() <= MAX_OFFSET);
    }

    #[test]
    fn names_are_lowercase_words_and_found_again() {
        for service in Service::ALL {
            assert!(service.name().chars().all(|c| c.is_ascii_lowercase()), "{service}");
            assert_eq!(Service::from_name(service.name()), Some(service));
            // One line without a trailing period, as clap shows it.
            assert!(!service.about().is_empty() && !service.about().ends_with('.'), "{service}");
        }
        assert_eq!(Service::from_name("redis"), None);
    }
}
