//! The gRPC link under stress (docs/protocol.md §8.3, §8.7): heartbeat timeouts, a broker restart,
//! and a subscriber too slow to keep up.
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use baton::broker::BrokerConfig;
use baton::cloudevents::transport::grpc::proto::SubscriptionRequest;
use baton::cloudevents::transport::grpc::proto::cloud_event_service_client::CloudEventServiceClient;
use baton::cloudevents::transport::grpc::{GrpcTransport, SUBSCRIPTION_ID_HEADER, binding};
use baton::cloudevents::{
    Action, EventBuilder, SubResource, Transport, TransportError, TransportRole,
};
use futures::StreamExt as _;
use tonic::Code;

use crate::grpc_harness::{Agent, Source, TestBroker, WAIT, Widget, event_type, widgets};
use crate::support::eventually;

async fn raw_client(broker: &TestBroker) -> CloudEventServiceClient<tonic::transport::Channel> {
    CloudEventServiceClient::connect(format!("http://{}", broker.addr))
        .await
        .unwrap()
}

fn agent_request(cluster: &str) -> SubscriptionRequest {
    SubscriptionRequest {
        source: String::new(),
        cluster_name: cluster.into(),
        data_type: widgets().to_string(),
    }
}

#[tokio::test]
async fn a_stream_without_heartbeats_is_declared_dead_and_reconnected() {
    let broker = TestBroker::start(BrokerConfig {
        heartbeat_interval: None,
        ..BrokerConfig::default()
    })
    .await;
    let mut options = broker.options();
    options.server_healthiness_timeout = Some(Duration::from_millis(300));
    let agent = Agent::start(options, "c1").await;
    eventually(
        "the agent reconnects after missed heartbeats",
        WAIT,
        || async { agent.transport.stats().subscriptions >= 3 },
    )
    .await;
    // Every reconnect resubscribes and resyncs.
    eventually("a resync per subscription", WAIT, || async {
        agent.client.stats().resyncs_sent >= 3
    })
    .await;
}

#[tokio::test]
async fn heartbeats_keep_a_stream_alive_and_never_reach_the_client() {
    let broker = TestBroker::start(BrokerConfig {
        heartbeat_interval: Some(Duration::from_millis(50)),
        ..BrokerConfig::default()
    })
    .await;
    let mut options = broker.options();
    options.server_healthiness_timeout = Some(Duration::from_millis(400));
    let agent = Agent::start(options, "c1").await;
    // A raw stream on the same broker counts heartbeats: time passes, several windows' worth.
    let response = raw_client(&broker)
        .await
        .subscribe(agent_request("c1"))
        .await
        .unwrap();
    assert_eq!(
        response
            .metadata()
            .get_all(SUBSCRIPTION_ID_HEADER)
            .iter()
            .count(),
        1
    );
    let mut stream = response.into_inner();
    let mut heartbeats = 0;
    while heartbeats < 30 {
        let message = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            binding::is_heartbeat(&message),
            "only heartbeats flow: {message:?}"
        );
        heartbeats += 1;
    }
    assert_eq!(
        agent.transport.stats().subscriptions,
        1,
        "heartbeats kept the stream alive"
    );
    assert_eq!(
        agent.client.stats().received,
        0,
        "heartbeats are not events"
    );
}

#[tokio::test]
async fn clients_reconnect_and_resync_after_a_broker_restart() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let source = Source::start(broker.options(), "hub").await;
    let agent = Agent::start(broker.options(), "c1").await;
    eventually("both subscribed", WAIT, || async {
        broker.broker.subscriber_count() == 2
    })
    .await;

    let (instance, addr) = broker.stop().await;
    // While the broker is down a publish fails fast, and the change is only in the store.
    let missed = Widget::new("missed", "c1", 1, "x");
    source.store.put(missed.clone());
    let ty = event_type(SubResource::Spec, Action::CreateRequest);
    let err = source.client.publish(&ty, &missed).await.unwrap_err();
    assert!(
        matches!(
            err,
            baton::cloudevents::ClientError::Transport(TransportError::NotConnected)
        ),
        "{err}"
    );

    let broker = TestBroker::restart(instance, addr).await;
    eventually("agent gets the missed widget by resync", WAIT, || async {
        agent.store.get("missed").is_some()
    })
    .await;
    assert!(agent.transport.stats().subscriptions >= 2);
    assert!(source.transport.stats().subscriptions >= 2);
    assert_eq!(
        broker
            .broker
            .connected_clusters()
            .into_iter()
            .collect::<Vec<_>>(),
        ["c1"]
    );
}

#[tokio::test]
async fn an_overflowing_subscriber_loses_only_its_own_stream() {
    let broker = TestBroker::start(BrokerConfig {
        queue_capacity: 16,
        ..BrokerConfig::default()
    })
    .await;
    // The slow one subscribes and never reads; the fast one reads everything.
    let slow = raw_client(&broker)
        .await
        .subscribe(agent_request("c1"))
        .await
        .unwrap();
    let fast = GrpcTransport::new(TransportRole::agent("c1"), broker.options()).unwrap();
    let mut fast_inbox = fast.subscribe(&[widgets()]).await.unwrap();
    eventually("both subscribed", WAIT, || async {
        broker.broker.subscriber_count() == 2
    })
    .await;

    let publisher = GrpcTransport::new(TransportRole::source("hub"), broker.options()).unwrap();
    let ty = event_type(SubResource::Spec, Action::UpdateRequest);
    let payload = serde_json::to_vec(&serde_json::json!({ "blob": "x".repeat(100_000) })).unwrap();
    const EVENTS: usize = 80;
    for i in 0..EVENTS {
        let event = EventBuilder::new("hub", &ty)
            .cluster_name("c1")
            .resource_id(format!("r{i}"))
            .resource_version(1)
            .json_data(payload.clone())
            .build()
            .unwrap();
        publisher.publish(&event).await.unwrap();
    }
    let mut received = 0;
    while received < EVENTS {
        match tokio::time::timeout(WAIT, fast_inbox.recv())
            .await
            .unwrap()
            .unwrap()
        {
            baton::cloudevents::Inbound::Event(_) => received += 1,
            baton::cloudevents::Inbound::Subscribed => {}
        }
    }
    assert_eq!(
        fast.stats().subscriptions,
        1,
        "the fast subscriber was never cut"
    );
    assert_eq!(broker.broker.stats().overflows, 1);

    // The slow stream delivers what was already in flight, then ends with a clear status.
    let mut stream = slow.into_inner();
    let status = loop {
        match tokio::time::timeout(WAIT, stream.next()).await.unwrap() {
            Some(Ok(_)) => continue,
            Some(Err(status)) => break status,
            None => panic!("the slow stream ended without a status"),
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("resync"), "{}", status.message());
}

#[tokio::test]
async fn a_slow_source_makes_publishers_wait_and_loses_no_event() {
    // A source's queue is 64 × 1 here; 200 statuses of ~100 KB (20 MB) fill it and h2's
    // windows (a few MB).
    let broker = TestBroker::start(BrokerConfig {
        queue_capacity: 1,
        ..BrokerConfig::default()
    })
    .await;
    let slow = raw_client(&broker)
        .await
        .subscribe(SubscriptionRequest {
            source: "hub".into(),
            cluster_name: String::new(),
            data_type: widgets().to_string(),
        })
        .await
        .unwrap();
    eventually("the source subscribed", WAIT, || async {
        broker.broker.subscriber_count() == 1
    })
    .await;
    const EVENTS: usize = 200;
    let agent = GrpcTransport::new(TransportRole::agent("c1"), broker.options()).unwrap();
    let publishing = tokio::spawn(async move {
        let ty = event_type(SubResource::Status, Action::UpdateRequest);
        let payload = serde_json::to_vec(&serde_json::json!({ "blob": "x".repeat(100_000) }));
        for i in 0..EVENTS {
            let event = EventBuilder::new("c1-work-agent", &ty)
                .cluster_name("c1")
                .original_source("hub")
                .resource_id(format!("r{i}"))
                .resource_version(1)
                .json_data(payload.as_ref().unwrap().clone())
                .build()
                .unwrap();
            agent.publish(&event).await.unwrap();
        }
    });
    // The source reads only once the broker holds publishers back.
    eventually("a publisher waits for the source", WAIT, || async {
        broker.broker.stats().source_waits >= 1
    })
    .await;
    let mut stream = slow.into_inner();
    let mut ids = Vec::new();
    while ids.len() < EVENTS {
        let message = tokio::time::timeout(WAIT, stream.next()).await.unwrap();
        let message = message.expect("the source's stream is kept").unwrap();
        if !binding::is_heartbeat(&message) {
            ids.push(message.id);
        }
    }
    publishing.await.unwrap();
    let stats = broker.broker.stats();
    assert_eq!((stats.overflows, stats.dropped), (0, 0));
    assert_eq!(ids.len(), EVENTS);
}
