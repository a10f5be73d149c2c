//! Broker restart mid-stream (§7.1, §6.1): publishes fail fast while it is down, both clients
//! reconnect, resubscribe and resync, and nothing published after the restart is lost.

use baton::cloudevents::ClientError;
use baton::cloudevents::transport::TransportError;

use super::broker::Mosquitto;
use std::sync::Arc;
use std::time::Duration;

use baton::cloudevents::backoff::BackoffPolicy;
use baton::cloudevents::transport::TransportRole;

use super::fixtures::{
    LIMIT, WidgetStore, agent_client_over, event_type, has, source_client, thing,
};
use crate::support::eventually;

#[tokio::test]
async fn clients_reconnect_resubscribe_and_resync_after_a_broker_restart() {
    let mut broker = Mosquitto::start().await;
    let (source_store, seen) = (WidgetStore::default(), WidgetStore::default());
    let (source, _) = source_client(&broker, &source_store, &seen).await;
    // The agent reconnects well after the source: a resync request sent while the other side
    // is still reconnecting is lost (clean sessions, as in sdk-go), so the order is fixed here.
    let slow = BackoffPolicy {
        initial: Duration::from_secs(3),
        ..BackoffPolicy::fast()
    };
    let agent_store = WidgetStore::default();
    let transport = broker.transport_with(TransportRole::agent("cluster1"), "", slow);
    let agent = agent_client_over(Arc::new(transport), "cluster1", &agent_store).await;

    let before = thing("before", "cluster1", 1, "v1");
    source_store.put(before.clone());
    source
        .publish(&event_type("spec.create_request"), &before)
        .await
        .unwrap();
    has(&agent_store, "spec before the restart", "before", |_| true).await;

    broker.stop().await;
    // While the broker is down a publish fails fast with a typed error; the source keeps the
    // change in its store, so the agent's resync after the reconnect must bring it.
    let during = thing("during", "cluster1", 1, "made while down");
    source_store.put(during.clone());
    let create = event_type("spec.create_request");
    let publish = source.publish(&create, &during);
    let failed = tokio::time::timeout(LIMIT, publish)
        .await
        .expect("fails fast, not hangs");
    assert!(
        matches!(
            failed,
            Err(ClientError::Transport(TransportError::NotConnected))
        ),
        "{failed:?}"
    );

    broker.restart().await;
    eventually("both clients resubscribed", LIMIT, || async {
        source.stats().subscriptions >= 2 && agent.stats().subscriptions >= 2
    })
    .await;
    has(
        &agent_store,
        "agent's spec resync brings the change made while down",
        "during",
        |_| true,
    )
    .await;

    // Everything published after the restart arrives, in both directions.
    for n in 0..50 {
        let thing = thing(&format!("after-{n}"), "cluster1", 1, "after");
        source_store.put(thing.clone());
        source
            .publish(&event_type("spec.create_request"), &thing)
            .await
            .unwrap();
        agent
            .publish(
                &event_type("status.update_request"),
                &thing.with_status("ok"),
            )
            .await
            .unwrap();
    }
    for n in 0..50 {
        let id = format!("after-{n}");
        has(
            &agent_store,
            "spec published after the restart",
            &id,
            |_| true,
        )
        .await;
        has(&seen, "status published after the restart", &id, |t| {
            t.status == "ok"
        })
        .await;
    }
    agent.shutdown().await;
    source.shutdown().await;
}

/// How long the broker stays away: long enough that sdk-go's backoff (5 s, then 25 s or
/// more) would keep the hub away for half a minute after the broker returns.
const OUTAGE: Duration = Duration::from_secs(8);

#[tokio::test]
async fn the_hub_reconnects_within_seconds_of_the_broker_returning() {
    use baton::hub::connections::{MqttConnections, mqtt_reconnect_backoff};
    use baton::hub::state::Connections;

    let mut broker = Mosquitto::start().await;
    let transport = Arc::new(broker.transport_with(
        TransportRole::source(super::fixtures::SOURCE),
        "",
        mqtt_reconnect_backoff(),
    ));
    let (desired, seen) = (WidgetStore::default(), WidgetStore::default());
    let codec = crate::widget::WidgetCodec::for_type(super::fixtures::data_type());
    let _source = crate::widget::storing_source(
        super::fixtures::SOURCE,
        transport.clone(),
        &desired,
        &seen,
        codec,
    )
    .await;
    let hub = MqttConnections(transport);
    eventually("hub connected", LIMIT, || async { hub.source_connected() }).await;

    broker.stop().await;
    eventually("hub sees the broker gone", LIMIT, || async {
        !hub.source_connected()
    })
    .await;
    // The outage itself, not a wait for a condition: the backoff grows while it lasts.
    tokio::time::sleep(OUTAGE).await;
    broker.restart().await;
    let returned = std::time::Instant::now();
    eventually("hub reconnected", LIMIT * 3, || async {
        hub.source_connected()
    })
    .await;
    let took = returned.elapsed();
    assert!(
        took < Duration::from_secs(6),
        "the hub reconnected {took:?} after the broker returned"
    );
}
