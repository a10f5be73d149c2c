//! The hub's own source client connected to its built-in broker in memory
//! (`Broker::local_source`): specs reach agents over gRPC, their statuses and spec resyncs
//! reach the source, and the source's subscription ends with its client.

use std::sync::Arc;

use baton::broker::BrokerConfig;
use baton::cloudevents::{Action, SubResource};

use crate::grpc_harness::{Agent, TestBroker, WAIT, Widget, WidgetStore, event_type, widgets};
use crate::support::eventually;
use crate::widget::{WidgetCodec, storing_source};

#[tokio::test]
async fn a_local_source_and_grpc_agents_exchange_specs_statuses_and_resyncs() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let (store, statuses) = (WidgetStore::default(), WidgetStore::default());
    store.put(Widget::new("w0", "c1", 1, "before the agent"));
    let source = storing_source(
        "hub",
        Arc::new(broker.broker.local_source("hub")),
        &store,
        &statuses,
        WidgetCodec::for_type(widgets()),
    )
    .await;
    assert!(broker.broker.is_source_connected("hub"));
    // The agent's spec resync on subscribing reaches the local source, which answers it.
    let agent = Agent::start(broker.options(), "c1").await;
    eventually("w0 by spec resync", WAIT, || async {
        agent.store.get("w0").is_some()
    })
    .await;
    let w1 = Widget::new("w1", "c1", 1, "v1");
    store.put(w1.clone());
    source
        .publish(&event_type(SubResource::Spec, Action::CreateRequest), &w1)
        .await
        .unwrap();
    eventually("agent applies w1", WAIT, || async {
        agent.store.get("w1").is_some()
    })
    .await;
    agent.report("w1", "applied").await;
    eventually("the local source gets w1's status", WAIT, || async {
        statuses.get("w1").is_some_and(|w| w.status == "applied")
    })
    .await;
    let stats = broker.broker.stats();
    assert!(stats.published >= 3 && stats.malformed == 0, "{stats:?}");
    source.shutdown().await;
    assert!(!broker.broker.is_source_connected("hub"));
    agent.client.shutdown().await;
}
