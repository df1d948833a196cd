//! Redis state store (being written).
pub struct RedisStore;
