//! Compiles the `.proto` files with protox (pure Rust, no system `protoc`) and generates prost messages plus tonic
//! clients and servers. The file descriptor set is written next to the code so servers can offer gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &["cairn/app/v1/app.proto", "cairn/node/v1/node.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }

    let fds = protox::compile(PROTOS, [&root])?;
    std::fs::write(out.join("cairn_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;

    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
