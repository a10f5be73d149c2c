//! The statements both backends run alike: consumer lookups and changes, resource lookups and
//! list pages.
//! Written once over [`sqlx::Database`] with [`QueryBuilder`], which writes each backend's
//! placeholders; a backend passes in what differs (its id column's type `I`, a lock clause, its
//! label filter) and its own pool or transaction (SQLite's write turn stays with the caller).
//!
//! Must not hold SQL that only one dialect accepts: that stays in `postgres/` or `sqlite/`.

use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};
use uuid::Uuid;

use sqlx::types::Json;

use super::rows::{
    CONSUMER_COLUMNS, ConsumerRow, RESOURCE_COLUMNS, ResourceRow, page_of, push_page,
};
use super::{Consumer, ConsumerKey, Labels, Page, PageRequest, Resource, StoreError, rules};

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

/// A page of consumers, and the count of all.
/// A page of consumers; `filter` appends the backend's `WHERE` (its label filter).
pub(crate) async fn list_consumers<DB, I>(
    pool: &Pool<DB>,
    filter: impl Fn(&mut QueryBuilder<DB>),
    page: PageRequest,
) -> Result<Page<Consumer>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    i64: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    ConsumerRow<I>: for<'r> FromRow<'r, DB::Row> + Send + Unpin + Into<Consumer>,
{
    fetch_page::<DB, ConsumerRow<I>, _>(pool, CONSUMER_COLUMNS, "consumers", filter, page).await
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
