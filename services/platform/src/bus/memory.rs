//! In-memory event bus (being written).
pub struct MemoryBus;
