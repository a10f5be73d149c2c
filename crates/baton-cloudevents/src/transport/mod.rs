//! The transport abstraction: how a client reaches the other side. A transport is built for one
//! [`TransportRole`] (a source or an agent), derives routing (topics, subscription filters)
//! from the event and its role as PROTOCOL.md says, keeps its connection alive on its own and
//! tells the client each time the subscription is (re)established, so the client resyncs.
//!
//! Implementations: [`memory`] (in-process, for unit tests of client logic), `mqtt` (§7) and
//! `grpc` (§8). Shared by the config files of both: [`go_duration`], [`credentials`].

mod config_file;
pub mod credentials;
pub mod go_duration;
pub mod grpc;
pub mod memory;
pub mod mqtt;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::Event;
use super::event_type::DataType;

/// Who is on this end of the transport; fixes routing and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransportRole {
    /// The hub side: publishes spec events and status resyncs, receives status events and
    /// spec resyncs addressed to `source_id`.
    Source { source_id: String },
    /// One managed cluster: publishes status events and spec resyncs, receives the spec events
    /// and status resyncs of `cluster_name`. `agent_id` is its CloudEvent `source`.
    Agent {
        cluster_name: String,
        agent_id: String,
    },
}

impl TransportRole {
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
    #[error("not connected to the broker; the event was not sent (retry once reconnected)")]
    NotConnected,
    #[error("the transport is closed")]
    Closed,
    #[error("the transport is already subscribed")]
    AlreadySubscribed,
    #[error("no route for event type {event_type}: {reason}")]
    NoRoute { event_type: String, reason: String },
    #[error("the broker refused the event: {0}")]
    Rejected(String),
    #[error("the event cannot be sent on this transport: {0}")]
    Encode(String),
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
