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
    /// An extension is missing or of the wrong kind.
    #[error(transparent)]
    Extension(#[from] ExtensionError),
    /// The event type does not parse.
    #[error(transparent)]
    EventType(#[from] EventTypeError),
    /// The event could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The event carries no data where the codec needs some.
    #[error("event has no data")]
    MissingData,
    /// The data is not the JSON the codec expects.
    #[error("event data is not valid JSON for {what}: {source}")]
    Json {
        /// What the data should have been.
        what: &'static str,
        /// Why it is not.
        #[source]
        source: serde_json::Error,
    },
    /// The event is of another data type than the codec's.
    #[error("codec for {expected} cannot handle data type {got}")]
    WrongDataType {
        /// The codec's data type.
        expected: String,
        /// The event's.
        got: String,
    },
    /// Payload-specific validation (e.g. an invalid manifest), with its own error type.
    #[error(transparent)]
    Invalid(Box<dyn std::error::Error + Send + Sync>),
}

/// What a source or agent client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The transport could not send (or subscribe).
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The object could not be encoded, or a received event decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The lister failed (answering or sending a resync).
    #[error(transparent)]
    List(#[from] ListError),
    /// The status hasher failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A resync event could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// No codec is registered for the data type of the event type.
    #[error("no codec registered for data type {0}")]
    NoCodec(DataType),
    /// A source publishes spec events only, an agent status events only.
    #[error("a {role} may only publish {allowed} events, not {event_type}")]
    WrongDirection {
        /// `source` or `agent`.
        role: &'static str,
        /// What that role may publish.
        allowed: SubResource,
        /// The event type refused.
        event_type: String,
    },
    /// `subscribe` was called twice.
    #[error("the client is already subscribed")]
    AlreadySubscribed,
    /// A resync request body could not be encoded.
    #[error("cannot encode the resync payload: {0}")]
    Payload(#[from] serde_json::Error),
}
