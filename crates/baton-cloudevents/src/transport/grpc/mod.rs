//! The gRPC transport (docs/protocol.md §8): the `io.cloudevents.v1.CloudEventService` protocol.
//!
//! - [`proto`]: the generated messages, client and server (from `proto/cloudevent.proto`).
//! - [`binding`]: CloudEvent ⇄ protobuf message (§8.2).
//! - [`codec`]: the prost codec with small per-RPC buffers (many idle streams).
//! - [`config`]: sdk-go's YAML client config (§8.4) → [`GrpcOptions`].
//! - [`transport`]: [`GrpcTransport`], the SDK transport for sources and agents (§8.3).
//!
//! The server side (baton's broker, in the hub's crate) reuses `proto` and `binding`. Those two
//! modules and [`GrpcOptions::endpoint`] expose tonic and prost types: they are the wire level,
//! for a broker or a test that speaks the service directly, and tie their users to this
//! crate's tonic and prost versions; the transport's API does not.

pub mod binding;
pub mod codec;
pub mod config;
pub mod proto;
pub mod transport;

pub use config::{ConfigError, GrpcOptions, KeepAlive, TlsOptions};
pub use transport::{GrpcTransport, SUBSCRIPTION_ID_HEADER};
