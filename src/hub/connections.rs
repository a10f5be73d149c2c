//! What the hub can tell about live connections ([`Connections`]), per transport: with the
//! built-in broker it knows exactly which clusters have an agent subscribed; over MQTT only its
//! own link.

use std::sync::Arc;
use std::time::Duration;

use crate::broker::{Broker, BudgetSnapshot};
use crate::cloudevents::backoff::BackoffPolicy;
use crate::cloudevents::transport::mqtt::{ConnectionState, MqttTransport};
use crate::store::fleet::Connection;

/// What the hub knows about live connections, from its transport.
pub trait Connections: Send + Sync + 'static {
    /// Whether an agent of `cluster` is connected; `None` when the transport cannot tell.
    fn is_connected(&self, cluster: &str) -> Option<bool>;
    /// Whether the hub's own source client is connected (for `/readyz`).
    fn source_connected(&self) -> bool;
    /// How many clusters have an agent connected; `None` when the transport cannot tell.
    fn connected_count(&self) -> Option<usize> {
        None
    }
    /// How many clusters have an agent subscribed to this process's built-in broker (with
    /// several replicas, [`Connections::connected_count`] counts every replica's); `None`
    /// without the built-in broker.
    fn subscribed_here(&self) -> Option<usize> {
        None
    }
    /// Where the cluster's agent is connected among the replicas on one database, when a
    /// connection registry is kept (docs/ha.md).
    fn connection(&self, _cluster: &str) -> Option<Connection> {
        None
    }
    /// The hub's source's bytes in agents' queues (`broker::budget`); `None` without the
    /// built-in broker.
    fn local_budget(&self) -> Option<BudgetSnapshot> {
        None
    }
}

/// The embedded broker's view.
pub struct BrokerConnections {
    pub broker: Broker,
    pub source_id: String,
}

impl Connections for BrokerConnections {
    fn is_connected(&self, cluster: &str) -> Option<bool> {
        Some(self.broker.is_agent_connected(cluster))
    }

    fn source_connected(&self) -> bool {
        self.broker.is_source_connected(&self.source_id)
    }

    fn connected_count(&self) -> Option<usize> {
        self.subscribed_here()
    }

    fn subscribed_here(&self) -> Option<usize> {
        Some(self.broker.connected_clusters().len())
    }

    fn local_budget(&self) -> Option<BudgetSnapshot> {
        Some(self.broker.local_budget())
    }
}

/// Over MQTT the broker does not tell who is subscribed.
pub struct MqttConnections(pub Arc<MqttTransport>);

impl Connections for MqttConnections {
    fn is_connected(&self, _cluster: &str) -> Option<bool> {
        None
    }

    fn source_connected(&self) -> bool {
        self.0.connection_state() == ConnectionState::Connected
    }
}

/// The hub's reconnect backoff to its MQTT broker, capped at a few seconds. sdk-go's policy
/// (5 s, ×5, up to a minute) spreads a fleet of agents over time; the hub is one client per
/// replica, and while it is away no spec goes out and no status comes in.
pub fn mqtt_reconnect_backoff() -> BackoffPolicy {
    BackoffPolicy {
        initial: Duration::from_millis(250),
        factor: 2.0,
        max: Duration::from_secs(3),
        jitter: 0.5,
        reset_after: Duration::from_secs(60),
    }
}
