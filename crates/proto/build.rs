//! Compiles every `.proto` under the workspace's `proto/` with protox (a pure-Rust
//! protobuf compiler), so building needs no system `protoc`. The descriptor set is
//! also written to `OUT_DIR` for gRPC reflection.
use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "collegium/common/v1/common.proto",
        "collegium/membership/v1/membership.proto",
        "collegium/membership/v1/roster.proto",
        "collegium/scheduling/v1/scheduling.proto",
        "collegium/notifications/v1/notifications.proto",
        "collegium/scoring/v1/scoring.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("collegium_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
