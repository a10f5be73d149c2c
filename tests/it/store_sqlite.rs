//! What only the embedded SQLite store has: a data directory created on first start, data that
//! survives closing and reopening, WAL and foreign keys on every connection, and one process
//! per database (a second store, or a second `baton serve`, is refused with a clear message).

use std::process::Stdio;
use std::time::Duration;

use baton::store::sqlite::SqliteStore;
use baton::store::{self, ConsumerKey, PublishAction, SQLITE_FILE, Store, StoreError};

use crate::store_fixtures::{apply, new_consumer, report, resource};

#[tokio::test]
async fn data_survives_closing_and_reopening_the_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested/baton-data");
    let store = store::open(None, &dir, 4).await.unwrap();
    store.migrate().await.unwrap();
    assert!(dir.join(SQLITE_FILE).is_file(), "created on first start");
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let reported = resource(&*store, "c1", Some("web")).await;
    let pending = resource(&*store, "c1", Some("queued")).await;
    store
        .mark_published(&[(reported.id, 1, false)])
        .await
        .unwrap();
    apply(&*store, report(reported.id, 1, "Applied")).await;
    let before = store.get_resource(reported.id).await.unwrap();
    store.close().await;

    let store = store::open(None, &dir, 4).await.unwrap();
    store.migrate().await.unwrap(); // already applied: a no-op
    assert_eq!(store.get_resource(reported.id).await.unwrap(), before);
    assert_eq!(
        store.pending_publications(10).await.unwrap()[0].resource.id,
        pending.id,
        "what was not yet published still is pending: the outbox survives too"
    );
    assert_eq!(
        store
            .get_consumer(&ConsumerKey::Name("c1".into()))
            .await
            .unwrap()
            .name,
        "c1"
    );
    store.close().await;
}

#[tokio::test]
async fn a_second_store_on_the_same_database_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = store::open(None, dir.path(), 2).await.unwrap();
    let refused = match store::open(None, dir.path(), 2).await {
        Err(err) => err,
        Ok(_) => panic!("two stores on one SQLite database"),
    };
    let StoreError::Locked { lock, holder } = &refused else {
        panic!("expected Locked, got {refused:?}");
    };
    assert_eq!(*lock, dir.path().join("baton.db.lock"));
    assert_eq!(*holder, Some(std::process::id()));
    let message = refused.to_string();
    assert!(
        message.contains("in use by another baton process") && message.contains("--data-dir"),
        "{message}"
    );
    // The same file named by URL is the same database, and is refused too.
    let url = format!("sqlite://{}", dir.path().join(SQLITE_FILE).display());
    assert!(matches!(
        store::open(Some(&url), dir.path(), 2).await,
        Err(StoreError::Locked { .. })
    ));
    first.close().await;
    let second = store::open(Some(&url), dir.path(), 2).await.unwrap();
    second.migrate().await.unwrap();
    second.close().await;
}

#[tokio::test]
async fn a_second_baton_serve_on_the_same_data_dir_exits_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let held = store::open(None, dir.path(), 1).await.unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args([
            "serve",
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("BATON_TRANSPORT")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the second hub exits by itself")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("in use by another baton process")
            && stderr.contains(&format!("pid {}", std::process::id())),
        "{stderr}"
    );
    held.close().await;
}

#[tokio::test]
async fn connections_run_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("x.db"), 3)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let fks: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!((mode.as_str(), fks), ("wal", 1));
    }
    drop(conns);
    // The foreign key is enforced: no resource without its consumer.
    let orphan = sqlx::query(
        "INSERT INTO resources (id, consumer_id, consumer_name, version, manifests, created_at, updated_at) \
         VALUES ('x', 'no-such-consumer', 'c', 1, '[]', '', '')",
    )
    .execute(store.pool())
    .await;
    assert!(orphan.is_err(), "{orphan:?}");
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_url_gives_a_working_private_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(Some("sqlite::memory:"), dir.path(), 8)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.create_consumer(new_consumer("c1")).await.unwrap();
    resource(&*store, "c1", None).await;
    assert_eq!(store.pending_count().await.unwrap(), 1);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written to the data dir"
    );
    store.close().await;
}

/// A data directory from before the outbox (migration 0001's `publish_pending` column) keeps
/// what was waiting for publication: migration 0002 moves it into the outbox, oldest first.
#[tokio::test]
async fn pending_marks_from_before_the_outbox_are_moved_into_it() {
    let root = tempfile::tempdir().unwrap();
    let first_only = root.path().join("migrations");
    std::fs::create_dir(&first_only).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite/0001_initial.sql"
        ),
        first_only.join("0001_initial.sql"),
    )
    .unwrap();
    let dir = root.path().join("data");
    let old = SqliteStore::open_file(&dir.join(SQLITE_FILE), 1)
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(first_only.as_path())
        .await
        .unwrap()
        .run(old.pool())
        .await
        .unwrap();
    let (c, updated, published, deleting) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let row = |id: uuid::Uuid, version: i64, at: &str, deleted: bool, pending: bool| {
        format!(
            "INSERT INTO resources (id, consumer_id, consumer_name, version, manifests, created_at, \
             updated_at, deleted_at, publish_pending) VALUES ('{id}', '{c}', 'c1', {version}, '[]', \
             '{at}', '{at}', {}, {});",
            if deleted {
                format!("'{at}'")
            } else {
                "NULL".into()
            },
            i32::from(pending)
        )
    };
    let sql = [
        format!(
            "INSERT INTO consumers (id, name, created_at, updated_at) VALUES ('{c}', 'c1', \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');"
        ),
        row(deleting, 1, "2026-01-01T00:00:02.000000Z", true, true),
        row(published, 1, "2026-01-01T00:00:03.000000Z", false, false),
        row(updated, 3, "2026-01-01T00:00:01.000000Z", false, true),
    ]
    .concat();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(old.pool())
        .await
        .unwrap();
    old.close().await;

    let store = store::open(None, &dir, 1).await.unwrap();
    store.migrate().await.unwrap();
    let pending: Vec<_> = store
        .pending_publications(10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.resource.id, p.resource.version, p.action))
        .collect();
    assert_eq!(
        pending,
        [
            (updated, 3, PublishAction::Update),
            (deleting, 1, PublishAction::Delete)
        ],
        "the pending rows, oldest change first, with the action their state implies; \
         the published one is not queued"
    );
    store.mark_published(&[(updated, 3, false)]).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 1);
}
