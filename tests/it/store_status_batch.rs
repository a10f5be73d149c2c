//! Store conformance, batched status writes (`apply_statuses`): a batch is decided by §5.2 in
//! order, each report on its row as the earlier reports left it, each row written once;
//! concurrent batches on the same rows are serialised. The same on both backends.

use baton::store::{StatusIgnored, StatusOutcome};

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{
    deleted, fresh, new_consumer, report, report_on, resource, stored_status,
};

async fn a_batch_is_decided_in_order_and_each_row_written_once(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let a = resource(&*store, "c1", Some("a")).await;
    let b = resource(&*store, "c1", Some("b")).await;
    let gone = resource(&*store, "c1", Some("gone")).await;
    store.delete_resource(gone.id).await.unwrap();
    let missing = uuid::Uuid::new_v4();
    let batch = [
        report(a.id, 1, "a1"),
        report(gone.id, 1, "g1"),
        report(a.id, 2, "a2"),
        report_on(b.id, 2, 1, "b1"),
        report(missing, 1, "m1"),
        deleted(gone.id, 2),
        report(gone.id, 3, "g3"),
        report(a.id, 3, "a3"),
    ];
    let outcomes = store.apply_statuses(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        [
            StatusOutcome::Stored,
            StatusOutcome::Stored,
            StatusOutcome::Stored,
            StatusOutcome::Ignored(StatusIgnored::VersionAhead),
            StatusOutcome::UnknownResource,
            StatusOutcome::Removed,
            StatusOutcome::UnknownResource,
            StatusOutcome::Stored,
        ]
    );
    let (status, seq) = stored_status(&*store, a.id).await;
    assert_eq!(seq, "3", "three reports, each decided on the last");
    assert_eq!(status["conditions"][0]["reason"], "a3");
    let a_after = store.get_resource(a.id).await.unwrap();
    assert_eq!(a_after.status.unwrap().hash, format!("{:0>64}", "a3"));
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
    let writers = (1..=BATCHES).map(|seq| {
        let store = store.clone();
        // Half the batches name the rows in the other order: locking must not depend on it.
        let ids = if seq % 2 == 0 {
            [a.id, b.id]
        } else {
            [b.id, a.id]
        };
        tokio::spawn(async move {
            let batch = ids.map(|id| report(id, seq, &format!("s{seq}")));
            store.apply_statuses(&batch).await
        })
    });
    for outcome in futures::future::join_all(writers).await {
        for outcome in outcome.unwrap().unwrap() {
            assert!(
                matches!(
                    outcome,
                    StatusOutcome::Stored | StatusOutcome::Ignored(StatusIgnored::Stale)
                ),
                "{outcome:?}"
            );
        }
    }
    for id in [a.id, b.id] {
        let (status, seq) = stored_status(&*store, id).await;
        assert_eq!(seq, BATCHES.to_string(), "no lost update: the newest stays");
        assert_eq!(status["conditions"][0]["reason"], format!("s{BATCHES}"));
    }
}

/// The publisher's `mark_published` and the status writers' batches touch the same rows at the
/// same time (an agent reports while its spec's round is being marked): neither may deadlock
/// the other (PostgreSQL would end one with "deadlock detected", and the publisher would then
/// publish its whole round again).
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
            let batch: Vec<_> = chunk.iter().rev().map(|&id| report(id, 1, "A")).collect();
            tokio::spawn(async move { store.apply_statuses(&batch).await })
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

/// Statuses racing spec updates of the same row (PostgreSQL writes them by compare and set,
/// SQLite under its write lock): each report is decided on the version it is written over, so
/// one for a version not yet committed is never stored, and the newest report on the final
/// version is.
async fn statuses_racing_spec_updates_are_decided_on_the_row_they_write(backend: Backend) {
    use crate::store_fixtures::spec;

    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", Some("raced")).await;
    const VERSIONS: i64 = 10;
    let updates = {
        let store = store.clone();
        tokio::spawn(async move {
            for v in 1..VERSIONS {
                store
                    .update_resource(r.id, v, spec(&format!("v{}", v + 1)))
                    .await
                    .unwrap();
            }
        })
    };
    let statuses = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for seq in 1..=u64::try_from(VERSIONS).unwrap() {
                let version = i64::try_from(seq).unwrap();
                let batch = [report_on(r.id, version, seq, &format!("on-v{version}"))];
                let current = store.get_resource(r.id).await.unwrap().version;
                let outcome = store.apply_statuses(&batch).await.unwrap()[0];
                outcomes.push((version, current, outcome));
            }
            outcomes
        })
    };
    updates.await.unwrap();
    for (version, seen_before, outcome) in statuses.await.unwrap() {
        if outcome != StatusOutcome::Stored {
            assert_eq!(
                outcome,
                StatusOutcome::Ignored(StatusIgnored::VersionAhead),
                "v{version}"
            );
            assert!(
                version > seen_before,
                "v{version} refused though the row was at v{seen_before} already"
            );
        }
    }
    let last = report_on(r.id, VERSIONS, 100, "final");
    assert_eq!(
        store.apply_statuses(&[last]).await.unwrap(),
        [StatusOutcome::Stored]
    );
    let (status, _) = stored_status(&*store, r.id).await;
    assert_eq!(status["conditions"][0]["reason"], "final");
}

backend_tests!(
    a_batch_is_decided_in_order_and_each_row_written_once,
    concurrent_batches_on_the_same_rows_are_serialised,
    marking_published_while_statuses_are_written_does_not_deadlock,
    statuses_racing_spec_updates_are_decided_on_the_row_they_write,
);
