//! Rows as both backends read them, and their conversion into the domain records of
//! [`super::model`]. The column lists are the same on both backends; only the id type differs
//! (Postgres has a native `uuid`, SQLite stores the hyphenated text form), hence the generic.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, FromRow, QueryBuilder, Type};
use uuid::Uuid;

use super::StoreError;
use super::model::{
    Consumer, Direction, Labels, NewResource, OrderBy, Page, PageRequest, Pending, PublishAction,
    RawJson, ReportedStatus, Resource, ResourceSpec,
};

/// The columns a [`ResourceRow`] reads, in every `SELECT` and `RETURNING` of a resource.
pub(crate) const RESOURCE_COLUMNS: &str = "id, consumer_id, consumer_name, name, source, version, manifests, delete_option, \
     manifest_configs, labels, annotations, status, status_hash, status_sequence_id, status_updated_at, \
     status_version, created_at, updated_at, deleted_at";

/// The columns a [`ConsumerRow`] reads.
pub(crate) const CONSUMER_COLUMNS: &str = "id, name, labels, created_at, updated_at, last_seen_at";

#[derive(FromRow)]
pub(crate) struct ResourceRow<I> {
    id: I,
    consumer_id: I,
    consumer_name: String,
    name: Option<String>,
    source: Option<String>,
    version: i64,
    manifests: Json<RawJson>,
    delete_option: Option<Json<RawJson>>,
    manifest_configs: Option<Json<RawJson>>,
    labels: Json<Labels>,
    annotations: Json<Labels>,
    status: Option<Json<RawJson>>,
    status_hash: Option<String>,
    status_sequence_id: Option<String>,
    status_updated_at: Option<DateTime<Utc>>,
    status_version: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

/// The status columns of a row as a [`ReportedStatus`]: none until a status was stored.
fn reported_status(
    status: Option<Json<RawJson>>,
    hash: Option<String>,
    sequence_id: Option<String>,
    updated_at: Option<DateTime<Utc>>,
    version: Option<i64>,
) -> Option<ReportedStatus> {
    match (status, updated_at) {
        (Some(Json(status)), Some(updated_at)) => Some(ReportedStatus {
            status,
            hash: hash.unwrap_or_default(),
            sequence_id: sequence_id.unwrap_or_default(),
            updated_at,
            version,
        }),
        _ => None,
    }
}

impl<I: Into<Uuid>> From<ResourceRow<I>> for Resource {
    fn from(row: ResourceRow<I>) -> Self {
        let status = reported_status(
            row.status,
            row.status_hash,
            row.status_sequence_id,
            row.status_updated_at,
            row.status_version,
        );
        Resource {
            id: row.id.into(),
            consumer_id: row.consumer_id.into(),
            consumer_name: row.consumer_name,
            name: row.name,
            source: row.source,
            version: row.version,
            spec: ResourceSpec {
                manifests: row.manifests.0,
                delete_option: row.delete_option.map(|j| j.0),
                manifest_configs: row.manifest_configs.map(|j| j.0),
                labels: row.labels.0,
                annotations: row.annotations.0,
            },
            status,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

/// A queued resource: its [`RESOURCE_COLUMNS`] and the outbox row's `action`.
#[derive(FromRow)]
pub(crate) struct PendingRow<I> {
    #[sqlx(flatten)]
    resource: ResourceRow<I>,
    action: i16,
}

impl<I: Into<Uuid>> TryFrom<PendingRow<I>> for Pending {
    type Error = StoreError;

    fn try_from(row: PendingRow<I>) -> Result<Self, StoreError> {
        let action = PublishAction::from_code(row.action)
            .ok_or_else(|| StoreError::Corrupt(format!("publish_outbox.action {}", row.action)))?;
        Ok(Pending {
            resource: row.resource.into(),
            action,
        })
    }
}

/// What a create's `RETURNING` reads: the fields the database generates. The rest of the new
/// [`Resource`] is the request's own spec, so its documents are not read back.
pub(crate) const CREATED_COLUMNS: &str = "id, consumer_id, created_at, updated_at";

#[derive(FromRow)]
pub(crate) struct CreatedRow<I> {
    pub(crate) id: I,
    consumer_id: I,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> CreatedRow<I> {
    /// The created resource: version 1, no status, the request's spec.
    pub(crate) fn into_resource(self, new: NewResource) -> Resource {
        Resource {
            id: self.id.into(),
            consumer_id: self.consumer_id.into(),
            consumer_name: new.consumer_name,
            name: new.name,
            source: new.source,
            version: 1,
            spec: new.spec,
            status: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: None,
        }
    }
}

/// Per row of a batch: its generated fields, `None` where the consumer does not exist.
pub(crate) type BatchRows<I> = Vec<Option<CreatedRow<I>>>;

/// The created resources of a batch, in its order; a row not inserted had no consumer.
pub(crate) fn created_in_batch<I: Into<Uuid>>(
    batch: Vec<NewResource>,
    rows: BatchRows<I>,
) -> Vec<Result<Resource, StoreError>> {
    batch
        .into_iter()
        .zip(rows)
        .map(|(new, row)| match row {
            Some(row) => Ok(row.into_resource(new)),
            None => Err(StoreError::ConsumerNotFound(new.consumer_name)),
        })
        .collect()
}

/// A unique violation on create is the given id being taken, else the consumer's resource
/// name.
pub(crate) fn name_taken_or(err: sqlx::Error, new: &NewResource) -> StoreError {
    if let (Some(id), sqlx::Error::Database(db)) = (new.id, &err)
        && db.is_unique_violation()
        // PostgreSQL names the constraint; SQLite only says which column.
        && (db.constraint() == Some("resources_pkey") || db.message().contains("resources.id"))
    {
        return StoreError::ResourceExists(id);
    }
    if is_unique_violation(&err) {
        StoreError::ResourceNameTaken {
            consumer: new.consumer_name.clone(),
            name: new.name.clone().unwrap_or_default(),
        }
    } else {
        err.into()
    }
}

#[derive(FromRow)]
pub(crate) struct ConsumerRow<I> {
    pub(crate) id: I,
    pub(crate) name: String,
    labels: Json<Labels>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_seen_at: Option<DateTime<Utc>>,
}

impl<I: Into<Uuid>> From<ConsumerRow<I>> for Consumer {
    fn from(row: ConsumerRow<I>) -> Self {
        Consumer {
            id: row.id.into(),
            name: row.name,
            labels: row.labels.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
            last_seen_at: row.last_seen_at,
        }
    }
}

/// The `ORDER BY` of a list page; ties are broken by id so pages never overlap. Both backends
/// accept this SQL.
fn order_clause(page: PageRequest) -> &'static str {
    match (page.order_by, page.direction) {
        (OrderBy::CreatedAt, Direction::Asc) => " ORDER BY created_at ASC, id ASC",
        (OrderBy::CreatedAt, Direction::Desc) => " ORDER BY created_at DESC, id DESC",
        (OrderBy::UpdatedAt, Direction::Asc) => " ORDER BY updated_at ASC, id ASC",
        (OrderBy::UpdatedAt, Direction::Desc) => " ORDER BY updated_at DESC, id DESC",
        (OrderBy::Name, Direction::Asc) => " ORDER BY name ASC NULLS LAST, id ASC",
        (OrderBy::Name, Direction::Desc) => " ORDER BY name DESC NULLS LAST, id DESC",
    }
}

/// Ends a list query with `page`'s order, limit and offset, on either backend.
pub(crate) fn push_page<DB>(q: &mut QueryBuilder<DB>, page: PageRequest)
where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
{
    q.push(order_clause(page))
        .push(" LIMIT ")
        .push_bind(i64::from(page.size))
        .push(" OFFSET ")
        .push_bind(page.offset());
}

/// A page of records from the rows read and the count of all matches.
pub(crate) fn page_of<R: Into<T>, T>(rows: Vec<R>, total: i64) -> Page<T> {
    Page {
        items: rows.into_iter().map(Into::into).collect(),
        total,
    }
}

/// Whether `err` is a unique-constraint violation, on either backend.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
