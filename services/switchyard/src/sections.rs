//! What the binary needs of a service's config section, beyond what the registry's expansion
//! uses directly (serde, `Default`, `Clone` and the `grpc_addr` / `ops_addr` fields): its checks.
//!
//! A service whose `Config` is `switchyard_kit::Endpoints` (listen addresses only, like
//! automessages and surveys) needs nothing here; one with a section of its own adds an impl.

/// A service's config section.
pub trait Section {
    /// Checks every value; `section` is the section's name, for messages.
    fn check(&self, section: &str) -> Result<(), String>;
}

impl Section for switchyard_kit::Endpoints {
    fn check(&self, section: &str) -> Result<(), String> {
        self.validate(section)
    }
}

impl Section for switchyard_connectors::Config {
    fn check(&self, _section: &str) -> Result<(), String> {
        self.validate()
    }
}

impl Section for switchyard_router::Config {
    fn check(&self, _section: &str) -> Result<(), String> {
        self.validate()
    }
}

impl Section for switchyard_capacity::Config {
    fn check(&self, _section: &str) -> Result<(), String> {
        self.validate()
    }
}
