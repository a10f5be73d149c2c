//! The shared test resource ([`crate::widget`]) under its own data type, owned by [`SOURCE`],
//! and subscribed source / agent clients over a test Mosquitto: enough to drive the generic
//! clients over MQTT.

use std::sync::Arc;
use std::time::Duration;

use baton::cloudevents::transport::{Transport, TransportRole};
use baton::cloudevents::{AgentClient, DataType, EventType, SourceClient};

use super::broker::Mosquitto;
use crate::support::eventually;
pub use crate::widget::{Widget, WidgetStore};
use crate::widget::{WidgetCodec, storing_agent, storing_source};

pub const SOURCE: &str = "maestro";
pub const LIMIT: Duration = Duration::from_secs(20);

pub fn data_type() -> DataType {
    DataType::new("io.baton.test", "v1", "things")
}

pub fn event_type(suffix: &str) -> EventType {
    format!("{}.{suffix}", data_type())
        .parse()
        .expect("event type")
}

/// A widget owned by [`SOURCE`] under [`data_type`].
pub fn thing(id: &str, cluster: &str, version: i64, spec: &str) -> Widget {
    Widget::new(id, cluster, version, spec).owned_by(SOURCE)
}

/// A source client over MQTT whose handler writes received status into `seen`.
pub async fn source_client(
    broker: &Mosquitto,
    store: &WidgetStore,
    seen: &WidgetStore,
) -> (SourceClient<Widget>, Arc<dyn Transport>) {
    let transport: Arc<dyn Transport> =
        Arc::new(broker.transport(TransportRole::source(SOURCE), ""));
    let codec = WidgetCodec::for_type(data_type());
    let client = storing_source(SOURCE, transport.clone(), store, seen, codec).await;
    eventually("source subscribed", LIMIT, || async {
        client.stats().subscriptions >= 1
    })
    .await;
    (client, transport)
}

/// An agent client over MQTT whose handler applies specs to `store` (the agent's store).
pub async fn agent_client(
    broker: &Mosquitto,
    cluster: &str,
    store: &WidgetStore,
) -> AgentClient<Widget> {
    let transport = broker.transport(TransportRole::agent(cluster), "");
    agent_client_over(Arc::new(transport), cluster, store).await
}

/// Like [`agent_client`] over a given transport.
pub async fn agent_client_over(
    transport: Arc<dyn Transport>,
    cluster: &str,
    store: &WidgetStore,
) -> AgentClient<Widget> {
    let codec = WidgetCodec::for_type(data_type());
    let client = storing_agent(cluster, transport, store, codec).await;
    eventually("agent subscribed", LIMIT, || async {
        client.stats().subscriptions >= 1
    })
    .await;
    client
}

/// Polls `store` until it holds `id` satisfying `check`.
pub async fn has(store: &WidgetStore, what: &str, id: &str, check: impl Fn(&Widget) -> bool) {
    eventually(what, LIMIT, || {
        let found = store.get(id).is_some_and(|t| check(&t));
        async move { found }
    })
    .await;
}
