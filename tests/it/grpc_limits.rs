//! The broker's connection bounds (issue 20 finding 3, gRPC side; `broker::conns`): a
//! connection that makes no call in time is closed, one without a subscription is closed once
//! idle, at most a cap of those are open at once, and subscribers are never closed for it.
//! Raw TCP sockets and real tonic clients against the broker on a real socket.

use std::time::Duration;

use baton::broker::{BrokerConfig, ConnLimits};
use baton::cloudevents::transport::grpc::binding;
use baton::cloudevents::transport::grpc::proto::PublishRequest;
use baton::cloudevents::transport::grpc::proto::cloud_event_service_client::CloudEventServiceClient;
use baton::cloudevents::{Action, EventBuilder, SubResource};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::grpc_harness::{Agent, TestBroker, WAIT, event_type};
use crate::support::eventually;

async fn broker(limits: ConnLimits) -> TestBroker {
    TestBroker::start(BrokerConfig {
        connections: limits,
        ..BrokerConfig::default()
    })
    .await
}

/// Reads until the broker closes the socket; panics if it is still open after `limit`.
async fn closed_within(socket: &mut TcpStream, limit: Duration) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // the server's HTTP/2 settings
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection is still open after {limit:?}"
    );
}

fn status_event() -> PublishRequest {
    let event = EventBuilder::new(
        "c1-work-agent",
        &event_type(SubResource::Status, Action::UpdateRequest),
    )
    .cluster_name("c1")
    .original_source("hub")
    .resource_id("w")
    .resource_version(1)
    .json_data(b"{}".to_vec())
    .build()
    .unwrap();
    PublishRequest {
        event: Some(binding::to_proto(&event).unwrap()),
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_first_call_timeout() {
    let limits = ConnLimits {
        first_call: Duration::from_millis(300),
        ..ConnLimits::default()
    };
    let broker = broker(limits).await;
    let started = tokio::time::Instant::now();
    let mut silent = TcpStream::connect(broker.addr).await.unwrap();
    closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= limits.first_call);
    assert_eq!(broker.broker.stats().connections_timed_out, 1);
    assert_eq!(broker.broker.unsubscribed_connections(), 0);
}

#[tokio::test]
async fn an_idle_publisher_is_closed_and_a_subscriber_is_kept() {
    let limits = ConnLimits {
        first_call: Duration::from_millis(500),
        idle_unsubscribed: Duration::from_millis(500),
        max_unsubscribed: 16,
    };
    let broker = broker(limits).await;
    let agent = Agent::start(broker.options(), "c1").await;
    eventually("the agent subscribed", WAIT, || async {
        broker.broker.subscriber_count() == 1
    })
    .await;
    let mut publisher = CloudEventServiceClient::connect(format!("http://{}", broker.addr))
        .await
        .unwrap();
    publisher.publish(status_event()).await.unwrap();
    eventually("the idle publisher's connection closed", WAIT, || async {
        broker.broker.stats().connections_timed_out == 1
    })
    .await;
    // The subscriber's connection is older than both deadlines and was never touched.
    assert_eq!(broker.broker.subscriber_count(), 1);
    assert_eq!(
        agent.transport.stats().subscriptions,
        1,
        "never resubscribed"
    );
    assert_eq!(broker.broker.unsubscribed_connections(), 0);
    // The publisher's channel reconnects on a later call (the first may still meet the
    // connection the broker just closed, and fail as cancelled).
    eventually("the publisher publishes again", WAIT, || {
        let mut publisher = publisher.clone();
        async move { publisher.publish(status_event()).await.is_ok() }
    })
    .await;
}

#[tokio::test]
async fn at_the_cap_new_connections_are_closed_at_once_and_subscribers_still_get_in() {
    let limits = ConnLimits {
        first_call: Duration::from_secs(30),
        idle_unsubscribed: Duration::from_secs(30),
        max_unsubscribed: 3,
    };
    let broker = broker(limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(broker.addr).await.unwrap());
    }
    eventually("three connections held", WAIT, || async {
        broker.broker.unsubscribed_connections() == 3
    })
    .await;
    let mut over = TcpStream::connect(broker.addr).await.unwrap();
    closed_within(&mut over, Duration::from_secs(5)).await;
    assert_eq!(broker.broker.stats().connections_refused, 1);
    drop(held);
    eventually("the held connections are gone", WAIT, || async {
        broker.broker.unsubscribed_connections() == 0
    })
    .await;
    let _agent = Agent::start(broker.options(), "c1").await;
    eventually("an agent subscribes", WAIT, || async {
        broker.broker.subscriber_count() == 1
    })
    .await;
    assert_eq!(broker.broker.unsubscribed_connections(), 0);
}
