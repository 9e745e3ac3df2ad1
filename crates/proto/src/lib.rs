//! Generated protobuf messages and gRPC clients/servers for every Collegium service.
//!
//! The sources live in `proto/collegium/<service>/v1/*.proto`; this crate only
//! includes what `build.rs` generates from them.

pub mod common {
    pub mod v1 {
        tonic::include_proto!("collegium.common.v1");
    }
}

pub mod membership {
    pub mod v1 {
        tonic::include_proto!("collegium.membership.v1");
    }
}

pub mod scheduling {
    pub mod v1 {
        tonic::include_proto!("collegium.scheduling.v1");
    }
}

pub mod notifications {
    pub mod v1 {
        tonic::include_proto!("collegium.notifications.v1");
    }
}

pub mod scoring {
    pub mod v1 {
        tonic::include_proto!("collegium.scoring.v1");
    }
}

/// Encoded `FileDescriptorSet` of every Collegium proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/collegium_descriptor.bin"));
