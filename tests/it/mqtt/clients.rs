//! Source ⇄ agent through a real Mosquitto with the generic clients (§7, §6.1): spec to one
//! cluster, status back, and both resync directions over the broadcast topics.

use baton::cloudevents::ClientError;
use baton::cloudevents::transport::Transport;
use baton::cloudevents::transport::TransportError;

use super::broker::Mosquitto;
use super::fixtures::{WidgetStore, agent_client, event_type, has, source_client, thing};
use crate::support::eventually;

use super::fixtures::LIMIT;

#[tokio::test]
async fn spec_reaches_only_its_cluster_and_status_comes_back() {
    let broker = Mosquitto::start().await;
    let (source_store, seen) = (WidgetStore::default(), WidgetStore::default());
    let (source, _) = source_client(&broker, &source_store, &seen).await;
    let (store1, store2) = (WidgetStore::default(), WidgetStore::default());
    let agent1 = agent_client(&broker, "cluster1", &store1).await;
    let agent2 = agent_client(&broker, "cluster2", &store2).await;

    let web = thing("web", "cluster1", 1, "replicas: 2");
    let db = thing("db", "cluster2", 1, "replicas: 1");
    source_store.put(web.clone());
    source_store.put(db.clone());
    source
        .publish(&event_type("spec.create_request"), &web)
        .await
        .unwrap();
    source
        .publish(&event_type("spec.create_request"), &db)
        .await
        .unwrap();
    has(&store1, "cluster1 has web", "web", |t| {
        t.spec == "replicas: 2"
    })
    .await;
    has(&store2, "cluster2 has db", "db", |t| t.version == 1).await;
    assert!(store1.get("db").is_none(), "cluster1 got cluster2's spec");
    assert!(store2.get("web").is_none(), "cluster2 got cluster1's spec");

    let applied = web.clone().with_status("applied");
    agent1
        .publish(&event_type("status.update_request"), &applied)
        .await
        .unwrap();
    has(&seen, "source sees web's status", "web", |t| {
        t.status == "applied"
    })
    .await;

    // Agents may not send specs, sources may not send status: refused before the wire.
    assert!(matches!(
        agent1
            .publish(&event_type("spec.create_request"), &web)
            .await,
        Err(ClientError::WrongDirection { .. })
    ));
    for client in [&agent1, &agent2] {
        client.shutdown().await;
    }
    source.shutdown().await;
}

#[tokio::test]
async fn an_agent_that_starts_late_gets_its_specs_by_spec_resync() {
    let broker = Mosquitto::start().await;
    let (source_store, seen) = (WidgetStore::default(), WidgetStore::default());
    source_store.put(thing("web", "cluster1", 3, "v3"));
    source_store.put(thing("other", "cluster2", 1, "not for cluster1"));
    let (source, _) = source_client(&broker, &source_store, &seen).await;

    // The agent's spec resync goes to every source over consumers/cluster1/agentbroadcast.
    let store = WidgetStore::default();
    let agent = agent_client(&broker, "cluster1", &store).await;
    has(&store, "spec resync brings web", "web", |t| t.version == 3).await;
    eventually("source answered the resync", LIMIT, || async {
        source.stats().resyncs_answered >= 1
    })
    .await;
    assert!(store.get("other").is_none());
    agent.shutdown().await;
    source.shutdown().await;
}

#[tokio::test]
async fn a_source_that_starts_late_gets_status_by_broadcast_status_resync() {
    let broker = Mosquitto::start().await;
    let agent_store = WidgetStore::default();
    agent_store.put(thing("web", "cluster1", 1, "v1").with_status("available"));
    let agent = agent_client(&broker, "cluster1", &agent_store).await;

    // The source's status resync goes to every cluster over sources/maestro/sourcebroadcast.
    let (source_store, seen) = (WidgetStore::default(), WidgetStore::default());
    source_store.put(thing("web", "cluster1", 1, "v1"));
    let (source, _) = source_client(&broker, &source_store, &seen).await;
    has(&seen, "status resync brings web's status", "web", |t| {
        t.status == "available"
    })
    .await;

    // A resync of one cluster goes over that cluster's sourceevents topic.
    agent_store.put(thing("web", "cluster1", 1, "v1").with_status("degraded"));
    source.resync(Some("cluster1")).await.unwrap();
    has(&seen, "single-cluster resync", "web", |t| {
        t.status == "degraded"
    })
    .await;
    assert!(agent.stats().resyncs_answered >= 2);
    agent.shutdown().await;
    source.shutdown().await;
}

#[tokio::test]
async fn publishing_after_close_fails_with_closed() {
    let broker = Mosquitto::start().await;
    let (source_store, seen) = (WidgetStore::default(), WidgetStore::default());
    let (source, transport) = source_client(&broker, &source_store, &seen).await;
    source.shutdown().await;
    let event =
        baton::cloudevents::EventBuilder::new("maestro", &event_type("spec.create_request"))
            .cluster_name("cluster1")
            .build()
            .unwrap();
    assert!(matches!(
        transport.publish(&event).await,
        Err(TransportError::Closed)
    ));
}

/// `Ok` from `publish` means the broker acknowledged the message: a PUBACK that refuses it
/// (here Mosquitto's ACL) comes back as `Rejected`, matched to the right publish.
#[tokio::test]
async fn a_publish_the_broker_refuses_is_rejected_not_ok() {
    let broker = Mosquitto::start_with(|dir| {
        let acl = dir.join("acl");
        super::broker::write_readable(
            &acl,
            b"topic read sources/#\ntopic write sources/maestro/consumers/cluster1/sourceevents\n",
        );
        format!("acl_file {}\n", acl.display())
    })
    .await;
    let source = broker.transport(baton::cloudevents::TransportRole::source("maestro"), "");
    source.wait_connected(LIMIT).await.unwrap();
    let spec = |cluster: &str| {
        baton::cloudevents::EventBuilder::new("maestro", &event_type("spec.create_request"))
            .cluster_name(cluster)
            .json_data(b"{}".to_vec())
            .build()
            .unwrap()
    };
    for _ in 0..3 {
        source.publish(&spec("cluster1")).await.unwrap();
        let refused = source.publish(&spec("cluster2")).await;
        assert!(
            matches!(&refused, Err(TransportError::Rejected(reason)) if reason == "NotAuthorized"),
            "{refused:?}"
        );
    }
    let stats = source.stats();
    assert_eq!((stats.published, stats.publish_failures), (3, 3));
    source.close().await;
}
