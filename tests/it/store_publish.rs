//! Store conformance, delivery and status: the publish marker (§4.8: set with every change,
//! cleared only for the exact state published, a published delete of a never-reported
//! resource completes it) and `apply_status` (§5.2: decided on the locked row, serialised),
//! the same on both backends.

use std::sync::atomic::{AtomicUsize, Ordering};

use baton::store::{StatusOutcome, StatusTarget, StatusWrite, StoreError};
use serde_json::json;

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{fresh, new_consumer, resource, spec};

fn store_status(sequence_id: &str) -> StatusWrite {
    StatusWrite::Store {
        status: json!({"conditions": [{"type": "Applied", "status": "True"}]}),
        hash: "a".repeat(64),
        sequence_id: sequence_id.to_owned(),
    }
}

async fn pending_publications_are_unpublished_states_oldest_first(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r1 = resource(&*store, "c1", Some("r1")).await;
    let r2 = resource(&*store, "c1", Some("r2")).await;
    let r3 = resource(&*store, "c1", Some("r3")).await;
    store.mark_published(&[(r2.id, 1, false)]).await.unwrap();
    let ids = |rs: Vec<baton::store::Resource>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.pending_publications(10).await.unwrap()),
        [r1.id, r3.id]
    );
    assert_eq!(ids(store.pending_publications(1).await.unwrap()), [r1.id]);
    store.update_resource(r1.id, 1, spec("v2")).await.unwrap();
    assert_eq!(
        ids(store.pending_publications(10).await.unwrap()),
        [r3.id, r1.id],
        "ordered by the last change"
    );
    let pending = store.pending_publications(10).await.unwrap();
    assert_eq!(
        (pending[1].version, &pending[1].spec),
        (2, &spec("v2")),
        "the current state"
    );
    assert_eq!(store.pending_count().await.unwrap(), 2);
    store.mark_published(&[]).await.unwrap();
    store
        .mark_published(&[(uuid::Uuid::new_v4(), 1, false)])
        .await
        .unwrap();
    assert_eq!(
        store.pending_count().await.unwrap(),
        2,
        "unknown ids change nothing"
    );
}

async fn the_marker_is_cleared_only_for_the_state_that_was_published(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    store.update_resource(r.id, 1, spec("v2")).await.unwrap();
    // Version 1 was read and sent while version 2 was being committed.
    store.mark_published(&[(r.id, 1, false)]).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 1, "v2 still to send");
    store.mark_published(&[(r.id, 2, false)]).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 0);
    store.update_resource(r.id, 2, spec("v3")).await.unwrap();
    store.delete_resource(r.id).await.unwrap();
    // An update event was published, but the row is deleting by now.
    store.mark_published(&[(r.id, 3, false)]).await.unwrap();
    assert_eq!(
        store.pending_count().await.unwrap(),
        1,
        "the delete is still to send"
    );
    store.mark_published(&[(r.id, 3, true)]).await.unwrap();
    assert!(
        matches!(
            store.get_resource(r.id).await,
            Err(StoreError::ResourceNotFound(_))
        ),
        "never reported on: the published delete completes it"
    );
}

async fn a_reported_resource_stays_until_the_agent_confirms_its_deletion(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    let stored = store
        .apply_status(r.id, &|_| store_status("1"))
        .await
        .unwrap();
    assert_eq!(stored, StatusOutcome::Stored);
    store.delete_resource(r.id).await.unwrap();
    store.mark_published(&[(r.id, 1, true)]).await.unwrap();
    let waiting = store.get_resource(r.id).await.unwrap();
    assert!(waiting.deleted_at.is_some() && waiting.status.is_some());
    assert_eq!(store.pending_count().await.unwrap(), 0);
    let removed = store
        .apply_status(r.id, &|t: &StatusTarget| {
            assert!(t.deleting, "the decision sees the deletion");
            StatusWrite::Remove
        })
        .await
        .unwrap();
    assert_eq!(removed, StatusOutcome::Removed);
    assert!(matches!(
        store.get_resource(r.id).await,
        Err(StoreError::ResourceNotFound(_))
    ));
}

async fn a_confirmed_deletion_that_overtakes_the_mark_leaves_nothing_pending(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    store
        .apply_status(r.id, &|_| store_status("1"))
        .await
        .unwrap();
    store.delete_resource(r.id).await.unwrap();
    assert_eq!(
        store.pending_count().await.unwrap(),
        1,
        "the delete to send"
    );
    // The agent's confirmation is stored before the publisher marks the delete sent.
    let removed = store
        .apply_status(r.id, &|_| StatusWrite::Remove)
        .await
        .unwrap();
    assert_eq!(removed, StatusOutcome::Removed);
    assert_eq!(
        store.pending_count().await.unwrap(),
        0,
        "nothing left queued"
    );
    assert!(store.pending_publications(10).await.unwrap().is_empty());
    store.mark_published(&[(r.id, 1, true)]).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 0);
}

async fn apply_status_stores_ignores_removes_or_reports_unknown(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    store.update_resource(r.id, 1, spec("v2")).await.unwrap();
    let first = store
        .apply_status(r.id, &|t: &StatusTarget| {
            assert_eq!((t.id, t.version, t.deleting), (r.id, 2, false));
            assert!(t.status.is_none());
            store_status("7")
        })
        .await
        .unwrap();
    assert_eq!(first, StatusOutcome::Stored);
    let after = store.get_resource(r.id).await.unwrap();
    let reported = after.status.clone().expect("status stored");
    assert_eq!(reported.status["conditions"][0]["type"], "Applied");
    assert_eq!(
        (reported.hash.len(), reported.sequence_id.as_str()),
        (64, "7")
    );
    assert_eq!(after.version, 2, "status never bumps the version");
    assert_eq!(
        store.pending_count().await.unwrap(),
        1,
        "nor touches the marker"
    );

    let ignored = store
        .apply_status(r.id, &|t: &StatusTarget| {
            assert_eq!(t.status.as_ref().map(|s| s.sequence_id.as_str()), Some("7"));
            StatusWrite::Ignore("stale")
        })
        .await
        .unwrap();
    assert_eq!(ignored, StatusOutcome::Ignored("stale"));
    assert_eq!(store.get_resource(r.id).await.unwrap(), after);

    let calls = AtomicUsize::new(0);
    let unknown = store
        .apply_status(uuid::Uuid::new_v4(), &|_| {
            calls.fetch_add(1, Ordering::SeqCst);
            StatusWrite::Remove
        })
        .await
        .unwrap();
    assert_eq!(
        (unknown, calls.load(Ordering::SeqCst)),
        (StatusOutcome::UnknownResource, 0)
    );

    let removed = store
        .apply_status(r.id, &|_| StatusWrite::Remove)
        .await
        .unwrap();
    assert_eq!(removed, StatusOutcome::Removed);
    assert!(store.resources_of(None).await.unwrap().is_empty());
}

async fn concurrent_status_updates_are_serialised(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    // Each writer reads the stored counter and stores it + 1: a lost update shows as < N.
    const N: u64 = 50;
    let writers = (0..N).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let bump = |t: &StatusTarget| {
                let seen: u64 = t
                    .status
                    .as_ref()
                    .map_or(0, |s| s.sequence_id.parse().unwrap());
                store_status(&(seen + 1).to_string())
            };
            store.apply_status(r.id, &bump).await
        })
    });
    for outcome in futures::future::join_all(writers).await {
        assert_eq!(outcome.unwrap().unwrap(), StatusOutcome::Stored);
    }
    let last = store.get_resource(r.id).await.unwrap().status.unwrap();
    assert_eq!(last.sequence_id, N.to_string());
}

async fn specs_no_agent_reported_on_are_requeued(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let silent = resource(&*store, "c1", Some("silent")).await;
    let reported = resource(&*store, "c1", Some("reported")).await;
    let deleting = resource(&*store, "c1", Some("deleting")).await;
    store.delete_resource(deleting.id).await.unwrap();
    store
        .mark_published(&[
            (silent.id, 1, false),
            (reported.id, 1, false),
            (deleting.id, 1, true),
        ])
        .await
        .unwrap();
    store
        .apply_status(reported.id, &|_: &StatusTarget| store_status("1"))
        .await
        .unwrap();
    let earlier = chrono::Utc::now() - chrono::Duration::seconds(60);
    assert_eq!(
        store.requeue_unreported(earlier).await.unwrap(),
        0,
        "changed too recently"
    );
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.requeue_unreported(later).await.unwrap(), 1);
    let pending = store.pending_publications(10).await.unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id).collect::<Vec<_>>(),
        [silent.id],
        "only the unreported live one"
    );
}

backend_tests!(
    specs_no_agent_reported_on_are_requeued,
    pending_publications_are_unpublished_states_oldest_first,
    the_marker_is_cleared_only_for_the_state_that_was_published,
    a_reported_resource_stays_until_the_agent_confirms_its_deletion,
    a_confirmed_deletion_that_overtakes_the_mark_leaves_nothing_pending,
    apply_status_stores_ignores_removes_or_reports_unknown,
    concurrent_status_updates_are_serialised,
);
