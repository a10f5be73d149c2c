//! The transport abstraction: how a client reaches the other side. A transport is built for one
//! [`TransportRole`] (a source or an agent), derives routing (topics, subscription filters)
//! from the event and its role as docs/protocol.md says, keeps its connection alive on its own and
//! tells the client each time the subscription is (re)established, so the client resyncs.
//!
//! Implementations: [`memory`] (in-process, for unit tests of client logic), `mqtt` (§7) and
//! `grpc` (§8), each behind the feature of its name. Shared by the config files of both: Go
//! durations (`go_duration`) and PEM items (`*Data`/`*File`, [`PemError`]).

#[cfg(any(feature = "mqtt", feature = "grpc"))]
mod config_file;
#[cfg(any(feature = "mqtt", feature = "grpc"))]
mod credentials;
#[cfg(any(feature = "mqtt", feature = "grpc"))]
pub mod go_duration;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod memory;
#[cfg(feature = "mqtt")]
pub mod mqtt;

#[cfg(any(feature = "mqtt", feature = "grpc"))]
pub use credentials::PemError;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::Event;
use super::event_type::DataType;

/// Who is on this end of the transport; fixes routing and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransportRole {
    /// The hub side: publishes spec events and status resyncs, receives status events and
    /// spec resyncs addressed to `source_id`.
    Source {
        /// The source's id: its CloudEvent `source`, and where agents address its status.
        source_id: String,
    },
    /// One managed cluster: publishes status events and spec resyncs, receives the spec events
    /// and status resyncs of `cluster_name`. `agent_id` is its CloudEvent `source`.
    Agent {
        /// The managed cluster.
        cluster_name: String,
        /// The agent's CloudEvent `source`.
        agent_id: String,
    },
}

impl TransportRole {
    /// A source with id `source_id`.
    pub fn source(source_id: impl Into<String>) -> Self {
        Self::Source {
            source_id: source_id.into(),
        }
    }

    /// An agent for `cluster_name`, with sdk-go's agent id `<cluster>-work-agent`.
    pub fn agent(cluster_name: impl Into<String>) -> Self {
        let cluster_name = cluster_name.into();
        Self::Agent {
            agent_id: format!("{cluster_name}-work-agent"),
            cluster_name,
        }
    }

    /// The CloudEvent `source` this party sends with.
    pub fn sender_id(&self) -> &str {
        match self {
            Self::Source { source_id } => source_id,
            Self::Agent { agent_id, .. } => agent_id,
        }
    }
}

/// What a subscription yields, in order.
// Nearly every item is an event; boxing it would cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Inbound {
    /// The subscription was (re)established: everything sent while it was down may be lost,
    /// so the client resyncs now.
    Subscribed,
    /// A CloudEvent for this party. Transport-level garbage (not a CloudEvent at all) never
    /// gets here: the transport logs and counts it.
    Event(Event),
}

/// A transport operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The connection is down: the event was not sent (the transport reconnects by itself).
    #[error("not connected to the broker; the event was not sent (retry once reconnected)")]
    NotConnected,
    /// `close` was called.
    #[error("the transport is closed")]
    Closed,
    /// `subscribe` was called twice.
    #[error("the transport is already subscribed")]
    AlreadySubscribed,
    /// The transport cannot tell where the event goes (e.g. a topic is not configured).
    #[error("no route for event type {event_type}: {reason}")]
    NoRoute {
        /// The event's type.
        event_type: String,
        /// Why there is no route.
        reason: String,
    },
    /// The broker refused the event (gRPC: a status other than unavailable).
    #[error("the broker refused the event: {0}")]
    Rejected(String),
    /// The event cannot be put on this transport's wire.
    #[error("the event cannot be sent on this transport: {0}")]
    Encode(String),
    /// Anything else, with the underlying error as its source.
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Claims a transport's one subscription (the [`Transport::subscribe`] contract): refused
/// once the transport is stopped, or when it is subscribed already.
pub fn claim_subscription(
    stopped: bool,
    subscribed: &std::sync::atomic::AtomicBool,
) -> Result<(), TransportError> {
    if stopped {
        return Err(TransportError::Closed);
    }
    if subscribed.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Err(TransportError::AlreadySubscribed);
    }
    Ok(())
}

/// A connection to the other side for one role.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Who this transport is for.
    fn role(&self) -> &TransportRole;

    /// Starts receiving events of `data_types` for this role. Called once; the transport
    /// re-subscribes by itself after every reconnect and yields [`Inbound::Subscribed`] each
    /// time (including the first). The stream ends when the transport is closed.
    async fn subscribe(
        &self,
        data_types: &[DataType],
    ) -> Result<mpsc::Receiver<Inbound>, TransportError>;

    /// Sends one event; routing comes from the event and the role. Fails fast with
    /// [`TransportError::NotConnected`] while the connection is down: never blocks forever.
    async fn publish(&self, event: &Event) -> Result<(), TransportError>;

    /// Disconnects cleanly and ends the subscription stream.
    async fn close(&self);
}
