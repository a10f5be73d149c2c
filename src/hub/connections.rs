//! What the hub can tell about live connections, per transport: with the built-in broker it
//! knows exactly which clusters have an agent subscribed; over MQTT only its own link.

use std::sync::Arc;
use std::time::Duration;

use super::state::Connections;
use crate::broker::Broker;
use crate::cloudevents::backoff::BackoffPolicy;
use crate::cloudevents::transport::mqtt::{ConnectionState, MqttTransport};

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
        Some(self.broker.connected_clusters().len())
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
