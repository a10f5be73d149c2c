//! The hub's persistence: consumers, resources, their reported status and the publish marker
//! that makes delivery reliable. All SQL lives below this module; the hub only sees [`Store`].
//!
//! Reliable publishing (docs/protocol.md §4.8, §5.2): every spec change or delete queues the
//! resource in `publish_outbox` in the same transaction that makes the change (one design on
//! both backends), so a committed change is always either published or still queued. The
//! publisher reads queued rows, publishes their *current* state (several quick updates
//! coalesce into one event) and deletes the outbox row only for the state it published or an
//! older one. The commit wakes the publisher ([`wakeup`]).
//!
//! Two backends implement [`Store`], each with its own SQL where it matters: [`postgres`] (the
//! production store) and [`sqlite`] (the embedded default of `baton serve`). [`open`] picks one
//! from the database URL. Lists take filters; a [`search`] condition is translated into SQL for
//! either backend with every value bound.

pub mod fleet;
pub mod lock;
pub mod model;
mod open;
pub mod postgres;
mod queries;
mod rows;
mod rules;
pub mod search;
pub mod sqlite;
mod status_batch;
pub mod wakeup;

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use model::*;
pub use open::{Backend, DEFAULT_DATA_DIR, SQLITE_FILE, check_url, open};
pub use search::{ConsumerField, ConsumerMap, ResourceField, ResourceMap, Search};
pub use wakeup::Wakeup;

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
    #[error("resource {0} already exists")]
    ResourceExists(Uuid),
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
    #[error(
        "changes after position {after} are no longer kept (the oldest kept follows {pruned_through}); list again and watch from the list's position"
    )]
    FeedGone { after: i64, pruned_through: i64 },
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

/// An agent's report on one resource, as the hub decoded it (§5.2): what the store decides on.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub id: Uuid,
    /// The cluster that sent the report, as its transport established it (the event's
    /// `clustername`, which the broker matched with the agent's identity and the MQTT transport
    /// with its topic). Only a resource of this consumer takes the report.
    pub cluster: String,
    /// The resource version the agent applied (the work's `generation`).
    pub version: i64,
    pub sequence_id: String,
    pub state: ReportedState,
}

/// A resource [`Outbox::requeue_unreported`] marked for publication again.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Requeued {
    pub id: Uuid,
    pub consumer_name: String,
}

/// What an agent reported.
#[derive(Debug, Clone)]
pub enum ReportedState {
    /// The agent removed the work (`Deleted=True`, §4.7).
    Deleted,
    /// A status to store: the ManifestWork `status` as JSON text, and its §6.4 hash.
    Status { document: RawJson, hash: String },
}

/// What happened to an incoming status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusOutcome {
    Stored,
    Removed,
    Ignored(StatusIgnored),
    UnknownResource,
    /// The resource exists but belongs to another consumer than the reporting cluster: a
    /// forged or misrouted report, dropped before any §5.2 rule.
    NotOwner,
}

/// Why a status left its row as it was (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusIgnored {
    /// `Deleted` for a resource that is not being deleted.
    NotDeleting,
    /// A version the hub never issued.
    VersionAhead,
    /// The sequence id is not newer than the stored one.
    Stale,
    /// The sequence ids cannot be compared (unparseable, or another node's).
    BadSequence,
    /// The same status as the stored one.
    Unchanged,
}

impl StatusIgnored {
    /// For logs.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotDeleting => "agent reports deleted, but the resource is not being deleted",
            Self::VersionAhead => "status for a version the hub never issued",
            Self::Stale => "stale sequence id",
            Self::BadSequence => "sequence id not comparable",
            Self::Unchanged => "unchanged",
        }
    }
}

/// The publish outbox (§4.8): what waits for publication, read and cleared by the publisher.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` resources whose current state has not been published yet, oldest first,
    /// each with the action its outbox row names.
    async fn pending_publications(&self, limit: i64) -> Result<Vec<Pending>, StoreError>;
    /// Like [`Outbox::pending_publications`], only of the consumers whose agent the connection
    /// registry ([`fleet`]) places at `replica`: with several replicas on one database each
    /// publishes to the agents connected to its own broker. With `after`, only the rows queued
    /// after it (by [`PendingRead::read_at`]'s clock): a replica's publisher reads what is new
    /// without walking the rows of clusters connected elsewhere on every round.
    ///
    /// This default serves a store of one process (SQLite: `hub::serve` scopes the publisher
    /// to a replica only on PostgreSQL). It holds every connection and ignores `after`: more
    /// rows than asked, never fewer, is correct, only slower. Its queue times come from this
    /// process's clock, so that clock is the database's.
    async fn pending_publications_at(
        &self,
        replica: &str,
        limit: i64,
        after: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<PendingRead, StoreError> {
        let _ = (replica, after);
        let read_at = chrono::Utc::now();
        let pending = self.pending_publications(limit).await?;
        Ok(PendingRead { pending, read_at })
    }
    /// Clears the pending mark if the resource's pending state is the published `version` and
    /// deletion state (`true` for a published delete), or older (a newer change keeps it
    /// pending). A published delete of a resource no agent ever reported on completes right
    /// away (§4.8 step 2): its row is removed.
    async fn mark_published(&self, published: &[(Uuid, i64, bool)]) -> Result<(), StoreError>;
    /// Marks for publication again every live resource that no agent has reported on and that
    /// last changed before `changed_before`, returning them. A publish the broker
    /// acknowledged can still be lost on its way (MQTT drops what reaches no subscriber; a hub
    /// can die before answering an agent's resync): such specs are sent again until the agent
    /// reports. So can the agent's report (the caller asks for it, §6.3).
    async fn requeue_unreported(
        &self,
        changed_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Requeued>, StoreError>;
    /// How many resources wait for publication (the outbox depth metric).
    async fn pending_count(&self) -> Result<i64, StoreError>;
}

/// Agents' statuses (§5.2), decided by `status_batch`'s rules on the rows they write.
#[async_trait]
pub trait Statuses: Send + Sync {
    /// The stored status hash of each of `ids` that has a status, read without locking: a
    /// committed state that a concurrent status write may change right after. The status
    /// writer uses it to skip a status equal to the stored one without a transaction (§5.2
    /// step 5 ignores it whatever the row lock would show: an older sequence id is stale, a
    /// newer one with the same status is unchanged).
    async fn status_hashes(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, StoreError>;

    /// Applies a batch of agents' statuses together: each report is decided by §5.2
    /// (`status_batch`) on its row as the reports before it left it (so statuses of one
    /// resource keep their order), and each row is written once, atomically, only as decided
    /// on its current state (SQLite: one transaction under the write lock; PostgreSQL: rows read
    /// without a lock and written by compare and set, a changed row decided again). One outcome
    /// per item, in order.
    async fn apply_statuses(
        &self,
        batch: &[StatusReport],
    ) -> Result<Vec<StatusOutcome>, StoreError>;
}

/// The durable change feed: every committed change of a resource row, numbered in commit
/// order. The database writes it (triggers on `resources`, in the changing transaction), so no
/// write path can forget it; this trait reads it, numbers it and trims it.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Woken once a change of the feed may have committed (PostgreSQL: by any process, relayed
    /// by [`Store::relay_wakeups`]; SQLite: after this process's write transactions).
    fn changes_woken(&self) -> &Wakeup;
    /// Numbers the changes committed since the last call (PostgreSQL moves its inbox into the
    /// feed, one sequencer at a time across processes; SQLite numbers at commit already) and
    /// returns how many it numbered. Readers call it first: changes become visible here.
    async fn sequence_changes(&self) -> Result<u64, StoreError>;
    /// The newest position: a watch that starts now sends what comes after it.
    async fn feed_head(&self) -> Result<i64, StoreError>;
    /// Up to `limit` numbered changes after position `after`, in order; [`StoreError::FeedGone`]
    /// when retention removed some of them.
    async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError>;
    /// Removes the numbered changes made before `before` (retention), returning how many.
    async fn prune_changes(&self, before: chrono::DateTime<chrono::Utc>)
    -> Result<u64, StoreError>;
}

/// What the status writes keep for queries (migrations 0008/0005): the consumers' health, the
/// condition history, and the agents' last event time.
#[async_trait]
pub trait Health: Send + Sync {
    /// The pending and failed counts of the consumers `names` (all when `None`); a consumer
    /// with none of either has no entry.
    async fn consumer_health(
        &self,
        names: Option<&[String]>,
    ) -> Result<HashMap<String, ConsumerHealth>, StoreError>;
    /// The kept condition transitions of a resource, newest first ([`HISTORY_KEPT`] at most).
    async fn condition_history(&self, id: Uuid) -> Result<Vec<ConditionTransition>, StoreError>;
    /// Records when agents were last heard from: one statement for many consumers, a time
    /// never moving back (another replica may have recorded a later one).
    async fn record_seen(
        &self,
        seen: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> Result<(), StoreError>;
}

/// Everything the hub keeps: consumers and resources here, the outbox, the statuses, the
/// change feed and the health queries in their own traits (each backend implements each in
/// its own file).
#[async_trait]
pub trait Store: Outbox + Statuses + ChangeFeed + Health + Send + Sync + 'static {
    /// Runs the embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap liveness check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes the connections (waiting for those in use) and releases what the store holds,
    /// such as the SQLite lock file. Calls after this fail.
    async fn close(&self);

    /// Woken once a change queued for publication has committed ([`wakeup`]).
    fn wakeup(&self) -> &Wakeup;
    /// Until `stop`, wakes [`Store::wakeup`] for what other processes commit too, and tells
    /// them what this one commits (PostgreSQL: `LISTEN`, and `NOTIFY` after each commit; each
    /// hub runs it once). SQLite has nothing to relay: one process per database.
    async fn relay_wakeups(&self, stop: CancellationToken) {
        stop.cancelled().await;
    }

    async fn create_consumer(&self, new: NewConsumer) -> Result<Consumer, StoreError>;
    async fn get_consumer(&self, key: &ConsumerKey) -> Result<Consumer, StoreError>;
    async fn list_consumers(
        &self,
        filter: &ConsumerFilter,
        page: PageRequest,
    ) -> Result<Page<Consumer>, StoreError>;
    async fn update_consumer_labels(
        &self,
        key: &ConsumerKey,
        labels: Labels,
    ) -> Result<Consumer, StoreError>;
    /// Refused with [`StoreError::ConsumerInUse`] while the consumer has resources.
    async fn delete_consumer(&self, key: &ConsumerKey) -> Result<(), StoreError>;

    /// Creates each of `batch` at version 1, queued for publication: each all or nothing,
    /// each with its own error, in as few transactions as the backend can (the hub's create
    /// batcher gathers concurrent requests into one call). Results are in the order of `batch`.
    async fn create_resources(&self, batch: Vec<NewResource>) -> Vec<Result<Resource, StoreError>>;
    async fn get_resource(&self, id: Uuid) -> Result<Resource, StoreError>;
    /// The resources of `ids` that exist (a missing one is left out), in no particular order.
    async fn get_resources(&self, ids: &[Uuid]) -> Result<Vec<Resource>, StoreError>;
    /// A page of matches.
    async fn list_resources(
        &self,
        filter: &ResourceFilter,
        page: PageRequest,
    ) -> Result<Page<Resource>, StoreError>;
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
}
