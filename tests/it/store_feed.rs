//! The durable change feed on both backends: every committed change of a resource row has one
//! numbered event, in commit order, readable from any position still retained; older
//! positions are refused (the API's 410).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use baton::store::{Change, ChangeKind, Store, StoreError};
use uuid::Uuid;

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{
    apply, deleted, fresh, new_consumer, report, report_on, resource, spec,
};

/// Everything numbered after `after`, sequencing first as readers do.
async fn read_after(store: &dyn Store, after: i64) -> Vec<Change> {
    store.sequence_changes().await.unwrap();
    store.changes_after(after, 10_000).await.unwrap()
}

fn kinds(changes: &[Change]) -> Vec<(Uuid, ChangeKind)> {
    changes.iter().map(|c| (c.resource_id, c.kind)).collect()
}

async fn every_change_of_a_resource_is_one_event_in_order(backend: Backend) {
    use ChangeKind::{Added, Deleted, Modified};
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let start = store.feed_head().await.unwrap();
    let r = resource(&*store, "c1", Some("r")).await;
    let other = resource(&*store, "c1", Some("other")).await;
    apply(&*store, report(r.id, 1, "Applied")).await;
    store.update_resource(r.id, 1, spec("v2")).await.unwrap();
    // The same spec again changes nothing, so it is no event.
    store.update_resource(r.id, 2, spec("v2")).await.unwrap();
    apply(&*store, report_on(r.id, 2, 2, "AppliedV2")).await;
    // The same status again (newer sequence id) is ignored: no event.
    apply(&*store, report_on(r.id, 2, 3, "AppliedV2")).await;
    store.delete_resource(r.id).await.unwrap();
    store.delete_resource(r.id).await.unwrap();
    apply(&*store, deleted(r.id, 4)).await;

    let changes = read_after(&*store, start).await;
    assert_eq!(
        kinds(&changes),
        [
            (r.id, Added),
            (other.id, Added),
            (r.id, Modified), // applied
            (r.id, Modified), // v2
            (r.id, Modified), // v2 applied
            (r.id, Modified), // marked deleting
            (r.id, Deleted),  // the agent confirmed
        ]
    );
    let positions: Vec<i64> = changes.iter().map(|c| c.position).collect();
    assert_eq!(
        positions,
        (start + 1..=start + 7).collect::<Vec<_>>(),
        "consecutive positions"
    );
    assert!(changes.iter().all(|c| c.consumer_name == "c1"));
    assert_eq!(
        changes[6].name.as_deref(),
        Some("r"),
        "a deleted resource's event still names it"
    );
    assert_eq!(changes[1].name.as_deref(), Some("other"));
    assert_eq!(store.feed_head().await.unwrap(), start + 7);
    assert_eq!(
        kinds(&read_after(&*store, positions[4]).await),
        [(r.id, Modified), (r.id, Deleted)],
        "a reader resuming after a position gets exactly the rest"
    );
    assert!(read_after(&*store, start + 7).await.is_empty());
    assert_eq!(
        store.changes_after(start, 2).await.unwrap().len(),
        2,
        "limited"
    );
}

async fn pruned_positions_are_gone_and_the_rest_stays_readable(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let a = resource(&*store, "c1", Some("a")).await;
    resource(&*store, "c1", Some("b")).await;
    let head = read_after(&*store, 0).await.last().unwrap().position;
    assert_eq!(
        store
            .prune_changes(chrono::Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap(),
        0,
        "nothing is an hour old"
    );
    let removed = store
        .prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    match store.changes_after(head - 1, 10).await {
        Err(StoreError::FeedGone { pruned_through, .. }) => assert_eq!(pruned_through, head),
        other => panic!("expected FeedGone, got {other:?}"),
    }
    assert_eq!(
        store.feed_head().await.unwrap(),
        head,
        "the head survives pruning"
    );
    assert!(
        read_after(&*store, head).await.is_empty(),
        "the head is still a valid position"
    );
    store.update_resource(a.id, 1, spec("v2")).await.unwrap();
    let after = read_after(&*store, head).await;
    assert_eq!(kinds(&after), [(a.id, ChangeKind::Modified)]);
    assert_eq!(after[0].position, head + 1);
}

/// Writers on many connections commit in an order of their own while a reader follows the
/// feed: the reader must see each change exactly once, at consecutive positions, never a
/// position smaller than one it already read.
async fn a_reader_following_concurrent_writers_misses_and_repeats_nothing(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store: Arc<dyn Store> = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..15 {
                    let r = resource(&*store, "c1", Some(&format!("w{w}-{i}"))).await;
                    apply(&*store, report(r.id, 1, "Applied")).await;
                    ids.push(r.id);
                }
                ids
            })
        })
        .collect();
    let expected_events = 8 * 15 * 2;
    let mut seen: Vec<Change> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < expected_events {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {expected_events} events within 60 s",
            seen.len()
        );
        let after = seen.last().map_or(0, |c| c.position);
        let batch = read_after(&*store, after).await;
        if batch.is_empty() {
            tokio::task::yield_now().await;
        }
        seen.extend(batch);
    }
    let mut ids = Vec::new();
    for writer in writers {
        ids.extend(writer.await.unwrap());
    }
    assert!(
        read_after(&*store, seen.last().unwrap().position)
            .await
            .is_empty()
    );
    let positions: Vec<i64> = seen.iter().map(|c| c.position).collect();
    assert_eq!(
        positions,
        (1..=expected_events as i64).collect::<Vec<_>>(),
        "consecutive, each once"
    );
    let mut per_resource: BTreeMap<Uuid, Vec<ChangeKind>> = BTreeMap::new();
    for change in &seen {
        per_resource
            .entry(change.resource_id)
            .or_default()
            .push(change.kind);
    }
    assert_eq!(per_resource.len(), ids.len());
    for id in ids {
        assert_eq!(
            per_resource[&id],
            [ChangeKind::Added, ChangeKind::Modified],
            "a resource's events in its own order"
        );
    }
}

backend_tests!(
    every_change_of_a_resource_is_one_event_in_order,
    pruned_positions_are_gone_and_the_rest_stays_readable,
    a_reader_following_concurrent_writers_misses_and_repeats_nothing,
);
