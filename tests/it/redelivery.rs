//! Redelivery repairs a lost status (issue 20 finding 6): an agent's status that the hub
//! could not write (PostgreSQL down) is asked for again once `--redeliver-after` passes, without
//! the periodic status resync. The agent is the SDK's work client, which, as sdk-go's, keeps a
//! work's status when the same version of its spec arrives again and reports nothing.

use std::sync::Arc;
use std::time::Duration;

use baton::cloudevents::TransportRole;
use baton::cloudevents::transport::memory::MemoryBroker;
use baton::hub::service::HubOptions;
use baton::work::client::{WatchEvent, WorkClient};
use baton::work::model::{Condition, ManifestWorkStatus, Time};
use serde_json::json;

use crate::harness::{Backend, TestDb, TestHub, resource_body};
use crate::partition::Outage;
use crate::support::eventually;

const WAIT: Duration = Duration::from_secs(20);

fn applied(generation: i64) -> ManifestWorkStatus {
    ManifestWorkStatus {
        conditions: vec![Condition {
            type_: "Applied".into(),
            status: "True".into(),
            observed_generation: generation,
            last_transition_time: Some(Time::now()),
            reason: "AppliedManifestWorkComplete".into(),
            message: "Apply manifest work complete".into(),
        }],
        ..ManifestWorkStatus::default()
    }
}

/// `baton_status_updates_total{outcome=...}` of the hub.
fn statuses(hub: &TestHub, outcome: &str) -> u64 {
    let series = format!("baton_status_updates_total{{outcome=\"{outcome}\"}} ");
    hub.service
        .state()
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_status_lost_in_a_database_outage_is_asked_for_again_by_redelivery() {
    // The hub reaches PostgreSQL through a relay the test takes down.
    let db = TestDb::new(Backend::Postgres).await;
    db.store().await; // migrated while the way is clear
    let (credentials, rest) = db.url.split_once('@').unwrap();
    let (server, name) = rest.split_once('/').unwrap();
    let outage = Outage::start(server.to_owned()).await;
    let mut relayed = db.clone();
    relayed.url = format!("{credentials}@{}/{name}", outage.addr);

    let broker = MemoryBroker::new();
    let options = HubOptions {
        redeliver_unreported_after: Some(Duration::from_secs(1)),
        status_resync_every: None,
        ..HubOptions::default()
    };
    let hub = TestHub::start_with(
        relayed,
        Arc::new(broker.transport(TransportRole::source("baton"))),
        options,
    )
    .await;
    let state = tempfile::tempdir().unwrap();
    let (agent, mut watch) =
        WorkClient::builder("c1", Arc::new(broker.transport(TransportRole::agent("c1"))))
            .state_dir(state.path())
            .build()
            .await
            .unwrap();

    let (status, _) = hub
        .api
        .post("/api/v1/consumers", json!({"name": "c1"}))
        .await;
    assert_eq!(status, 201);
    let (status, created) = hub
        .api
        .post("/api/v1/resources", resource_body("c1", Some("w"), "v1"))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let event = tokio::time::timeout(WAIT, watch.recv()).await.unwrap();
    assert!(matches!(event, Some(WatchEvent::Added(_))), "{event:?}");

    outage.down();
    agent.update_status(&id, applied(1)).await.unwrap();
    eventually("the status write failed", WAIT, || async {
        statuses(&hub, "failed") >= 1
    })
    .await;
    outage.up();
    eventually("the lost status is stored", WAIT, || async {
        let Some(resource) = hub.resource(&id).await else {
            return false;
        };
        resource["status"]["conditions"][0]["reason"] == "AppliedManifestWorkComplete"
    })
    .await;
    agent.shutdown().await;
}
