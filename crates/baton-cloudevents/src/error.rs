//! Errors of the SDK core: one enum for codecs, one for the clients. Transports have their own
//! ([`super::transport::TransportError`]).

use super::builder::BuildError;
use super::event_type::{DataType, EventTypeError, SubResource};
use super::extensions::ExtensionError;
use super::resource::{HashError, ListError};
use super::transport::TransportError;

/// An object could not be encoded into an event, or an event decoded into an object.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    #[error(transparent)]
    EventType(#[from] EventTypeError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("event has no data")]
    MissingData,
    #[error("event data is not valid JSON for {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("codec for {expected} cannot handle data type {got}")]
    WrongDataType { expected: String, got: String },
    /// Payload-specific validation (e.g. an invalid manifest), with its own error type.
    #[error(transparent)]
    Invalid(Box<dyn std::error::Error + Send + Sync>),
}

/// What a source or agent client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("no codec registered for data type {0}")]
    NoCodec(DataType),
    #[error("a {role} may only publish {allowed} events, not {event_type}")]
    WrongDirection {
        role: &'static str,
        allowed: SubResource,
        event_type: String,
    },
    #[error("the client is already subscribed")]
    AlreadySubscribed,
    #[error("cannot encode the resync payload: {0}")]
    Payload(#[from] serde_json::Error),
}
