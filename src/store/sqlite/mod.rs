//! The embedded SQLite backend of [`Store`](crate::store::Store): the default of `baton serve` when no database URL
//! is given, so that a fresh machine runs a hub with no services at all.
//!
//! Owns the database file, its connection settings and the [`DirLock`] that keeps a second
//! process away. The same guarantees as Postgres: a change and its publish outbox row commit
//! together (§4.8), read-modify-write runs in `BEGIN IMMEDIATE` transactions (SQLite's whole
//! database write lock stands in for Postgres' row locks), commits are durable
//! (`synchronous=FULL`). WAL lets readers run beside the one writer.
//!
//! Types on disk: ids are hyphenated UUID text, JSON is text, timestamps are fixed-width
//! RFC 3339 text in UTC with microseconds (`timestamp`), so text order is time order.

mod create;
mod feed;
mod health;
mod outbox;
mod status;
mod store;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};
use tracing::info;

use super::lock::DirLock;
use super::{StoreError, Wakeup};

/// How long a writer waits for another one before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The one-writer-at-a-time queue of a store (see the module docs).
type WriteGate = AsyncMutex<()>;

pub struct SqliteStore {
    pool: SqlitePool,
    writers: WriteGate,
    /// Woken after each commit that queues a publication.
    wakeup: Wakeup,
    /// Woken after each write transaction's commit: the change feed may have grown.
    changes: Wakeup,
    /// Held for the store's lifetime; `None` for in-memory databases and once closed.
    lock: Mutex<Option<DirLock>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at a `sqlite:` URL, e.g. `sqlite://data/baton.db`
    /// or `sqlite::memory:` (one connection, gone when the store closes).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?;
        if url.contains(":memory:") || url.contains("mode=memory") {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(tuned(options))
                .await?;
            return Ok(Self {
                pool,
                writers: WriteGate::default(),
                wakeup: Wakeup::default(),
                changes: Wakeup::default(),
                lock: Mutex::new(None),
            });
        }
        let path = options.get_filename().to_owned();
        Self::open_with(&path, options, max_connections).await
    }

    /// Opens (creating if missing) the database file at `path`.
    pub async fn open_file(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::open_with(path, options, max_connections).await
    }

    async fn open_with(
        path: &Path,
        options: SqliteConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        // Before the first connection: a second process must not even switch journal modes.
        let lock = DirLock::acquire(&lock_path(path))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(tuned(options))
            .await?;
        info!(database = %path.display(), "SQLite store open");
        Ok(Self {
            pool,
            writers: WriteGate::default(),
            wakeup: Wakeup::default(),
            changes: Wakeup::default(),
            lock: Mutex::new(Some(lock)),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for this store's turn to write; hold the guard until the write is done.
    async fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.writers.lock().await
    }

    /// Waits for the turn to write, then opens a transaction that holds SQLite's write lock
    /// from its first statement (a read-check-write never fails half-way on a lock upgrade).
    /// The transaction ends (commit or rollback on drop) before the turn passes on.
    async fn write_tx(&self) -> Result<WriteTx<'_>, StoreError> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx {
            tx,
            committed: &self.changes,
            _turn: turn,
        })
    }

    fn release_lock(&self) {
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }
}

/// A write transaction and the write turn it holds. Fields drop in order: the transaction
/// ends before the turn is released.
struct WriteTx<'a> {
    tx: Transaction<'static, Sqlite>,
    /// The change feed's wake-up: every resource change commits through here.
    committed: &'a Wakeup,
    _turn: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.committed.wake();
        Ok(())
    }
}

/// `&mut *tx` is the transaction's connection, as with a plain `Transaction`.
impl std::ops::Deref for WriteTx<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// The settings every connection gets.
fn tuned(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit the API acknowledged survives a power cut, as on Postgres.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
}

/// `baton.db` → `baton.db.lock`.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The stored form of a timestamp: fixed width, so text order is time order.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, as stored (microseconds, like Postgres' `now()`).
fn now() -> String {
    timestamp(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_as_text_in_time_order() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let b = a + chrono::Duration::microseconds(1);
        let c = a + chrono::Duration::milliseconds(10);
        let (ta, tb, tc) = (timestamp(a), timestamp(b), timestamp(c));
        assert_eq!(ta, "2026-01-01T00:00:00.000000Z");
        assert!(ta < tb && tb < tc, "{ta} {tb} {tc}");
    }

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(
            lock_path(Path::new("data/baton.db")),
            PathBuf::from("data/baton.db.lock")
        );
    }
}
