//! Several hub replicas on a `$share` subscription (§7.3, §7.5): each agent event reaches
//! exactly one of them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use ::cloudevents::AttributesReader;
use baton::cloudevents::backoff::BackoffPolicy;
use baton::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use baton::cloudevents::transport::{Inbound, Transport, TransportRole};
use baton::cloudevents::{EventBuilder, payload::ResourceVersionList};

use super::broker::Mosquitto;
use super::fixtures::{LIMIT, SOURCE, data_type, event_type};
use crate::support::eventually;

const SHARED_TOPICS: &str = "topics:
  sourceEvents: sources/maestro/consumers/+/sourceevents
  agentEvents: $share/hub/sources/maestro/consumers/+/agentevents
  sourceBroadcast: sources/+/sourcebroadcast
  agentBroadcast: $share/hub/consumers/+/agentbroadcast
";

fn replica(broker: &Mosquitto, client_id: &str) -> MqttTransport {
    let config = MqttConfig::from_yaml(&format!("brokerHost: {}\n{SHARED_TOPICS}", broker.host()))
        .expect("shared config");
    MqttTransport::builder(config, TransportRole::source(SOURCE))
        .client_id(client_id)
        .backoff(BackoffPolicy::fast())
        .build()
        .expect("replica builds")
}

/// Collects the ids of the events a replica receives, counting its subscriptions.
fn collect(
    mut inbound: tokio::sync::mpsc::Receiver<Inbound>,
) -> (Arc<Mutex<Vec<String>>>, Arc<Mutex<u32>>) {
    let ids = Arc::new(Mutex::new(Vec::new()));
    let subscribed = Arc::new(Mutex::new(0));
    let (ids_out, subscribed_out) = (ids.clone(), subscribed.clone());
    tokio::spawn(async move {
        while let Some(item) = inbound.recv().await {
            match item {
                Inbound::Subscribed => *subscribed.lock().unwrap() += 1,
                Inbound::Event(event) => ids.lock().unwrap().push(event.id().to_owned()),
            }
        }
    });
    (ids_out, subscribed_out)
}

#[tokio::test]
async fn each_agent_event_reaches_exactly_one_replica() {
    let broker = Mosquitto::start().await;
    let (hub_a, hub_b) = (replica(&broker, "hub-a"), replica(&broker, "hub-b"));
    assert_eq!(
        hub_a.subscription_filters(),
        [
            "$share/hub/sources/maestro/consumers/+/agentevents",
            "$share/hub/consumers/+/agentbroadcast"
        ]
    );
    let (got_a, subscribed_a) = collect(hub_a.subscribe(&[data_type()]).await.unwrap());
    let (got_b, subscribed_b) = collect(hub_b.subscribe(&[data_type()]).await.unwrap());
    eventually("both replicas subscribed", LIMIT, || {
        let both = *subscribed_a.lock().unwrap() > 0 && *subscribed_b.lock().unwrap() > 0;
        async move { both }
    })
    .await;

    let agent = broker.transport(TransportRole::agent("cluster1"), "");
    agent.wait_connected(LIMIT).await.unwrap();
    let mut sent = HashSet::new();
    for n in 0..40 {
        let status = EventBuilder::new("cluster1-work-agent", &event_type("status.update_request"))
            .cluster_name("cluster1")
            .original_source(SOURCE)
            .resource_id(format!("r{n}"))
            .resource_version(1)
            .json_data(b"{}".to_vec())
            .build()
            .unwrap();
        agent.publish(&status).await.unwrap();
        sent.insert(status.id().to_owned());
    }
    // A spec resync to every source goes over the (shared) agent broadcast topic.
    let resync = EventBuilder::new("cluster1-work-agent", &event_type("spec.resync_request"))
        .cluster_name("cluster1")
        .json_data(serde_json::to_vec(&ResourceVersionList::default()).unwrap())
        .build()
        .unwrap();
    agent.publish(&resync).await.unwrap();
    sent.insert(resync.id().to_owned());

    let total = sent.len();
    eventually("every event delivered", LIMIT, || {
        let n = got_a.lock().unwrap().len() + got_b.lock().unwrap().len();
        async move { n >= total }
    })
    .await;
    let a: HashSet<String> = got_a.lock().unwrap().iter().cloned().collect();
    let b: HashSet<String> = got_b.lock().unwrap().iter().cloned().collect();
    assert_eq!(
        got_a.lock().unwrap().len() + got_b.lock().unwrap().len(),
        total,
        "duplicates"
    );
    assert!(a.is_disjoint(&b), "an event reached both replicas");
    assert_eq!(&a | &b, sent);
    for transport in [&hub_a, &hub_b, &agent] {
        transport.close().await;
    }
}
