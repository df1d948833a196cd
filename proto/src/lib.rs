//! Generated Switchyard v1 types: gRPC services for partners, agents and administrators, and
//! the protobuf payloads carried on Kafka.

#![allow(clippy::all, clippy::unwrap_used, clippy::expect_used)]

pub mod codec;
#[warn(clippy::all, clippy::unwrap_used, clippy::expect_used)]
pub mod tls;

pub mod common {
    pub mod v1 {
        tonic::include_proto!("switchyard.common.v1");
    }
}
pub mod connectors {
    pub mod v1 {
        tonic::include_proto!("switchyard.connectors.v1");
    }
}
pub mod agent {
    pub mod v1 {
        tonic::include_proto!("switchyard.agent.v1");
    }
}
pub mod admin {
    pub mod v1 {
        tonic::include_proto!("switchyard.admin.v1");
    }
}
pub mod capacity {
    pub mod v1 {
        tonic::include_proto!("switchyard.capacity.v1");
    }
}
pub mod automessages {
    pub mod v1 {
        tonic::include_proto!("switchyard.automessages.v1");
    }
}
pub mod auth {
    pub mod v1 {
        tonic::include_proto!("switchyard.auth.v1");
    }
}
pub mod events {
    pub mod v1 {
        tonic::include_proto!("switchyard.events.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Switchyard proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/switchyard_descriptor.bin"));

/// Version written into every event envelope.
pub const EVENT_SCHEMA_VERSION: u32 = 1;
