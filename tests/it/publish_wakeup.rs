//! The publisher starts a round when a change commits, not at its next poll: no API handler
//! has to remember to wake it. On PostgreSQL the commit's `NOTIFY` reaches every hub listening
//! on the database, so a change committed through another connection pool (another hub
//! replica) is published at once too. The poll interval here is a minute: a delivery within
//! the deadline is the wake-up's.

use std::sync::Arc;
use std::time::Duration;

use baton::agent::run::SimulatedAgent;
use baton::cloudevents::TransportRole;
use baton::cloudevents::transport::memory::MemoryBroker;
use baton::hub::publisher::PublisherConfig;
use baton::hub::service::HubOptions;

use crate::harness::{Backend, TestDb, TestHub, backend_tests};
use crate::store_fixtures::{new_resource, spec};
use crate::support::eventually;

/// Well under the poll interval.
const WAIT: Duration = Duration::from_secs(10);

async fn quiet_hub(backend: Backend) -> (TestHub, SimulatedAgent, MemoryBroker) {
    let broker = MemoryBroker::new();
    let options = HubOptions {
        source_id: "baton".into(),
        publisher: PublisherConfig {
            poll: Duration::from_secs(60),
            ..PublisherConfig::default()
        },
        status_resync_every: None,
        redeliver_unreported_after: None,
        ..HubOptions::default()
    };
    let hub = TestHub::start_with(
        TestDb::new(backend).await,
        Arc::new(broker.transport(TransportRole::source("baton"))),
        options,
    )
    .await;
    hub.api.consumer("c1").await;
    let agent = SimulatedAgent::start(
        "c1",
        Arc::new(broker.transport(TransportRole::agent("c1"))),
        None,
    )
    .await
    .unwrap();
    (hub, agent, broker)
}

async fn api_changes_are_published_at_their_commit(backend: Backend) {
    let (hub, agent, _broker) = quiet_hub(backend).await;
    let id = hub.api.resource_id("c1", Some("web")).await;
    eventually("created and applied", WAIT, || hub.applied(&id, "True")).await;
    let (status, deleting) = hub.api.delete(&format!("/api/v1/resources/{id}")).await;
    assert_eq!(status, 202, "{deleting}");
    eventually("deleted on the agent", WAIT, || async {
        agent.controller().object_count().await == 0
    })
    .await;
}

backend_tests!(api_changes_are_published_at_their_commit);

#[tokio::test]
async fn postgres_a_commit_by_another_pool_wakes_the_publisher() {
    let (hub, agent, _broker) = quiet_hub(Backend::Postgres).await;
    // Another hub replica: its own pool on the same database, no publisher of its own.
    let replica = hub.api.db.store().await;
    let created = replica
        .create_resources(vec![new_resource("c1", Some("elsewhere"), spec("v1"))])
        .await
        .pop()
        .expect("one result")
        .expect("created");
    let id = created.id.to_string();
    eventually("published by the listening hub", WAIT, || {
        hub.applied(&id, "True")
    })
    .await;
    assert_eq!(agent.controller().object_count().await, 1);
}
