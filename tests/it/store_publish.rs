//! Store conformance, delivery and status: the publish marker (§4.8: set with every change,
//! cleared only for the exact state published, a published delete of a never-reported
//! resource completes it) and status reports (§5.2: decided on the row they are written over, serialised),
//! the same on both backends.

use baton::store::{Pending, PublishAction, Requeued, StatusIgnored, StatusOutcome, StoreError};

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{
    apply, deleted, fresh, new_consumer, new_resource, report, report_on, resource, spec,
    stored_status,
};

async fn pending_publications_are_unpublished_states_oldest_first(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r1 = resource(&*store, "c1", Some("r1")).await;
    let r2 = resource(&*store, "c1", Some("r2")).await;
    let r3 = resource(&*store, "c1", Some("r3")).await;
    store.mark_published(&[(r2.id, 1, false)]).await.unwrap();
    let ids = |ps: Vec<Pending>| ps.into_iter().map(|p| p.resource.id).collect::<Vec<_>>();
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
        (pending[1].resource.version, &pending[1].resource.spec),
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
    let queued = store.pending_publications(10).await.unwrap();
    assert_eq!(
        (queued[0].resource.version, queued[0].action),
        (2, PublishAction::Update),
        "the create reached the agent: v2 goes out as an update"
    );
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
    let stored = apply(&*store, report(r.id, 1, "Applied")).await;
    assert_eq!(stored, StatusOutcome::Stored);
    store.delete_resource(r.id).await.unwrap();
    store.mark_published(&[(r.id, 1, true)]).await.unwrap();
    let waiting = store.get_resource(r.id).await.unwrap();
    assert!(waiting.deleted_at.is_some() && waiting.status.is_some());
    assert_eq!(store.pending_count().await.unwrap(), 0);
    let removed = apply(&*store, deleted(r.id, 2)).await;
    assert_eq!(
        removed,
        StatusOutcome::Removed,
        "the decision sees the deletion"
    );
    assert!(matches!(
        store.get_resource(r.id).await,
        Err(StoreError::ResourceNotFound(_))
    ));
}

async fn a_confirmed_deletion_that_overtakes_the_mark_leaves_nothing_pending(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    apply(&*store, report(r.id, 1, "Applied")).await;
    store.delete_resource(r.id).await.unwrap();
    assert_eq!(
        store.pending_count().await.unwrap(),
        1,
        "the delete to send"
    );
    // The agent's confirmation is stored before the publisher marks the delete sent.
    let removed = apply(&*store, deleted(r.id, 2)).await;
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

async fn a_status_is_stored_ignored_removed_or_unknown(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    store.update_resource(r.id, 1, spec("v2")).await.unwrap();
    let first = apply(&*store, report_on(r.id, 2, 7, "Applied")).await;
    assert_eq!(first, StatusOutcome::Stored);
    let after = store.get_resource(r.id).await.unwrap();
    let reported = after.status.clone().expect("status stored");
    let (status, seq) = stored_status(&*store, r.id).await;
    assert_eq!(status["conditions"][0]["reason"], "Applied");
    assert_eq!((reported.hash.len(), seq.as_str()), (64, "7"));
    assert_eq!(after.version, 2, "status never bumps the version");
    assert_eq!(
        store.pending_count().await.unwrap(),
        1,
        "nor touches the marker"
    );

    let ignored = apply(&*store, report_on(r.id, 2, 7, "Other")).await;
    assert_eq!(ignored, StatusOutcome::Ignored(StatusIgnored::Stale));
    let unchanged = apply(&*store, report_on(r.id, 2, 8, "Applied")).await;
    assert_eq!(unchanged, StatusOutcome::Ignored(StatusIgnored::Unchanged));
    let early = apply(&*store, deleted(r.id, 9)).await;
    assert_eq!(early, StatusOutcome::Ignored(StatusIgnored::NotDeleting));
    assert_eq!(store.get_resource(r.id).await.unwrap(), after);

    let unknown = apply(&*store, deleted(uuid::Uuid::new_v4(), 1)).await;
    assert_eq!(unknown, StatusOutcome::UnknownResource);

    store.delete_resource(r.id).await.unwrap();
    let removed = apply(&*store, deleted(r.id, 10)).await;
    assert_eq!(removed, StatusOutcome::Removed);
    assert!(store.resources_of(None).await.unwrap().is_empty());
}

async fn concurrent_status_updates_are_serialised(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    // Each writer reports a newer status than the last: a lost update shows as an older one
    // stored last.
    const N: u64 = 50;
    let writers = (1..=N).map(|seq| {
        let store = store.clone();
        tokio::spawn(async move { apply(&*store, report(r.id, seq, &format!("s{seq}"))).await })
    });
    for outcome in futures::future::join_all(writers).await {
        assert!(matches!(
            outcome.unwrap(),
            StatusOutcome::Stored | StatusOutcome::Ignored(StatusIgnored::Stale)
        ));
    }
    let (_, seq) = stored_status(&*store, r.id).await;
    assert_eq!(seq, N.to_string());
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
    apply(&*store, report(reported.id, 1, "Applied")).await;
    let earlier = chrono::Utc::now() - chrono::Duration::seconds(60);
    assert_eq!(
        store.requeue_unreported(earlier).await.unwrap(),
        [],
        "changed too recently"
    );
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    let requeued = Requeued {
        id: silent.id,
        consumer_name: "c1".into(),
    };
    assert_eq!(store.requeue_unreported(later).await.unwrap(), [requeued]);
    assert_eq!(
        store.requeue_unreported(later).await.unwrap(),
        [],
        "already queued"
    );
    let pending = store.pending_publications(10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.resource.id, p.action))
            .collect::<Vec<_>>(),
        [(silent.id, PublishAction::Create)],
        "only the unreported live one, as a create: no agent has shown it holds it"
    );
}

/// The action of each queued resource, by id.
async fn actions(store: &dyn baton::store::Store) -> Vec<(uuid::Uuid, PublishAction)> {
    let mut pending: Vec<_> = store
        .pending_publications(100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.resource.id, p.action))
        .collect();
    pending.sort_unstable_by_key(|p| p.0);
    pending
}

async fn the_outbox_row_names_the_action_to_publish(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let created = resource(&*store, "c1", Some("created")).await;
    let updated_early = resource(&*store, "c1", Some("updated-early")).await;
    let updated = resource(&*store, "c1", Some("updated")).await;
    let deleted_early = resource(&*store, "c1", Some("deleted-early")).await;
    let deleted = resource(&*store, "c1", Some("deleted")).await;
    store
        .mark_published(&[(updated.id, 1, false), (deleted.id, 1, false)])
        .await
        .unwrap();
    store
        .update_resource(updated_early.id, 1, spec("v2"))
        .await
        .unwrap();
    store
        .update_resource(updated_early.id, 2, spec("v3"))
        .await
        .unwrap();
    store
        .update_resource(updated.id, 1, spec("v2"))
        .await
        .unwrap();
    store.delete_resource(deleted_early.id).await.unwrap();
    store.delete_resource(deleted.id).await.unwrap();
    let mut expected = vec![
        (created.id, PublishAction::Create),
        // No agent holds it yet: updates before the first publish keep it a create.
        (updated_early.id, PublishAction::Create),
        (updated.id, PublishAction::Update),
        (deleted_early.id, PublishAction::Delete),
        (deleted.id, PublishAction::Delete),
    ];
    expected.sort_unstable_by_key(|p| p.0);
    assert_eq!(actions(&*store).await, expected);

    // The create of version 3 was published; a later update is an update.
    store
        .mark_published(&[(updated_early.id, 3, false)])
        .await
        .unwrap();
    store
        .update_resource(updated_early.id, 3, spec("v4"))
        .await
        .unwrap();
    let early = actions(&*store)
        .await
        .into_iter()
        .find(|p| p.0 == updated_early.id);
    assert_eq!(early, Some((updated_early.id, PublishAction::Update)));

    // Created by a batch statement (more than one row): creates too.
    let batch = store
        .create_resources(vec![
            new_resource("c1", Some("b1"), spec("v1")),
            new_resource("c1", Some("b2"), spec("v1")),
        ])
        .await;
    let queued = actions(&*store).await;
    for created in batch {
        let id = created.unwrap().id;
        let action = queued.iter().find(|p| p.0 == id).map(|p| p.1);
        assert_eq!(action, Some(PublishAction::Create));
    }
}

backend_tests!(
    the_outbox_row_names_the_action_to_publish,
    specs_no_agent_reported_on_are_requeued,
    pending_publications_are_unpublished_states_oldest_first,
    the_marker_is_cleared_only_for_the_state_that_was_published,
    a_reported_resource_stays_until_the_agent_confirms_its_deletion,
    a_confirmed_deletion_that_overtakes_the_mark_leaves_nothing_pending,
    a_status_is_stored_ignored_removed_or_unknown,
    concurrent_status_updates_are_serialised,
);

/// A PostgreSQL test database migrated up to, not including, migration `first_left` (a file
/// name prefix), and a connection to it.
async fn migrated_before(first_left: &str) -> (crate::harness::TestDb, sqlx::PgConnection) {
    use sqlx::Connection;

    let db = crate::harness::TestDb::new(Backend::Postgres).await;
    let before = tempfile::tempdir().unwrap();
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    for entry in std::fs::read_dir(migrations).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < first_left {
            std::fs::copy(&path, before.path().join(name)).unwrap();
        }
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::migrate::Migrator::new(before.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    (db, conn)
}

/// PostgreSQL migration 0006 gives the rows queued before it the action their state implies:
/// a delete if deleting, a create at version 1, an update after.
#[tokio::test]
async fn postgres_migration_backfills_the_outbox_actions() {
    use sqlx::Connection;

    let (db, mut conn) = migrated_before("0006").await;
    let (created, updated, deleting) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    sqlx::query(
        "INSERT INTO publish_outbox (resource_id, version, deleting) \
         VALUES ($1, 1, FALSE), ($2, 4, FALSE), ($3, 1, TRUE)",
    )
    .bind(created)
    .bind(updated)
    .bind(deleting)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    db.store().await; // applies the rest
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut actions: Vec<(uuid::Uuid, i16)> =
        sqlx::query_as("SELECT resource_id, action FROM publish_outbox")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    actions.sort_unstable();
    // The column's values: 1 create, 2 update, 3 delete.
    let mut expected = vec![(created, 1), (updated, 2), (deleting, 3)];
    expected.sort_unstable();
    assert_eq!(actions, expected);
}

/// PostgreSQL migration 0012 fills `resource_pending` from the rows it finds: a live resource
/// without a status, or with a status on an older version, is pending; one whose status is on
/// its version, or that is being deleted, is not.
#[tokio::test]
async fn postgres_migration_backfills_the_pending_resources() {
    use sqlx::Connection;

    let (db, mut conn) = migrated_before("0012").await;
    let consumer = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO consumers (id, name) VALUES ($1, 'c1')")
        .bind(consumer)
        .execute(&mut conn)
        .await
        .unwrap();
    let [unreported, applied, behind, deleting] = std::array::from_fn(|_| uuid::Uuid::new_v4());
    // (id, name, version, status version, deleting)
    let rows = [
        (unreported, "unreported", 1_i64, None, false),
        (applied, "applied", 2, Some(2_i64), false),
        (behind, "behind", 3, Some(2), false),
        (deleting, "deleting", 1, None, true),
    ];
    for (id, name, version, status_version, is_deleting) in rows {
        sqlx::query(
            "INSERT INTO resources (id, consumer_id, consumer_name, name, version, manifests, \
             status, status_version, deleted_at) VALUES ($1, $2, 'c1', $3, $4, '[]', \
             CASE WHEN $5::bigint IS NULL THEN NULL ELSE '{}'::json END, $5, \
             CASE WHEN $6 THEN now() END)",
        )
        .bind(id)
        .bind(consumer)
        .bind(name)
        .bind(version)
        .bind(status_version)
        .bind(is_deleting)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();

    let store = db.store().await; // applies the rest
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let mut pending: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT resource_id FROM resource_pending")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    pending.sort_unstable();
    let mut expected = vec![unreported, behind];
    expected.sort_unstable();
    assert_eq!(pending, expected);
    let health = store.consumer_health(None).await.unwrap();
    assert_eq!(health["c1"].pending, 2, "{health:?}");
}

/// A replica's outbox read (PostgreSQL, the store replicas share): only the resources of the
/// consumers the registry places at that replica, oldest first; with a cursor, only those
/// queued after it (a change moves a resource past it), and the read says when it was made,
/// empty or not.
#[tokio::test]
async fn a_replica_reads_its_consumers_queue_whole_or_from_a_cursor() {
    use baton::store::fleet::{Fleet, PgFleet};

    let (db, store) = fresh(Backend::Postgres).await;
    let fleet = PgFleet::connect(&db.url).await.unwrap();
    for name in ["here", "elsewhere", "nowhere"] {
        store.create_consumer(new_consumer(name)).await.unwrap();
    }
    fleet.claim("hub0", &["here".into()]).await.unwrap();
    fleet.claim("hub1", &["elsewhere".into()]).await.unwrap();
    let ids = |ps: &[Pending]| ps.iter().map(|p| p.resource.id).collect::<Vec<_>>();

    let before = resource(&*store, "here", Some("before")).await;
    resource(&*store, "elsewhere", Some("before")).await;
    resource(&*store, "nowhere", Some("before")).await;
    let first = store
        .pending_publications_at("hub0", 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&first.pending), [before.id]);
    let cursor = first.read_at;

    resource(&*store, "nowhere", Some("after")).await;
    let after1 = resource(&*store, "here", Some("after1")).await;
    resource(&*store, "elsewhere", Some("after")).await;
    let after2 = resource(&*store, "here", Some("after2")).await;
    let incremental = store
        .pending_publications_at("hub0", 10, Some(cursor))
        .await
        .unwrap();
    assert_eq!(ids(&incremental.pending), [after1.id, after2.id]);
    assert!(
        incremental.read_at > cursor,
        "the database's clock moves on"
    );
    let page = store
        .pending_publications_at("hub0", 1, Some(cursor))
        .await
        .unwrap();
    assert_eq!(ids(&page.pending), [after1.id], "a page, oldest first");
    let whole = store
        .pending_publications_at("hub0", 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&whole.pending), [before.id, after1.id, after2.id]);

    store
        .update_resource(before.id, 1, spec("v2"))
        .await
        .unwrap();
    let moved = store
        .pending_publications_at("hub0", 10, Some(cursor))
        .await
        .unwrap();
    assert_eq!(
        ids(&moved.pending),
        [after1.id, after2.id, before.id],
        "a change queues the resource again, past the cursor"
    );
    assert_eq!(moved.pending[2].resource.version, 2, "its current state");

    let none = store
        .pending_publications_at("hub9", 10, None)
        .await
        .unwrap();
    assert!(none.pending.is_empty());
    assert!(none.read_at >= moved.read_at, "an empty read is dated too");
    fleet.close().await;
}
