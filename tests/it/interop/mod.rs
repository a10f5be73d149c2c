//! Interoperability with OCM's Go sdk-go (issue 10, docs/interop.md): the Go program in
//! `interop/` (built once per run by [`go`]) drives sdk-go's own clients and codecs against
//! baton; it prints JSON lines that these tests check.
//!
//! - [`codec`]: scenario 3, status hashes and events in both directions through sdk-go's codecs
//!   and its gRPC protobuf binding (PROTOCOL.md §3.2, §4, §6.4, §8.2).
//! - [`go_agent`]: scenario 1, sdk-go's ManifestWork agent against baton's hub (§4–§6) over
//!   gRPC (baton's broker) and MQTT (Mosquitto).
//! - [`go_source`]: scenario 2, sdk-go's generic source client against baton's agent.

mod codec;
mod go;
mod go_agent;
mod go_source;
mod transports;
