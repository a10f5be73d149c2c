//! The statements both backends run alike: consumer lookups and changes, resource lookups, list
//! pages and their status filters, the consumers' health, the condition history and the change
//! feed's read.
//! Written once over [`sqlx::Database`] with [`QueryBuilder`], which writes each backend's
//! placeholders; a backend passes in what differs (its id column's type `I`, a lock clause, its
//! label filter) and its own pool or transaction (SQLite's write turn stays with the caller).
//!
//! Must not hold SQL that only one dialect accepts: that stays in `postgres/` or `sqlite/`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};
use uuid::Uuid;

use sqlx::types::Json;

use super::rows::{
    CONSUMER_COLUMNS, ConsumerRow, RESOURCE_COLUMNS, ResourceRow, page_of, push_page,
};
use super::search::{JsonSql, push_search};
use super::{
    Change, ChangeKind, ConditionTransition, Consumer, ConsumerFilter, ConsumerHealth, ConsumerKey,
    Labels, Page, PageRequest, Resource, ResourceFilter, ResourceState, SourceFilter, StoreError,
    rules,
};

/// A live resource whose current version has no status yet: one with a row in
/// `resource_pending`, which triggers keep (migrations postgres/0012, sqlite/0007).
const PENDING: &str =
    "EXISTS (SELECT 1 FROM resource_pending p WHERE p.resource_id = resources.id)";

/// Appends the status filters of `filter` (`condition=`, `state=`) to a `WHERE` on `resources`.
pub(crate) fn push_status_filter<DB>(q: &mut QueryBuilder<DB>, filter: &ResourceFilter)
where
    DB: Database,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    for condition in &filter.conditions {
        q.push(
            " AND EXISTS (SELECT 1 FROM resource_conditions rc WHERE rc.resource_id = resources.id \
             AND rc.type = ",
        )
        .push_bind(condition.type_.clone())
        .push(" AND rc.status = ")
        .push_bind(condition.status.clone())
        .push(")");
    }
    match filter.state {
        Some(ResourceState::Pending) => q.push(" AND ").push(PENDING),
        Some(ResourceState::Deleting) => q.push(" AND deleted_at IS NOT NULL"),
        None => q,
    };
}

/// Appends ` AND {column} IN (…names)` when `names` is given.
fn push_names<DB>(q: &mut QueryBuilder<DB>, column: &str, names: Option<&[String]>)
where
    DB: Database,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let Some(names) = names else { return };
    q.push(format!(" AND {column} IN ("));
    let mut listed = q.separated(", ");
    for name in names {
        listed.push_bind(name.clone());
    }
    q.push(")");
}

/// The health counts of the consumers `names` (all when `None`); a consumer with nothing
/// pending or failed has no entry. Two index reads: `resource_pending` and the
/// `Applied=False` rows of `resource_conditions`.
pub(crate) async fn consumer_health<DB>(
    pool: &Pool<DB>,
    names: Option<&[String]>,
) -> Result<HashMap<String, ConsumerHealth>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    (String, i64, Option<DateTime<Utc>>): for<'r> FromRow<'r, DB::Row>,
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    if names.is_some_and(<[String]>::is_empty) {
        return Ok(HashMap::new());
    }
    let mut health: HashMap<String, ConsumerHealth> = HashMap::new();
    let mut q = QueryBuilder::<DB>::new(
        "SELECT consumer_name, count(*), min(since) FROM resource_pending WHERE true",
    );
    push_names(&mut q, "consumer_name", names);
    q.push(" GROUP BY consumer_name");
    let pending: Vec<(String, i64, Option<DateTime<Utc>>)> =
        q.build_query_as().fetch_all(pool).await?;
    for (name, count, since) in pending {
        let entry = health.entry(name).or_default();
        entry.pending = count;
        entry.oldest_pending_since = since;
    }
    let mut q = QueryBuilder::<DB>::new(
        "SELECT r.consumer_name, count(*) FROM resource_conditions rc \
         JOIN resources r ON r.id = rc.resource_id WHERE rc.type = 'Applied' AND rc.status = 'False'",
    );
    push_names(&mut q, "r.consumer_name", names);
    q.push(" GROUP BY r.consumer_name");
    let failed: Vec<(String, i64)> = q.build_query_as().fetch_all(pool).await?;
    for (name, count) in failed {
        health.entry(name).or_default().failed = count;
    }
    Ok(health)
}

/// The kept condition transitions of resource `id`, newest first; not found when the resource
/// does not exist.
pub(crate) async fn condition_history<DB, I>(
    pool: &Pool<DB>,
    id: Uuid,
) -> Result<Vec<ConditionTransition>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    HistoryRow: for<'r> FromRow<'r, DB::Row>,
{
    // One read transaction: a resource removed between the two reads is not found.
    let mut tx = pool.begin().await?;
    let mut exists = QueryBuilder::<DB>::new("SELECT count(*) FROM resources WHERE id = ");
    exists.push_bind(I::from(id));
    let (found,): (i64,) = exists.build_query_as().fetch_one(&mut *tx).await?;
    if found == 0 {
        return Err(StoreError::ResourceNotFound(id));
    }
    let mut q = QueryBuilder::<DB>::new(
        "SELECT type, status, reason, message, observed_generation, at \
         FROM resource_condition_history WHERE resource_id = ",
    );
    q.push_bind(I::from(id))
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(super::HISTORY_KEPT as i64);
    let rows: Vec<HistoryRow> = q.build_query_as().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(
            |(type_, status, reason, message, observed_generation, at)| ConditionTransition {
                type_,
                status,
                reason,
                message,
                observed_generation,
                at,
            },
        )
        .collect())
}

/// The resources of `ids` that exist, in no particular order: one statement for a page of
/// the change feed.
pub(crate) async fn get_resources<DB, I>(
    pool: &Pool<DB>,
    ids: &[Uuid],
) -> Result<Vec<Resource>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    ResourceRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin + Into<Resource>,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT {RESOURCE_COLUMNS} FROM resources WHERE id IN ("
    ));
    let mut listed = q.separated(", ");
    for id in ids {
        listed.push_bind(I::from(*id));
    }
    q.push(")");
    let rows: Vec<ResourceRow<I>> = q.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A row of `resource_condition_history` as [`condition_history`] reads it.
pub(crate) type HistoryRow = (String, String, String, String, i64, DateTime<Utc>);

/// A row of `resource_changes`; `I` is the backend's id type.
pub(crate) type ChangeRow<I> = (
    i64,
    I,
    String,
    Option<String>,
    Json<Labels>,
    String,
    DateTime<Utc>,
);

/// Up to `limit` numbered changes after position `after`, in order, read in the caller's
/// transaction `tx` (one snapshot for the retention horizon and the rows: a prune between two
/// reads cannot hide a gap); [`StoreError::FeedGone`] when retention removed some of them.
pub(crate) async fn changes_after<DB, I>(
    tx: &mut DB::Connection,
    after: i64,
    limit: i64,
) -> Result<Vec<Change>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: Into<Uuid>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    ChangeRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let (pruned_through,): (i64,) =
        QueryBuilder::<DB>::new("SELECT pruned_through FROM resource_change_state")
            .build_query_as()
            .fetch_one(&mut *tx)
            .await?;
    if after < pruned_through {
        return Err(StoreError::FeedGone {
            after,
            pruned_through,
        });
    }
    let mut q = QueryBuilder::<DB>::new(
        "SELECT position, resource_id, consumer_name, name, labels, kind, at FROM resource_changes \
         WHERE position > ",
    );
    q.push_bind(after)
        .push(" ORDER BY position LIMIT ")
        .push_bind(limit);
    let rows: Vec<ChangeRow<I>> = q.build_query_as().fetch_all(&mut *tx).await?;
    rows.into_iter()
        .map(
            |(position, id, consumer_name, name, Json(labels), kind, at)| {
                Ok(Change {
                    position,
                    resource_id: id.into(),
                    consumer_name,
                    name,
                    labels,
                    kind: kind.parse::<ChangeKind>().map_err(StoreError::Corrupt)?,
                    at,
                })
            },
        )
        .collect()
}

/// Appends ` AND` the resource's consumer carries every one of `labels` (a scoped caller's
/// reach); `J` is the backend's JSON dialect.
pub(crate) fn push_consumer_labels<DB, J>(q: &mut QueryBuilder<DB>, labels: &Labels)
where
    DB: Database,
    J: JsonSql<DB>,
{
    if labels.is_empty() {
        return;
    }
    q.push(" AND consumer_name IN (SELECT name FROM consumers WHERE ");
    J::push_contains(q, "consumers.labels", labels);
    q.push(")");
}

/// Appends ` WHERE id = …` or ` WHERE name = …` for `key`; `I` is the backend's id type.
pub(crate) fn push_consumer_key<DB, I>(q: &mut QueryBuilder<DB>, key: &ConsumerKey)
where
    DB: Database,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    match key {
        ConsumerKey::Id(id) => q.push(" WHERE id = ").push_bind(I::from(*id)),
        ConsumerKey::Name(name) => q.push(" WHERE name = ").push_bind(name.clone()),
    };
}

/// Appends ` AND` the resources `source` owns (docs/maestro.md: a REST create has no source).
pub(crate) fn push_source_filter<DB>(q: &mut QueryBuilder<DB>, source: &SourceFilter)
where
    DB: Database,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    q.push(" AND (source = ").push_bind(source.source.clone());
    if source.or_unowned {
        q.push(" OR source IS NULL");
    }
    q.push(")");
}

/// `SELECT` of the consumer `key` names, with `lock` (` FOR UPDATE` or nothing) appended.
fn select_consumer<DB, I>(key: &ConsumerKey, lock: &str) -> QueryBuilder<DB>
where
    DB: Database,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(format!("SELECT {CONSUMER_COLUMNS} FROM consumers"));
    push_consumer_key::<DB, I>(&mut q, key);
    q.push(lock);
    q
}

pub(crate) async fn get_consumer<DB, I>(
    pool: &Pool<DB>,
    key: &ConsumerKey,
) -> Result<Consumer, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: From<Uuid> + Into<Uuid> + for<'q> Encode<'q, DB> + Type<DB> + Send + Unpin,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    ConsumerRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let mut q = select_consumer::<DB, I>(key, "");
    let row: Option<ConsumerRow<I>> = q.build_query_as().fetch_optional(pool).await?;
    row.map(Into::into)
        .ok_or_else(|| StoreError::ConsumerNotFound(key.to_string()))
}

/// Replaces the labels of the consumer `key` names; `now` appends the backend's current time
/// (PostgreSQL's `now()`, or SQLite's bound text timestamp).
pub(crate) async fn update_consumer_labels<DB, I>(
    pool: &Pool<DB>,
    key: &ConsumerKey,
    labels: Labels,
    now: impl FnOnce(&mut QueryBuilder<DB>),
) -> Result<Consumer, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: From<Uuid> + Into<Uuid> + for<'q> Encode<'q, DB> + Type<DB> + Send + Unpin,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    Json<Labels>: for<'q> Encode<'q, DB> + Type<DB>,
    ConsumerRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
{
    let mut q = QueryBuilder::<DB>::new("UPDATE consumers SET updated_at = ");
    now(&mut q);
    q.push(", labels = ").push_bind(Json(labels));
    push_consumer_key::<DB, I>(&mut q, key);
    q.push(" RETURNING ").push(CONSUMER_COLUMNS);
    let row: Option<ConsumerRow<I>> = q.build_query_as().fetch_optional(pool).await?;
    row.map(Into::into)
        .ok_or_else(|| StoreError::ConsumerNotFound(key.to_string()))
}

/// Deletes the consumer `key` names if it has no resources, in the caller's transaction `tx`;
/// `lock` keeps it from gaining one meanwhile (` FOR UPDATE`, or nothing under SQLite's write
/// lock).
pub(crate) async fn delete_consumer<DB, I>(
    tx: &mut DB::Connection,
    key: &ConsumerKey,
    lock: &str,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: From<Uuid> + Into<Uuid> + for<'q> Encode<'q, DB> + Type<DB> + Clone + Send + Unpin,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    i64: for<'r> Decode<'r, DB> + Type<DB>,
    ConsumerRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let mut q = select_consumer::<DB, I>(key, lock);
    let consumer: ConsumerRow<I> = q
        .build_query_as()
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::ConsumerNotFound(key.to_string()))?;
    let mut count = QueryBuilder::<DB>::new("SELECT count(*) FROM resources WHERE consumer_id = ");
    count.push_bind(consumer.id.clone());
    let in_use: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
    rules::consumer_deletable(consumer.name, in_use)?;
    let mut delete = QueryBuilder::<DB>::new("DELETE FROM consumers WHERE id = ");
    delete.push_bind(consumer.id);
    delete.build().execute(&mut *tx).await?;
    Ok(())
}

/// One page of `SELECT {columns} FROM {table}` rows (`R`) as records (`T`), with the count of all
/// matches; `filter` appends the same `WHERE` to both statements.
pub(crate) async fn fetch_page<DB, R, T>(
    pool: &Pool<DB>,
    columns: &str,
    table: &str,
    filter: impl Fn(&mut QueryBuilder<DB>),
    page: PageRequest,
) -> Result<Page<T>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    R: for<'r> FromRow<'r, DB::Row> + Send + Unpin + Into<T>,
{
    let mut count = QueryBuilder::<DB>::new(format!("SELECT count(*) FROM {table}"));
    filter(&mut count);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    let mut q = QueryBuilder::<DB>::new(format!("SELECT {columns} FROM {table}"));
    filter(&mut q);
    push_page(&mut q, page);
    let rows: Vec<R> = q.build_query_as().fetch_all(pool).await?;
    Ok(page_of(rows, total))
}

/// Appends the `WHERE` of a consumer list: `J` is the backend's JSON dialect.
pub(crate) fn push_consumer_filter<DB, I, J>(q: &mut QueryBuilder<DB>, filter: &ConsumerFilter)
where
    DB: Database,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
    J: JsonSql<DB>,
{
    let mut and = " WHERE ";
    if !filter.labels.is_empty() {
        q.push(and);
        J::push_contains(q, "consumers.labels", &filter.labels);
        and = " AND ";
    }
    if let Some(search) = &filter.search {
        q.push(and);
        push_search::<DB, I, J, _>(q, search);
    }
}

pub(crate) async fn get_resource<DB, I>(pool: &Pool<DB>, id: Uuid) -> Result<Resource, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    I: From<Uuid> + for<'q> Encode<'q, DB> + Type<DB>,
    ResourceRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin + Into<Resource>,
{
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT {RESOURCE_COLUMNS} FROM resources WHERE id = "
    ));
    q.push_bind(I::from(id));
    let row: Option<ResourceRow<I>> = q.build_query_as().fetch_optional(pool).await?;
    row.map(Into::into).ok_or(StoreError::ResourceNotFound(id))
}
