//! The gRPC transport (PROTOCOL.md §8): the `io.cloudevents.v1.CloudEventService` protocol.
//!
//! - [`proto`]: the generated messages, client and server (from `proto/cloudevent.proto`).
//! - [`binding`]: CloudEvent ⇄ protobuf message (§8.2).
//! - [`codec`]: the prost codec with small per-RPC buffers (many idle streams).
//! - [`config`]: sdk-go's YAML client config (§8.4) → [`GrpcOptions`].
//! - [`transport`]: [`GrpcTransport`], the SDK transport for sources and agents (§8.3).
//!
//! The server side (the broker) lives in [`crate::broker`] and reuses `proto` and `binding`.

pub mod binding;
pub mod codec;
pub mod config;
pub mod proto;
pub mod transport;

pub use config::{ConfigError, GrpcOptions, KeepAlive, TlsOptions};
pub use transport::{GrpcTransport, SUBSCRIPTION_ID_HEADER};
