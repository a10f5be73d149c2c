//! Interoperability with OCM's Go sdk-go (issue 10, docs/interop.md): the Go program in
//! `interop/` (built once per run by [`go`]) drives sdk-go's own clients and codecs against
//! baton; it prints JSON lines that these tests check.
//!
//! - [`codec`]: scenario 3, status hashes and events in both directions through sdk-go's codecs
//!   and its gRPC protobuf binding (docs/protocol.md §3.2, §4, §6.4, §8.2).
//! - [`go_agent`]: scenario 1, sdk-go's ManifestWork agent against a real `baton serve`
//!   (§4–§6) over gRPC (its built-in broker) and MQTT (Mosquitto).
//! - [`go_source`]: scenario 2, sdk-go's generic source client against a real `baton agent`.
//! - [`go_worksource`]: scenario 4, sdk-go's ManifestWork source client against baton's gRPC
//!   source API (docs/maestro.md).
//!
//! The baton processes come from the end-to-end harness ([`crate::e2e::Stack`]).

mod codec;
mod go;
mod go_agent;
mod go_replicas;
mod go_source;
mod go_worksource;

use std::path::PathBuf;

use crate::e2e::{Stack, Via};

/// sdk-go's config type name for `via`.
fn config_type(via: Via) -> &'static str {
    match via {
        Via::Grpc => "grpc",
        Via::Mqtt => "mqtt",
    }
}

/// The sdk-go client config file for the Go side of `stack`: the hub's built-in broker, or the
/// same MQTT config (broker and topics) baton's processes use (§7.2, §8.4).
fn go_config(stack: &Stack) -> PathBuf {
    match stack.via {
        Via::Grpc => {
            let path = stack.dir.path().join("go-grpc.yaml");
            std::fs::write(&path, format!("url: {}\n", stack.grpc_addr())).unwrap();
            path
        }
        Via::Mqtt => stack.mqtt_config(),
    }
}
