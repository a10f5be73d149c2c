//! The hub's whole loop with a simulated agent: REST → DB → publisher → transport → agent →
//! status → DB (docs/protocol.md §4.8, §5.2, §6.5), on both store backends. Over the in-memory
//! transport here; the real transports run the same flows in their own modules.

use std::sync::Arc;
use std::time::Duration;

use baton::agent::run::SimulatedAgent;
use baton::cloudevents::TransportRole;
use baton::cloudevents::transport::memory::MemoryBroker;
use serde_json::json;

use crate::harness::{Backend, TestDb, TestHub, backend_tests, configmap, resource_body};
use crate::support::eventually;

const WAIT: Duration = Duration::from_secs(10);

async fn hub_and_agent(backend: Backend, cluster: &str) -> (TestHub, SimulatedAgent, MemoryBroker) {
    let broker = MemoryBroker::new();
    let hub = TestHub::start(
        TestDb::new(backend).await,
        Arc::new(broker.transport(TransportRole::source("baton"))),
    )
    .await;
    hub.api.consumer(cluster).await;
    let agent = SimulatedAgent::start(
        cluster,
        Arc::new(broker.transport(TransportRole::agent(cluster))),
        None,
    )
    .await
    .unwrap();
    (hub, agent, broker)
}

async fn created_resource_is_applied_and_its_status_lands_in_the_row(backend: Backend) {
    let (hub, agent, _broker) = hub_and_agent(backend, "c1").await;
    let id = hub.api.resource_id("c1", Some("web")).await;
    eventually("Applied=True stored", WAIT, || hub.applied(&id, "True")).await;
    let resource = hub.resource(&id).await.unwrap();
    assert_eq!(
        resource["status"]["resourceStatus"]["manifests"][0]["resourceMeta"]["kind"],
        "ConfigMap"
    );
    assert_eq!(resource["status_hash"].as_str().unwrap().len(), 64);
    assert_eq!(agent.controller().object_count().await, 1);
    // The publisher counts after `publish` returns, which may be after the status is stored.
    eventually("one publish counted", WAIT, || async {
        hub.api
            .metrics()
            .await
            .contains("baton_publishes_total{outcome=\"ok\"} 1")
    })
    .await;
}

async fn updates_replace_the_applied_spec_and_deletes_remove_the_row(backend: Backend) {
    let (hub, agent, _broker) = hub_and_agent(backend, "c1").await;
    let id = hub.api.resource_id("c1", None).await;
    eventually("v1 applied", WAIT, || hub.applied(&id, "True")).await;
    let (status, _) = hub
        .api
        .put(
            &format!("/api/v1/resources/{id}"),
            json!({"version": 1, "manifests": [configmap("v2")]}),
        )
        .await;
    assert_eq!(status, 200);
    eventually("v2 applied", WAIT, || async {
        hub.applied(&id, "True").await && hub.resource(&id).await.unwrap()["version"] == 2
    })
    .await;
    let key = baton::agent::cluster::ObjectKey::of(&configmap("v2")).unwrap();
    assert_eq!(
        agent.controller().object(&key).await.unwrap()["data"]["value"],
        "v2"
    );

    let (status, _) = hub.api.delete(&format!("/api/v1/resources/{id}")).await;
    assert_eq!(status, 202);
    eventually("row removed after the agent confirms", WAIT, || async {
        hub.resource(&id).await.is_none()
    })
    .await;
    assert_eq!(
        agent.controller().object_count().await,
        0,
        "Foreground delete removes the objects"
    );
}

async fn apply_failures_are_visible_over_rest(backend: Backend) {
    let (hub, _agent, _broker) = hub_and_agent(backend, "c1").await;
    let mut failing = configmap("x");
    failing["metadata"]["annotations"] =
        json!({ baton::agent::controller::FAIL_ANNOTATION: "quota exceeded" });
    let mut body = resource_body("c1", None, "x");
    body["manifests"] = json!([failing]);
    let (_, created) = hub.api.post("/api/v1/resources", body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    eventually("Applied=False stored", WAIT, || hub.applied(&id, "False")).await;
    let resource = hub.resource(&id).await.unwrap();
    let manifest_conditions = &resource["status"]["resourceStatus"]["manifests"][0]["conditions"];
    assert!(
        manifest_conditions
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["message"] == "quota exceeded"),
        "{resource}"
    );
}

async fn changes_committed_while_the_broker_is_down_are_delivered_when_it_is_back(
    backend: Backend,
) {
    let (hub, _agent, broker) = hub_and_agent(backend, "c1").await;
    broker.set_down(true);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(hub.api.resource_id("c1", Some(&format!("r{i}"))).await);
    }
    eventually("publisher tried and failed", WAIT, || async {
        hub.api.metrics().await.contains("outcome=\"failed\"")
    })
    .await;
    assert!(!hub.applied(&ids[0], "True").await);
    broker.set_down(false);
    for id in &ids {
        eventually("applied after the broker is back", WAIT, || {
            hub.applied(id, "True")
        })
        .await;
    }
}

async fn a_new_hub_on_the_same_database_delivers_what_the_old_one_committed(backend: Backend) {
    let broker = MemoryBroker::new();
    let db = TestDb::new(backend).await;
    let first = TestHub::start(
        db.clone(),
        Arc::new(broker.transport(TransportRole::source("baton"))),
    )
    .await;
    first.api.consumer("c1").await;
    broker.set_down(true); // the first hub can commit but not publish
    let id = first.api.resource_id("c1", None).await;
    first.service.shutdown().await;
    first.api.store.close().await; // a SQLite database admits one process (hub) at a time
    broker.set_down(false);

    let agent = SimulatedAgent::start(
        "c1",
        Arc::new(broker.transport(TransportRole::agent("c1"))),
        None,
    )
    .await
    .unwrap();
    let second = TestHub::start(
        db,
        Arc::new(broker.transport(TransportRole::source("baton"))),
    )
    .await;
    eventually("delivered by the second hub", WAIT, || {
        second.applied(&id, "True")
    })
    .await;
    assert_eq!(agent.controller().object_count().await, 1);
}

async fn an_agent_restarted_from_its_state_dir_converges_by_resync(backend: Backend) {
    let broker = MemoryBroker::new();
    let hub = TestHub::start(
        TestDb::new(backend).await,
        Arc::new(broker.transport(TransportRole::source("baton"))),
    )
    .await;
    hub.api.consumer("c1").await;
    let state = tempfile::tempdir().unwrap();
    let start_agent = || {
        let transport = Arc::new(broker.transport(TransportRole::agent("c1")));
        SimulatedAgent::start("c1", transport, Some(state.path().into()))
    };
    let agent = start_agent().await.unwrap();
    let keep = hub.api.resource_id("c1", Some("keep")).await;
    let change = hub.api.resource_id("c1", Some("change")).await;
    let gone = hub.api.resource_id("c1", Some("gone")).await;
    for id in [&keep, &change, &gone] {
        eventually("applied", WAIT, || hub.applied(id, "True")).await;
    }
    agent.shutdown().await;

    // While the agent is away: one update, one delete, one create.
    hub.api
        .put(
            &format!("/api/v1/resources/{change}"),
            json!({"version": 1, "manifests": [configmap("v2")]}),
        )
        .await;
    hub.api.delete(&format!("/api/v1/resources/{gone}")).await;
    let new = hub.api.resource_id("c1", Some("new")).await;

    let agent = start_agent().await.unwrap();
    eventually("update applied", WAIT, || async {
        hub.applied(&change, "True").await && hub.resource(&change).await.unwrap()["version"] == 2
    })
    .await;
    eventually("new applied", WAIT, || hub.applied(&new, "True")).await;
    eventually("delete confirmed", WAIT, || async {
        hub.resource(&gone).await.is_none()
    })
    .await;
    assert!(hub.applied(&keep, "True").await);
    eventually("the cluster holds keep, change and new", WAIT, || async {
        agent.controller().object_count().await == 1
    })
    .await;
}

/// §5.2: a status older than the last accepted one (sequence id) changes nothing.
async fn a_stale_status_is_ignored(backend: Backend) {
    use baton::cloudevents::extensions as ext;
    use baton::cloudevents::{Action, Codec, EventType, SubResource, Transport};
    use baton::work::codec::BundleAgentCodec;
    use baton::work::model::manifest_bundles_data_type;
    use baton::work::sequence::SequenceId;

    let (hub, agent, broker) = hub_and_agent(backend, "c1").await;
    let id = hub.api.resource("c1", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("applied", WAIT, || hub.applied(&id, "True")).await;
    let stored_hash = hub.resource(&id).await.unwrap()["status_hash"].clone();

    // The agent's work, with a status that says the opposite, sent with an old sequence id.
    let mut work = agent.controller().client().get(&id).await.unwrap();
    for condition in &mut work.status.conditions {
        condition.status = "False".into();
    }
    let event_type = EventType::new(
        manifest_bundles_data_type(),
        SubResource::Status,
        Action::UpdateRequest,
    );
    let mut event = BundleAgentCodec::new()
        .encode("c1-work-agent", &event_type, &work)
        .unwrap();
    let old = SequenceId::new(chrono::Utc::now().timestamp_millis() - 60_000, 1, 0);
    event.set_extension(ext::SEQUENCE_ID, old.as_i64().to_string());
    let stale_sender = broker.transport(TransportRole::agent("c1"));
    stale_sender.publish(&event).await.unwrap();

    eventually("the stale status was handled", WAIT, || async {
        let metrics = hub
            .api
            .http
            .get(hub.api.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics.contains("baton_status_updates_total{outcome=\"ignored\"}")
    })
    .await;
    assert!(
        hub.applied(&id, "True").await,
        "row still has the newer status"
    );
    assert_eq!(hub.resource(&id).await.unwrap()["status_hash"], stored_hash);
}

/// A status the agent could not send (broker down) is sent again without waiting for a resync.
async fn a_status_that_could_not_be_sent_is_retried(backend: Backend) {
    let (hub, agent, broker) = hub_and_agent(backend, "c1").await;
    let mut slow = configmap("x");
    slow["metadata"]["annotations"] = json!({ baton::agent::controller::DELAY_ANNOTATION: "300" });
    let mut body = resource_body("c1", None, "x");
    body["manifests"] = json!([slow]);
    let (_, created) = hub.api.post("/api/v1/resources", body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let client = agent.controller().client().clone();
    eventually("the agent holds the work", WAIT, || async {
        client.get(&id).await.is_some()
    })
    .await;
    broker.set_down(true); // while the agent is still applying
    eventually("the status publish failed", WAIT, || async {
        client.stats().publish_failures > 0
    })
    .await;
    assert!(!hub.applied(&id, "True").await);
    broker.set_down(false);
    eventually("the retried status landed", WAIT, || {
        hub.applied(&id, "True")
    })
    .await;
}

/// The spec events the hub sent for resource `id`, as their type's action (§2.3).
fn actions_sent(broker: &MemoryBroker, id: &str) -> Vec<String> {
    use baton::cloudevents::extensions::RESOURCE_ID;
    use cloudevents::AttributesReader;
    broker
        .history()
        .iter()
        .filter(|e| {
            e.extension(RESOURCE_ID)
                .is_some_and(|v| v.to_string() == id)
        })
        .filter_map(|e| e.ty().rsplit_once('.').map(|(_, action)| action.to_owned()))
        .collect()
}

/// §2.3: a new resource goes out as `create_request`, a change as `update_request`, a delete as
/// `delete_request`, as the outbox row says.
async fn spec_events_carry_the_action_of_the_change(backend: Backend) {
    let broker = MemoryBroker::new();
    let hub = TestHub::start(
        TestDb::new(backend).await,
        Arc::new(broker.transport(TransportRole::source("baton"))),
    )
    .await;
    hub.api.consumer("c1").await;
    let id = hub.api.resource_id("c1", None).await;
    eventually("create sent", WAIT, || async {
        actions_sent(&broker, &id).len() == 1
    })
    .await;
    let (status, _) = hub
        .api
        .put(
            &format!("/api/v1/resources/{id}"),
            json!({"version": 1, "manifests": [configmap("v2")]}),
        )
        .await;
    assert_eq!(status, 200);
    eventually("update sent", WAIT, || async {
        actions_sent(&broker, &id).len() == 2
    })
    .await;
    let (status, _) = hub.api.delete(&format!("/api/v1/resources/{id}")).await;
    assert_eq!(status, 202);
    eventually("delete sent", WAIT, || async {
        actions_sent(&broker, &id).len() == 3
    })
    .await;
    assert_eq!(
        actions_sent(&broker, &id),
        ["create_request", "update_request", "delete_request"]
    );
}

backend_tests!(
    spec_events_carry_the_action_of_the_change,
    a_status_that_could_not_be_sent_is_retried,
    created_resource_is_applied_and_its_status_lands_in_the_row,
    updates_replace_the_applied_spec_and_deletes_remove_the_row,
    apply_failures_are_visible_over_rest,
    changes_committed_while_the_broker_is_down_are_delivered_when_it_is_back,
    a_new_hub_on_the_same_database_delivers_what_the_old_one_committed,
    an_agent_restarted_from_its_state_dir_converges_by_resync,
    a_stale_status_is_ignored,
);
