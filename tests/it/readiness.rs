//! `/readyz` tells a load balancer within about two seconds that the database is lost, even
//! when the database does not refuse but simply stops answering (a partition).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::hub::api;
use baton::hub::metrics::HubMetrics;
use baton::hub::state::{AppState, NoConnections};

use crate::harness::{Backend, TestApi, TestDb};
use crate::partition::Partition;

#[tokio::test]
async fn readyz_reports_a_partitioned_database_within_two_seconds() {
    let db = TestDb::new(Backend::Postgres).await;
    db.store().await; // migrated
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let partition = Partition::start(target).await;
    url.set_port(Some(partition.addr.port())).unwrap();
    let store = baton::store::open(Some(url.as_str()), Path::new("/nonexistent"), 5)
        .await
        .unwrap();
    let state = AppState::new(
        store.clone(),
        Arc::new(NoConnections),
        Arc::new(HubMetrics::new()),
    );
    let api = TestApi::serve(api::router(state.clone(), None), state, store, db).await;
    let (status, ready) = api.get("/readyz").await;
    assert_eq!((status, ready["database"].as_str()), (200, Some("ok")));

    partition.cut();
    let started = Instant::now();
    let response = api
        .http
        .get(api.url("/readyz"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("/readyz answers");
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let ready: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (status, ready["database"].as_str()),
        (503, Some("unreachable"))
    );
    assert!(
        elapsed < Duration::from_millis(2500),
        "/readyz took {elapsed:?} to report the lost database"
    );
}
