//! Compiles `proto/cloudevent.proto` (docs/protocol.md §8.1) with the pure-Rust `protox` parser, so
//! no system `protoc` is needed. The attribute map is a `BTreeMap`, which makes our encoding
//! deterministic (key-sorted, as the `*.pb.hex` vectors are).

//! Without the `grpc` feature there is nothing to generate.

#[cfg(not(feature = "grpc"))]
fn main() {}

#[cfg(feature = "grpc")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/cloudevent.proto");
    let descriptors = protox::compile(["cloudevent.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .btree_map(".io.cloudevents.v1.CloudEvent.attributes")
        // Small per-RPC buffers: one Subscribe stream per connected agent (see the module).
        .codec_path("crate::transport::grpc::codec::SmallBufferCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
