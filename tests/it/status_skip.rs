//! Skipping an unchanged status without a transaction (`hub::status_skip`), on both backends:
//! the store reads committed status hashes; the status writer skips a status equal to the
//! stored one, and a hint left behind by a write another hub replica overtook never hides a
//! status that changed.

use std::sync::Arc;

use baton::hub::metrics::HubMetrics;
use baton::hub::status::StatusWriter;
use baton::store::Store;
use baton::work::model::{
    Condition, ManifestWork, ManifestWorkStatus, ObjectMeta, SEQUENCE_ID_ANNOTATION,
};

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{apply, fresh, new_consumer, report as status_report, resource};

/// A status event as the source's codec decodes it: `reason` makes statuses differ, `seq` is
/// the snowflake sequence id (node 1), so a larger `seq` is newer.
fn report(id: uuid::Uuid, reason: &str, seq: u64) -> ManifestWork {
    let mut metadata = ObjectMeta {
        uid: id.to_string(),
        namespace: "c1".into(),
        generation: 1,
        ..ObjectMeta::default()
    };
    metadata.annotations.insert(
        SEQUENCE_ID_ANNOTATION.to_owned(),
        ((seq << 22) | (1 << 12)).to_string(),
    );
    ManifestWork {
        metadata,
        spec: Default::default(),
        status: ManifestWorkStatus {
            conditions: vec![Condition {
                type_: "Applied".into(),
                status: "True".into(),
                reason: reason.into(),
                ..Condition::default()
            }],
            ..ManifestWorkStatus::default()
        },
    }
}

fn count(metrics: &HubMetrics, outcome: &str) -> u64 {
    let text = metrics.render();
    let prefix = format!("baton_status_updates_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn stored_reason(store: &dyn Store, id: uuid::Uuid) -> String {
    let (status, _) = crate::store_fixtures::stored_status(store, id).await;
    status["conditions"][0]["reason"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn committed_hashes_are_read_for_rows_with_a_status(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let (a, b) = (
        resource(&*store, "c1", Some("a")).await.id,
        resource(&*store, "c1", Some("b")).await.id,
    );
    apply(&*store, status_report(a, 1, "a")).await;
    let hashes = store
        .status_hashes(&[a, b, uuid::Uuid::new_v4()])
        .await
        .unwrap();
    assert_eq!(
        hashes,
        [(a, format!("{:0>64}", "a"))],
        "b has no status, the third no row"
    );
    assert!(store.status_hashes(&[]).await.unwrap().is_empty());
}

async fn an_unchanged_status_is_skipped_and_a_changed_one_stored(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let id = resource(&*store, "c1", Some("a")).await.id;
    let metrics = Arc::new(HubMetrics::new());
    let writer = StatusWriter::new(store.clone(), metrics.clone(), Default::default());
    writer.write(&[report(id, "A", 1)]).await.unwrap();
    let first = store.get_resource(id).await.unwrap().status.unwrap();
    // The same status again, newer (an agent re-sending it): skipped before any lock.
    writer.write(&[report(id, "A", 2)]).await.unwrap();
    assert_eq!(count(&metrics, "unchanged"), 1);
    let after = store.get_resource(id).await.unwrap().status.unwrap();
    assert_eq!(after, first, "not rewritten: same sequence id and time");
    // In one batch: a changed status, then the same one again. The second follows the first
    // through the lock (it must be decided on the row the first leaves): ignored there.
    writer
        .write(&[report(id, "B", 3), report(id, "B", 4)])
        .await
        .unwrap();
    assert_eq!(stored_reason(&*store, id).await, "B");
    assert_eq!(count(&metrics, "stored"), 2);
    assert_eq!(count(&metrics, "ignored"), 1);
    assert_eq!(count(&metrics, "unchanged"), 1);
}

async fn a_status_another_replica_overtook_is_still_stored(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let id = resource(&*store, "c1", Some("a")).await.id;
    let (mine, theirs) = (Arc::new(HubMetrics::new()), Arc::new(HubMetrics::new()));
    let replica1 = StatusWriter::new(store.clone(), mine.clone(), Default::default());
    let replica2 = StatusWriter::new(store.clone(), theirs, Default::default());
    replica1.write(&[report(id, "A", 1)]).await.unwrap();
    replica2.write(&[report(id, "B", 2)]).await.unwrap();
    // replica1's hint still says "A is stored"; the agent's newest status is A again.
    replica1.write(&[report(id, "A", 3)]).await.unwrap();
    assert_eq!(
        stored_reason(&*store, id).await,
        "A",
        "A is the newest status"
    );
    assert_eq!(count(&mine, "unchanged"), 0);
    // And now it is the stored one: skipped.
    replica1.write(&[report(id, "A", 4)]).await.unwrap();
    assert_eq!(count(&mine, "unchanged"), 1);
}

backend_tests!(
    committed_hashes_are_read_for_rows_with_a_status,
    an_unchanged_status_is_skipped_and_a_changed_one_stored,
    a_status_another_replica_overtook_is_still_stored,
);
