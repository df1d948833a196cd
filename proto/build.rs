//! Compiles the .proto tree with protox (pure Rust, so no protoc is needed on the machine)
//! and generates prost messages plus tonic clients and servers into OUT_DIR, with one file
//! descriptor set for gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "switchyard/common/v1/common.proto",
    "switchyard/connectors/v1/connector.proto",
    "switchyard/agent/v1/agent.proto",
    "switchyard/admin/v1/admin.proto",
    "switchyard/admin/v1/hours.proto",
    "switchyard/capacity/v1/capacity.proto",
    "switchyard/automessages/v1/automessages.proto",
    "switchyard/auth/v1/auth.proto",
    "switchyard/events/v1/events.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=switchyard");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let fds = protox::compile(PROTOS, ["."])?;
    std::fs::write(out.join("switchyard_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;
    // Decode errors of requests are the caller's: INVALID_ARGUMENT (src/codec.rs).
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .codec_path("crate::codec::StrictCodec")
        .compile_fds(fds)?;
    Ok(())
}
