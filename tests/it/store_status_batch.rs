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

/// The publisher's `mark_published` and the status writers' batches lock the same rows at the
/// same time (an agent reports while its spec's round is being marked): both must lock in one
/// order, or PostgreSQL ends one of them with "deadlock detected" (the publisher then published
/// its whole round again).
async fn marking_published_while_statuses_are_written_does_not_deadlock(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    for round in 0..5 {
        let mut ids = Vec::new();
        for i in 0..100 {
            let name = format!("r{round}-{i}");
            ids.push(resource(&*store, "c1", Some(&name)).await.id);
        }
        let markers = (0..2).map(|m| {
            let store = store.clone();
            let mut published: Vec<_> = ids.iter().map(|id| (*id, 1, false)).collect();
            if m == 1 {
                published.reverse();
            }
            tokio::spawn(async move { store.mark_published(&published).await })
        });
        let writers = ids.chunks(10).rev().map(|chunk| {
            let store = store.clone();
            let chunk = chunk.to_vec();
            tokio::spawn(async move {
                let batch: Vec<_> = chunk
                    .iter()
                    .rev()
                    .map(|&id| StatusItem { id, decide: &bump })
                    .collect();
                store.apply_statuses(&batch).await
            })
        });
        let (marked, written) = tokio::join!(
            futures::future::join_all(markers),
            futures::future::join_all(writers)
        );
        for outcome in marked {
            outcome.unwrap().expect("mark_published failed (deadlock?)");
        }
        for outcome in written {
            assert!(
                outcome
                    .unwrap()
                    .unwrap()
                    .iter()
                    .all(|o| *o == StatusOutcome::Stored)
            );
        }
        assert_eq!(store.pending_count().await.unwrap(), 0, "every row marked");
    }
}

backend_tests!(
    a_batch_is_decided_in_order_and_each_row_written_once,
    concurrent_batches_on_the_same_rows_are_serialised,
    marking_published_while_statuses_are_written_does_not_deadlock,
);

/// PostgreSQL decides a batch on rows read without a lock and writes a row only if it is still
/// as read: a row changed in between (here an update through the API, made while the decision
/// runs) is decided again on its new state, never written from the stale decision. A batch of
/// one and a larger batch take different statements.
async fn postgres_changed_while_decided(with_another_row: bool) {
    use std::sync::Mutex;

    use crate::store_fixtures::spec;

    let (_db, store) = fresh(Backend::Postgres).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", Some("changed")).await;
    let other = resource(&*store, "c1", Some("other")).await;
    let seen_versions = Mutex::new(Vec::new());
    let handle = tokio::runtime::Handle::current();
    let decide = |t: &StatusTarget| {
        let first = {
            let mut seen = seen_versions.lock().unwrap();
            seen.push(t.version);
            seen.len() == 1
        };
        if first {
            tokio::task::block_in_place(|| {
                handle.block_on(store.update_resource(r.id, 1, spec("v2")))
            })
            .unwrap();
        }
        StatusWrite::Store {
            status: json!({"decided_on_version": t.version}),
            hash: "a".repeat(64),
            sequence_id: "1".into(),
        }
    };
    let mut batch = vec![StatusItem {
        id: r.id,
        decide: &decide,
    }];
    if with_another_row {
        batch.push(StatusItem {
            id: other.id,
            decide: &bump,
        });
    }
    let outcome = store.apply_statuses(&batch).await.unwrap();
    assert!(outcome.iter().all(|o| *o == StatusOutcome::Stored));
    assert_eq!(*seen_versions.lock().unwrap(), [1, 2], "decided again");
    let stored = store.get_resource(r.id).await.unwrap().status.unwrap();
    assert_eq!(stored.status["decided_on_version"], 2);
    let other_status = store.get_resource(other.id).await.unwrap().status;
    assert_eq!(
        other_status.map(|s| s.sequence_id),
        with_another_row.then(|| "1".to_owned()),
        "the other row written once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_row_changed_while_its_status_is_decided_is_decided_again() {
    postgres_changed_while_decided(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_row_changed_while_its_batch_is_decided_is_decided_again() {
    postgres_changed_while_decided(true).await;
}
