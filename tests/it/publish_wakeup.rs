//! The publisher starts a round when a change commits, not at its next poll: no API handler
//! has to remember to wake it. On PostgreSQL the writing hub announces its commit (`NOTIFY`,
//! after it) to every hub listening on the database, so a change committed through another
//! connection pool (another hub replica) is published at once too. The poll interval here is a minute: a delivery within
//! the deadline is the wake-up's.

use std::sync::Arc;
use std::time::Duration;

use baton::agent::run::SimulatedAgent;
use baton::cloudevents::TransportRole;
use baton::cloudevents::transport::memory::MemoryBroker;
use baton::hub::publisher::PublisherConfig;
use baton::hub::service::HubOptions;

use std::collections::HashSet;
use std::time::Instant;

use baton::hub::api;
use baton::hub::metrics::HubMetrics;
use baton::hub::state::{AppState, NoConnections};
use baton::store::Store;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::harness::{Backend, TestApi, TestDb, TestHub, backend_tests, resource_body};
use crate::store_fixtures::{new_resource, spec};
use crate::support::eventually;
use crate::watch::SseReader;

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
    let (replica, _replica_stops) = replica_store(&hub.api.db).await;
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

/// Another hub replica's store on `db`: its own pool, and its wake-ups relayed both ways (it
/// announces its commits and hears the others') until the guard drops, as `serve` runs them.
async fn replica_store(db: &TestDb) -> (Arc<dyn Store>, DropGuard) {
    let store = db.store().await;
    let stop = CancellationToken::new();
    let guard = stop.clone().drop_guard();
    let relaying = store.clone();
    tokio::spawn(async move { relaying.relay_wakeups(stop).await });
    (store, guard)
}

/// 200 concurrent creates through one replica's API each reach a watcher and the agent of
/// another replica well before either polls for them (the publisher polls once a minute here):
/// the writer's commits are announced, coalesced, after they commit.
#[tokio::test]
async fn postgres_concurrent_creates_on_one_replica_reach_another_at_once() {
    const CREATES: usize = 200;
    let (hub, _agent, _broker) = quiet_hub(Backend::Postgres).await;
    let (store, _replica_stops) = replica_store(&hub.api.db).await;
    let state = AppState::new(
        store.clone(),
        Arc::new(NoConnections),
        Arc::new(HubMetrics::new()),
    );
    let writer = TestApi::serve(
        api::router(state.clone(), None),
        state,
        store,
        hub.api.db.clone(),
    )
    .await;
    let mut watcher =
        SseReader::new(SseReader::open_path(&hub.api, "/api/v1/resources?watch=true", None).await);

    let started = Instant::now();
    let created = futures::future::join_all((0..CREATES).map(|i| {
        let writer = &writer;
        async move {
            writer
                .post(
                    "/api/v1/resources",
                    resource_body("c1", Some(&format!("r{i}")), "v1"),
                )
                .await
        }
    }))
    .await;
    let ids: Vec<String> = created
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut added = HashSet::new();
    while added.len() < CREATES {
        let event = watcher.next(WAIT).await;
        if event.event == "ADDED" {
            added.insert(event.data["name"].as_str().unwrap().to_owned());
        }
    }
    let watched = started.elapsed();
    // Every create reported applied by the agent (they all hold the same ConfigMap).
    for id in &ids {
        eventually("applied by the agent", WAIT, || hub.applied(id, "True")).await;
    }
    eprintln!(
        "{CREATES} creates on one replica: all watched on the other after {watched:?}, all \
         applied after {:?}",
        started.elapsed()
    );
}

/// No write transaction notifies: the migrations leave no `pg_notify` trigger (a `NOTIFY` in a
/// transaction serialises the commits of every notifying one).
#[tokio::test]
async fn postgres_no_trigger_notifies() {
    use sqlx::Connection;

    let db = TestDb::new(Backend::Postgres).await;
    db.store().await; // migrated
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let notifying: Vec<String> = sqlx::query_scalar(
        "SELECT t.tgname::text FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid \
         WHERE NOT t.tgisinternal AND p.prosrc ILIKE '%pg_notify%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(notifying, Vec::<String>::new());
    let triggers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(triggers > 0, "the change feed's triggers stay");
}
