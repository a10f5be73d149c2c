//! Store conformance, batched status writes (`apply_statuses`): a batch is decided in order,
//! each item on its row as the earlier items left it, written in one transaction; concurrent
//! batches on the same rows are serialised. The same on both backends.

use baton::store::{StatusItem, StatusOutcome, StatusTarget, StatusWrite};
use serde_json::json;

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{fresh, new_consumer, resource};

/// Stores the stored sequence id + 1: a lost or reordered write shows in the final number.
fn bump(t: &StatusTarget) -> StatusWrite {
    let seen: u64 = t
        .status
        .as_ref()
        .map_or(0, |s| s.sequence_id.parse().unwrap());
    StatusWrite::Store {
        status: json!({"conditions": [{"type": "Applied", "status": "True"}], "seen": seen}),
        hash: format!("{:064}", seen + 1),
        sequence_id: (seen + 1).to_string(),
    }
}

async fn a_batch_is_decided_in_order_and_each_row_written_once(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let a = resource(&*store, "c1", Some("a")).await;
    let b = resource(&*store, "c1", Some("b")).await;
    let gone = resource(&*store, "c1", Some("gone")).await;
    let missing = uuid::Uuid::new_v4();
    let remove = |t: &StatusTarget| {
        assert_eq!(
            t.status.as_ref().map(|s| s.sequence_id.as_str()),
            Some("1"),
            "the removal sees the status stored earlier in the batch"
        );
        StatusWrite::Remove
    };
    let stale = |_: &StatusTarget| StatusWrite::Ignore("stale");
    let batch = [
        StatusItem {
            id: a.id,
            decide: &bump,
        },
        StatusItem {
            id: gone.id,
            decide: &bump,
        },
        StatusItem {
            id: a.id,
            decide: &bump,
        },
        StatusItem {
            id: b.id,
            decide: &stale,
        },
        StatusItem {
            id: missing,
            decide: &bump,
        },
        StatusItem {
            id: gone.id,
            decide: &remove,
        },
        StatusItem {
            id: gone.id,
            decide: &bump,
        },
        StatusItem {
            id: a.id,
            decide: &bump,
        },
    ];
    let outcomes = store.apply_statuses(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        [
            StatusOutcome::Stored,
            StatusOutcome::Stored,
            StatusOutcome::Stored,
            StatusOutcome::Ignored("stale"),
            StatusOutcome::UnknownResource,
            StatusOutcome::Removed,
            StatusOutcome::UnknownResource,
            StatusOutcome::Stored,
        ]
    );
    let a_after = store.get_resource(a.id).await.unwrap();
    let reported = a_after.status.expect("a's status stored");
    assert_eq!(reported.sequence_id, "3", "three items, each saw the last");
    assert_eq!(reported.status["seen"], 2);
    assert_eq!(reported.hash, format!("{:064}", 3));
    assert_eq!(a_after.version, 1, "status never bumps the version");
    assert_eq!(
        store.get_resource(b.id).await.unwrap(),
        b,
        "ignored: untouched"
    );
    assert!(store.get_resource(gone.id).await.is_err(), "removed");
    assert!(store.apply_statuses(&[]).await.unwrap().is_empty());
}

async fn concurrent_batches_on_the_same_rows_are_serialised(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let a = resource(&*store, "c1", Some("a")).await;
    let b = resource(&*store, "c1", Some("b")).await;
    const BATCHES: u64 = 20;
    let writers = (0..BATCHES).map(|i| {
        let store = store.clone();
        // Half the batches name the rows in the other order: locking must not depend on it.
        let ids = if i % 2 == 0 {
            [a.id, b.id]
        } else {
            [b.id, a.id]
        };
        tokio::spawn(async move {
            let batch = ids.map(|id| StatusItem { id, decide: &bump });
            store.apply_statuses(&batch).await
        })
    });
    for outcome in futures::future::join_all(writers).await {
        assert_eq!(
            outcome.unwrap().unwrap(),
            [StatusOutcome::Stored, StatusOutcome::Stored]
        );
    }
    for id in [a.id, b.id] {
        let last = store.get_resource(id).await.unwrap().status.unwrap();
        assert_eq!(last.sequence_id, BATCHES.to_string(), "no lost update");
    }
}

backend_tests!(
    a_batch_is_decided_in_order_and_each_row_written_once,
    concurrent_batches_on_the_same_rows_are_serialised,
);
