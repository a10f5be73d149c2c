//! The hub's persistence: consumers, resources, their reported status and the publish marker
//! that makes delivery reliable. All SQL lives below this module; the hub only sees [`Store`].
//!
//! Reliable publishing (PROTOCOL.md §4.8, §5.2): every spec change or delete marks the
//! resource pending publication in the same statement that makes the change (PostgreSQL: a row
//! in `publish_outbox`; SQLite: the `publish_pending` column), so a committed change is
//! always either published or still pending. The publisher reads pending rows, publishes their
//! *current* state (several quick updates coalesce into one event) and clears the flag only if
//! the row still has the state it published.
//!
//! Two backends implement [`Store`], each with its own SQL where it matters: [`postgres`] (the
//! production store) and [`sqlite`] (the embedded default of `baton serve`). [`open`] picks one
//! from the database URL.

pub mod fleet;
pub mod lock;
pub mod model;
mod open;
mod pg_create;
mod pg_json;
mod pg_publish;
mod pg_status;
pub mod postgres;
mod rows;
pub mod sqlite;
mod status_batch;

use std::path::PathBuf;

use async_trait::async_trait;
use uuid::Uuid;

pub use model::*;
pub use open::{DEFAULT_DATA_DIR, SQLITE_FILE, open};
pub use status_batch::StatusItem;

/// What the store can fail with; the hub maps these to HTTP statuses in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("consumer {0} not found")]
    ConsumerNotFound(String),
    #[error("resource {0} not found")]
    ResourceNotFound(Uuid),
    #[error("consumer {0:?} already exists")]
    ConsumerExists(String),
    #[error("consumer {0} still has {1} resource(s); delete them first")]
    ConsumerInUse(String, i64),
    #[error("a resource named {name:?} already exists for consumer {consumer}")]
    ResourceNameTaken { consumer: String, name: String },
    #[error("resource {id} is at version {current}, not {expected}")]
    VersionConflict {
        id: Uuid,
        expected: i64,
        current: i64,
    },
    #[error("resource {0} is being deleted and can no longer change")]
    ResourceDeleting(Uuid),
    #[error("resource version would exceed the int32 the wire carries")]
    VersionExhausted,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the database is in use by another baton process ({}lock file {}); stop it or use another --data-dir (the embedded SQLite database serves one hub process: several replicas need PostgreSQL, see docs/ha.md)",
        holder.map(|pid| format!("pid {pid}, ")).unwrap_or_default(),
        lock.display()
    )]
    Locked { lock: PathBuf, holder: Option<u32> },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--database-url: scheme must be postgres:// or sqlite:, got {0:?}")]
    UnsupportedUrl(String),
}

/// The row a status handler decides on.
#[derive(Debug, Clone)]
pub struct StatusTarget {
    pub id: Uuid,
    pub version: i64,
    pub deleting: bool,
    pub status: Option<ReportedStatus>,
}

/// What to do with an incoming status, decided by the hub from the [`StatusTarget`].
#[derive(Debug, Clone, PartialEq)]
pub enum StatusWrite {
    /// Keep the row as it is (stale, unchanged, ...); the reason is logged.
    Ignore(&'static str),
    /// Store this status.
    Store {
        status: serde_json::Value,
        hash: String,
        sequence_id: String,
    },
    /// The agent confirmed deletion: remove the row.
    Remove,
}

/// What happened to an incoming status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    Stored,
    Removed,
    Ignored(&'static str),
    UnknownResource,
}

/// The decision function a status update runs with, inside the store's transaction.
pub type DecideStatus<'a> = &'a (dyn Fn(&StatusTarget) -> StatusWrite + Send + Sync);

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Runs the embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes the connections (waiting for those in use) and releases what the store holds,
    /// such as the SQLite lock file. Calls after this fail.
    async fn close(&self);

    async fn create_consumer(&self, new: NewConsumer) -> Result<Consumer, StoreError>;
    async fn get_consumer(&self, key: &ConsumerKey) -> Result<Consumer, StoreError>;
    async fn list_consumers(&self, page: PageRequest) -> Result<Page<Consumer>, StoreError>;
    async fn update_consumer_labels(
        &self,
        key: &ConsumerKey,
        labels: Labels,
    ) -> Result<Consumer, StoreError>;
    /// Refused with [`StoreError::ConsumerInUse`] while the consumer has resources.
    async fn delete_consumer(&self, key: &ConsumerKey) -> Result<(), StoreError>;

    /// Creates at version 1, pending publication.
    async fn create_resource(&self, new: NewResource) -> Result<Resource, StoreError>;
    /// Creates several resources, as [`Store::create_resource`] would one by one (each all or
    /// nothing, each with its own error), in as few transactions as the backend can: the
    /// hub's create batcher gathers concurrent requests into one call. Results are in the
    /// order of `batch`.
    async fn create_resources(&self, batch: Vec<NewResource>) -> Vec<Result<Resource, StoreError>> {
        let mut results = Vec::with_capacity(batch.len());
        for new in batch {
            results.push(self.create_resource(new).await);
        }
        results
    }
    async fn get_resource(&self, id: Uuid) -> Result<Resource, StoreError>;
    /// A page of matches, their JSON documents as stored (see [`ResourceDoc`]).
    async fn list_resources(
        &self,
        filter: &ResourceFilter,
        page: PageRequest,
    ) -> Result<Page<ResourceDoc>, StoreError>;
    /// Replaces the spec if the resource is at `expected_version`: version + 1 and pending
    /// publication when the spec differs, nothing at all when it is the same.
    async fn update_resource(
        &self,
        id: Uuid,
        expected_version: i64,
        spec: ResourceSpec,
    ) -> Result<Updated<Resource>, StoreError>;
    /// Marks the resource deleting (pending publication of the delete). Idempotent.
    async fn delete_resource(&self, id: Uuid) -> Result<Resource, StoreError>;

    /// Every resource of one consumer, or of all (`None`): the source's lister (§6.5, §6.3).
    async fn resources_of(&self, consumer_name: Option<&str>) -> Result<Vec<Resource>, StoreError>;
    /// Up to `limit` resources whose current state has not been published yet, oldest first.
    async fn pending_publications(&self, limit: i64) -> Result<Vec<Resource>, StoreError>;
    /// Like [`Store::pending_publications`], only of the consumers whose agent the connection
    /// registry ([`fleet`]) places at `replica`: with several replicas on one database each
    /// publishes to the agents connected to its own broker. A store that serves one process
    /// holds every connection and returns everything pending.
    async fn pending_publications_at(
        &self,
        replica: &str,
        limit: i64,
    ) -> Result<Vec<Resource>, StoreError> {
        let _ = replica;
        self.pending_publications(limit).await
    }
    /// Clears the pending mark if the resource's pending state is the published `version` and
    /// deletion state, or older (a newer change keeps it pending). A published delete of a resource no agent ever
    /// reported on completes right away (§4.8 step 2): its row is removed.
    async fn mark_published(&self, published: &[(Uuid, i64, bool)]) -> Result<(), StoreError>;
    /// Marks for publication again every live resource that no agent has reported on and that
    /// last changed before `changed_before`, returning how many. A publish the broker
    /// acknowledged can still be lost on its way (MQTT drops what reaches no subscriber; a hub
    /// can die before answering an agent's resync): such specs are sent again until the agent
    /// reports.
    async fn requeue_unreported(
        &self,
        changed_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError>;
    /// How many resources wait for publication (the outbox depth metric).
    async fn pending_count(&self) -> Result<i64, StoreError>;

    /// Applies an agent's status: lets `decide` choose on the current row, writes the choice. A
    /// batch of one ([`Store::apply_statuses`]): both backends have a single status path.
    async fn apply_status(
        &self,
        id: Uuid,
        decide: DecideStatus<'_>,
    ) -> Result<StatusOutcome, StoreError> {
        let outcomes = self.apply_statuses(&[StatusItem { id, decide }]).await?;
        outcomes
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("a status batch of one gave no outcome".into()))
    }

    /// The stored status hash of each of `ids` that has a status, read without locking: a
    /// committed state that a concurrent status write may change right after. The status
    /// writer uses it to skip a status equal to the stored one without a transaction (§5.2
    /// step 5 ignores it whatever the row lock would show: an older sequence id is stale, a
    /// newer one with the same status is unchanged).
    async fn status_hashes(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, StoreError>;

    /// Applies a batch of agents' statuses together: each item is decided like
    /// [`Store::apply_status`] on its row as the items before it left it (so statuses of one
    /// resource keep their order), and each row is written once, atomically, only as decided
    /// on its current state (SQLite: one transaction under the write lock; PostgreSQL: rows read
    /// without a lock and written by compare and set, a changed row decided again). One outcome
    /// per item, in order.
    async fn apply_statuses(
        &self,
        batch: &[StatusItem<'_>],
    ) -> Result<Vec<StatusOutcome>, StoreError>;
}
