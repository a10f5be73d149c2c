//! baton's SDK: Open Cluster Management's CloudEvents protocol in Rust, wire-compatible with
//! OCM's Go `sdk-go`. The crate root is the protocol core, independent of the payload: everything
//! a source or an agent needs to speak it. [`work`] carries ManifestWork payloads on top.
//!
//! - [`event_type`]: data types and event type strings (§2.2–§2.5).
//! - [`extensions`]: extension names, value kinds and receive-side coercions (§3).
//! - [`builder`]: [`EventBuilder`], the one way events are made (§2.1, C1, C3, C4).
//! - [`payload`]: the resync request bodies (§6.2, §6.3).
//! - [`resource`]: the traits a caller implements: [`ResourceObject`], [`Lister`],
//!   [`StatusHasher`], [`Codec`], [`ResourceHandler`].
//! - [`transport`]: the [`Transport`] trait and its implementations.
//! - [`source`] / [`agent`]: the generic clients with the receive and resync rules of §5, §6.
//! - [`rate_limit`], [`backoff`], [`stats`]: small mechanisms the clients and transports share.
//! - [`work`]: ManifestWork payloads and codecs (§4), status hash (§6.4), sequence ids (§5.3)
//!   and the agent-side work client with its watch stream.
//!
//! Must not depend on the hub, the store, axum or sqlx.

#![deny(missing_docs)]

pub mod agent;
pub mod backoff;
pub mod builder;
mod client_core;
pub mod error;
pub mod event_type;
pub mod extensions;
pub mod payload;
mod rate_limit;
pub mod resource;
pub mod source;
pub mod stats;
pub mod transport;
pub mod work;

pub use agent::AgentClient;
pub use builder::EventBuilder;
pub use error::{ClientError, CodecError};
pub use event_type::{Action, DataType, EventType, EventTypeError, SubResource};
pub use resource::{
    Codec, HandlerError, ListError, ListOptions, Lister, ResourceAction, ResourceHandler,
    ResourceObject, StatusHasher,
};
pub use source::SourceClient;
pub use transport::{Inbound, Transport, TransportError, TransportRole};

/// The CloudEvent type from the `cloudevents-sdk` crate, re-exported so callers need not
/// depend on it directly.
pub use ::cloudevents::Event;
/// The trait that reads an [`Event`]'s attributes (`id()`, `source()`, `ty()`, `time()`...),
/// re-exported from `cloudevents-sdk` with it.
pub use ::cloudevents::AttributesReader;
