//! Source client ⇄ baton broker ⇄ agent client over real loopback sockets (docs/protocol.md §8.5,
//! §6): spec create / update / delete, status back, both resync directions, broadcast resync,
//! routing isolation, and 200 agents on one broker.
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use baton::broker::BrokerConfig;
use baton::cloudevents::transport::grpc::GrpcTransport;
use baton::cloudevents::{Action, Inbound, Transport, TransportRole};

use crate::grpc_harness::{Agent, Source, TestBroker, WAIT, Widget, WidgetStore, widgets};
use crate::support::eventually;

/// Waits until the broker has `n` subscriptions (every party's Subscribe is in).
async fn subscribed(broker: &TestBroker, n: usize) {
    eventually(
        &format!("{n} subscriptions at the broker"),
        WAIT,
        || async { broker.broker.subscriber_count() == n },
    )
    .await;
}

#[tokio::test]
async fn spec_status_and_both_resyncs_flow_between_source_and_agent() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let source = Source::start(broker.options(), "hub").await;
    let agent = Agent::start(broker.options(), "c1").await;
    subscribed(&broker, 2).await;
    assert!(broker.broker.connected_clusters().contains("c1"));

    // create, update
    source
        .send(Action::CreateRequest, Widget::new("w1", "c1", 1, "v1"))
        .await;
    eventually("agent applies w1", WAIT, || async {
        agent.store.get("w1").is_some_and(|w| w.spec == "v1")
    })
    .await;
    let mut w1 = source.store.get("w1").unwrap();
    w1.version = 2;
    w1.spec = "v2".into();
    source.send(Action::UpdateRequest, w1.clone()).await;
    eventually("agent applies w1 v2", WAIT, || async {
        agent.store.get("w1").is_some_and(|w| w.version == 2)
    })
    .await;

    // status back to the owning source
    agent.report("w1", "applied").await;
    eventually("source gets w1 status", WAIT, || async {
        source
            .statuses
            .get("w1")
            .is_some_and(|w| w.status == "applied")
    })
    .await;

    // spec resync (agent → sources): a widget the agent never heard of arrives.
    source.store.put(Widget::new("w2", "c1", 1, "missed"));
    agent.client.resync(None).await.unwrap();
    eventually("agent gets w2 by spec resync", WAIT, || async {
        agent.store.get("w2").is_some()
    })
    .await;

    // status resync (source → one cluster): a status the source never heard of arrives.
    let mut held = agent.store.get("w2").unwrap();
    held.status = "quietly-ready".into();
    agent.store.put(held);
    source.client.resync(Some("c1")).await.unwrap();
    eventually("source gets w2 status by status resync", WAIT, || async {
        source
            .statuses
            .get("w2")
            .is_some_and(|w| w.status == "quietly-ready")
    })
    .await;

    // delete
    let mut doomed = source.store.get("w1").unwrap();
    doomed.deleting = Some(chrono::Utc::now());
    source.send(Action::DeleteRequest, doomed).await;
    eventually("agent deletes w1", WAIT, || async {
        agent.store.get("w1").is_none()
    })
    .await;
    assert_eq!(broker.broker.stats().malformed, 0);
    source.client.shutdown().await;
    agent.client.shutdown().await;
    subscribed(&broker, 0).await;
}

#[tokio::test]
async fn broadcast_status_resync_reaches_every_agent() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let mut agents = Vec::new();
    // The source's desired state holds every widget (else its spec resync answers would
    // delete them on the agents); the agents hold them with a status the source lacks.
    let desired = WidgetStore::default();
    for i in 0..10 {
        let w = Widget::new(&format!("w{i}"), &format!("c{i}"), 1, "s");
        desired.put(w.clone());
        let store = WidgetStore::default();
        store.put(Widget {
            status: format!("status-{i}"),
            ..w
        });
        agents.push(Agent::start_with(broker.options(), &format!("c{i}"), store).await);
    }
    subscribed(&broker, 10).await;
    let source = Source::start_with(broker.options(), "hub", desired).await;
    subscribed(&broker, 11).await;
    // The source's own resync on subscribing already asks everyone; ask again explicitly.
    eventually("first round of statuses", WAIT, || async {
        source.statuses.len() == 10
    })
    .await;
    source.statuses.clear();
    source.client.resync(None).await.unwrap();
    eventually("every agent answers the broadcast", WAIT, || async {
        source.statuses.len() == 10
    })
    .await;
    assert_eq!(source.statuses.get("w7").unwrap().status, "status-7");
}

/// A raw agent-side subscription that records every event it receives.
async fn spy(
    broker: &TestBroker,
    cluster: &str,
) -> (GrpcTransport, tokio::sync::mpsc::Receiver<Inbound>) {
    let transport = GrpcTransport::new(TransportRole::agent(cluster), broker.options()).unwrap();
    let inbox = transport.subscribe(&[widgets()]).await.unwrap();
    (transport, inbox)
}

#[tokio::test]
async fn agents_see_only_their_cluster_and_sources_only_their_status() {
    use ::cloudevents::AttributesReader;
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let s1 = Source::start(broker.options(), "s1").await;
    let s2 = Source::start(broker.options(), "s2").await;
    let a1 = Agent::start(broker.options(), "c1").await;
    let (_spy_transport, mut spy_c2) = spy(&broker, "c2").await;
    subscribed(&broker, 4).await;

    s1.send(
        Action::CreateRequest,
        Widget::new("for-c1", "c1", 1, "x").owned_by("s1"),
    )
    .await;
    eventually("c1 gets its widget", WAIT, || async {
        a1.store.get("for-c1").is_some()
    })
    .await;
    a1.report("for-c1", "done").await;
    eventually("s1 gets the status", WAIT, || async {
        s1.statuses.get("for-c1").is_some()
    })
    .await;
    // A marker for c2, sent last: per-stream order means anything misrouted would come first.
    s1.send(
        Action::CreateRequest,
        Widget::new("marker", "c2", 1, "x").owned_by("s1"),
    )
    .await;
    loop {
        let item = tokio::time::timeout(WAIT, spy_c2.recv())
            .await
            .expect("spy hears the marker")
            .unwrap();
        let Inbound::Event(event) = item else {
            continue;
        };
        let cluster = baton::cloudevents::extensions::string(&event, "clustername").unwrap();
        // Status resync broadcasts (clustername "") are for everyone; anything else must be c2's.
        assert!(
            matches!(cluster, Some("c2") | Some("")),
            "c2 saw {} for {cluster:?}",
            event.ty()
        );
        if baton::cloudevents::extensions::string(&event, "resourceid").unwrap() == Some("marker") {
            break;
        }
    }
    // A status marker for s2, reported after s1's: anything misrouted to s2 would come first.
    s2.send(
        Action::CreateRequest,
        Widget::new("of-s2", "c1", 1, "x").owned_by("s2"),
    )
    .await;
    eventually("c1 gets s2's widget", WAIT, || async {
        a1.store.get("of-s2").is_some()
    })
    .await;
    a1.report("of-s2", "done").await;
    eventually("s2 gets its status", WAIT, || async {
        s2.statuses.get("of-s2").is_some()
    })
    .await;
    assert_eq!(s2.statuses.len(), 1, "s2 must not see s1's status");
    assert_eq!(s1.statuses.len(), 1, "s1 must not see s2's status");
}

#[tokio::test]
async fn two_hundred_agents_on_one_broker() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let source = Source::start(broker.options(), "hub").await;
    let mut agents = Vec::with_capacity(200);
    for i in 0..200 {
        agents.push(Agent::start(broker.options(), &format!("cluster-{i:03}")).await);
    }
    subscribed(&broker, 201).await;
    assert_eq!(broker.broker.connected_clusters().len(), 200);
    for i in 0..200 {
        let cluster = format!("cluster-{i:03}");
        source
            .send(
                Action::CreateRequest,
                Widget::new(&format!("w-{i}"), &cluster, 1, "x"),
            )
            .await;
    }
    eventually(
        "every agent applies its widget",
        Duration::from_secs(60),
        || async { agents.iter().all(|a| a.store.len() == 1) },
    )
    .await;
    for (i, agent) in agents.iter().enumerate() {
        assert!(
            agent.store.get(&format!("w-{i}")).is_some(),
            "agent {i} got another cluster's widget"
        );
    }
    for (i, agent) in agents.iter().enumerate().step_by(20) {
        agent.report(&format!("w-{i}"), "ok").await;
    }
    eventually("statuses of 10 agents", WAIT, || async {
        source.statuses.len() == 10
    })
    .await;
}

#[tokio::test]
async fn an_agent_that_subscribes_before_any_source_still_gets_its_specs() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let agent = Agent::start(broker.options(), "c1").await;
    // The agent's spec resync found no source: the broker parks it.
    eventually("the resync request is parked", WAIT, || async {
        broker.broker.parked_resyncs() == 1
    })
    .await;
    let desired = WidgetStore::default();
    desired.put(Widget::new("early", "c1", 1, "x"));
    let _source = Source::start_with(broker.options(), "hub", desired).await;
    eventually("the agent gets the spec", WAIT, || async {
        agent.store.get("early").is_some()
    })
    .await;
    assert_eq!(broker.broker.parked_resyncs(), 0);
}
