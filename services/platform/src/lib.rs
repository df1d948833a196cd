//! The platform layer every Switchyard service stands on.
//!
//! - [`bus`]: the event bus ([`bus::EventBus`]) with a Kafka implementation and an in-memory
//!   one that keeps the same semantics (partitions by key, consumer groups, committed offsets,
//!   redelivery of what was not committed).
//! - [`store`]: the state store ([`store::StateStore`]) with a Redis implementation (atomic
//!   Lua scripts) and an in-memory one. It is domain-shaped on purpose: each method is one
//!   atomic operation on one key family, or the arbiter operations (claim, release, requeue)
//!   where routing and capacity meet (architecture §4).
//! - [`clock`]: time as a trait, so every timed rule can be tested with a controlled clock.
//!
//! Both pairs are held to one conformance suite each (tests/bus_conformance.rs,
//! tests/store_conformance.rs), so the in-memory adapters cannot drift from the real ones.

pub mod bus;
pub mod clock;
pub mod store;

pub use bus::{Delivery, EventBus, Record, StartFrom, Subscription};
pub use clock::{Clock, ManualClock, SystemClock};
pub use store::StateStore;
