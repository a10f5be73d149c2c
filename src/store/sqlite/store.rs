//! The [`Store`] operations in SQLite's SQL. Mirrors `postgres/store.rs` statement by
//! statement where the dialects agree (what is written alike is in `store/queries.rs`); differs
//! where they do not: `BEGIN IMMEDIATE` instead of `FOR UPDATE`, `json_each` instead of `@>` for
//! label filters, a statement per row in `mark_published` instead of `UNNEST`, timestamps bound
//! from Rust instead of `now()`. Every write waits for its turn first (`write_turn`, or
//! `write_tx` which takes it).

use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::outbox::OUTBOX_UPSERT;
use super::{SqliteStore, now};
use crate::store::rows::{self, CONSUMER_COLUMNS, RESOURCE_COLUMNS};
use crate::store::search::{JsonSql, push_search};
use crate::store::*;
use crate::store::{queries, rules};

type ResourceRow = rows::ResourceRow<Hyphenated>;
type ConsumerRow = rows::ConsumerRow<Hyphenated>;

fn push_resource_filter(q: &mut QueryBuilder<Sqlite>, filter: &ResourceFilter) {
    q.push(" WHERE 1");
    if let Some(consumer) = &filter.consumer_name {
        q.push(" AND consumer_name = ").push_bind(consumer.clone());
    }
    if let Some(name) = &filter.name {
        q.push(" AND name = ").push_bind(name.clone());
    }
    if !filter.labels.is_empty() {
        q.push(" AND ");
        SqliteJson::push_contains(q, "resources.labels", &filter.labels);
    }
    if let Some(source) = &filter.source {
        queries::push_source_filter(q, source);
    }
    if let Some(search) = &filter.search {
        q.push(" AND ");
        push_search::<_, Hyphenated, SqliteJson, _>(q, search);
    }
    queries::push_status_filter(q, filter);
    queries::push_consumer_labels::<_, SqliteJson>(q, &filter.consumer_labels);
}

/// SQLite's SQL of a search over JSON text columns. Keys may hold '.' or '/', which JSON
/// paths would need quoted, so they are matched as `json_each` rows instead.
pub(crate) struct SqliteJson;

impl JsonSql<Sqlite> for SqliteJson {
    fn push_key_value(q: &mut QueryBuilder<Sqlite>, map: &str, key: &str) {
        q.push("(SELECT l.value FROM json_each(")
            .push(map)
            .push(") AS l WHERE l.key = ")
            .push_bind(key.to_owned())
            .push(" AND l.type = 'text')");
    }

    /// One `EXISTS` per pair.
    fn push_contains(q: &mut QueryBuilder<Sqlite>, map: &str, pairs: &Labels) {
        for (i, (key, value)) in pairs.iter().enumerate() {
            if i > 0 {
                q.push(" AND ");
            }
            q.push("EXISTS (SELECT 1 FROM json_each(")
                .push(map)
                .push(") AS l WHERE l.key = ")
                .push_bind(key.clone())
                .push(" AND l.type = 'text' AND l.value = ")
                .push_bind(value.clone())
                .push(")");
        }
    }
}

fn select_resource(tail: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT {RESOURCE_COLUMNS} FROM resources {tail}"))
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.release_lock();
    }

    fn wakeup(&self) -> &Wakeup {
        &self.wakeup
    }

    async fn create_consumer(&self, new: NewConsumer) -> Result<Consumer, StoreError> {
        let _turn = self.write_turn().await;
        let now = now();
        let row: ConsumerRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO consumers (id, name, labels, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) RETURNING {CONSUMER_COLUMNS}"
        )))
        .bind(Uuid::new_v4().hyphenated())
        .bind(new.name.as_str())
        .bind(Json(&new.labels))
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| rules::consumer_exists_or(e, new.name.as_str()))?;
        Ok(row.into())
    }

    async fn get_consumer(&self, key: &ConsumerKey) -> Result<Consumer, StoreError> {
        queries::get_consumer::<Sqlite, Hyphenated>(&self.pool, key).await
    }

    async fn list_consumers(
        &self,
        filter: &ConsumerFilter,
        page: PageRequest,
    ) -> Result<Page<Consumer>, StoreError> {
        queries::fetch_page::<_, ConsumerRow, _>(
            &self.pool,
            CONSUMER_COLUMNS,
            "consumers",
            |q| queries::push_consumer_filter::<_, Hyphenated, SqliteJson>(q, filter),
            page,
        )
        .await
    }

    async fn update_consumer_labels(
        &self,
        key: &ConsumerKey,
        labels: Labels,
    ) -> Result<Consumer, StoreError> {
        let _turn = self.write_turn().await;
        queries::update_consumer_labels::<Sqlite, Hyphenated>(&self.pool, key, labels, |q| {
            q.push_bind(now());
        })
        .await
    }

    async fn delete_consumer(&self, key: &ConsumerKey) -> Result<(), StoreError> {
        // The write lock, taken up front, keeps the consumer from gaining a resource meanwhile.
        let mut tx = self.write_tx().await?;
        queries::delete_consumer::<Sqlite, Hyphenated>(&mut tx, key, "").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_resources(&self, batch: Vec<NewResource>) -> Vec<Result<Resource, StoreError>> {
        rules::create_batch(self, batch).await
    }

    async fn get_resource(&self, id: Uuid) -> Result<Resource, StoreError> {
        queries::get_resource::<Sqlite, Hyphenated>(&self.pool, id).await
    }

    async fn get_resources(&self, ids: &[Uuid]) -> Result<Vec<Resource>, StoreError> {
        queries::get_resources::<Sqlite, Hyphenated>(&self.pool, ids).await
    }

    async fn list_resources(
        &self,
        filter: &ResourceFilter,
        page: PageRequest,
    ) -> Result<Page<Resource>, StoreError> {
        queries::fetch_page::<_, ResourceRow, _>(
            &self.pool,
            RESOURCE_COLUMNS,
            "resources",
            |q| push_resource_filter(q, filter),
            page,
        )
        .await
    }

    async fn update_resource(
        &self,
        id: Uuid,
        expected_version: i64,
        spec: ResourceSpec,
    ) -> Result<Updated<Resource>, StoreError> {
        let mut tx = self.write_tx().await?;
        let current: Resource = sqlx::query_as::<_, ResourceRow>(select_resource("WHERE id = ?1"))
            .bind(id.hyphenated())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::ResourceNotFound(id))?
            .into();
        if !rules::update_writes(&current, expected_version, &spec)? {
            return Ok(Updated {
                value: current,
                changed: false,
            });
        }
        let sql = format!(
            "UPDATE resources SET version = version + 1, manifests = ?2, delete_option = ?3, manifest_configs = ?4, \
             labels = ?5, annotations = ?6, updated_at = ?7 WHERE id = ?1 \
             RETURNING {RESOURCE_COLUMNS}"
        );
        let at = now();
        let row: ResourceRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.hyphenated())
            .bind(Json(&spec.manifests))
            .bind(spec.delete_option.as_ref().map(Json))
            .bind(spec.manifest_configs.as_ref().map(Json))
            .bind(Json(&spec.labels))
            .bind(Json(&spec.annotations))
            .bind(&at)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(OUTBOX_UPSERT)
            .bind(id.hyphenated())
            .bind(current.version + 1)
            .bind(PublishAction::Update.code())
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.wakeup.wake();
        Ok(Updated {
            value: row.into(),
            changed: true,
        })
    }

    async fn delete_resource(&self, id: Uuid) -> Result<Resource, StoreError> {
        let mut tx = self.write_tx().await?;
        let at = now();
        let sql = format!(
            "UPDATE resources SET deleted_at = COALESCE(deleted_at, ?2), updated_at = ?2 \
             WHERE id = ?1 RETURNING {RESOURCE_COLUMNS}"
        );
        let row: Option<ResourceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.hyphenated())
            .bind(&at)
            .fetch_optional(&mut *tx)
            .await?;
        let deleting: Resource = row.ok_or(StoreError::ResourceNotFound(id))?.into();
        // Only the first delete queues the row: `deleted_at` is this statement's time only for
        // a row this statement marked.
        let first = deleting
            .deleted_at
            .is_some_and(|deleted_at| super::timestamp(deleted_at) == at);
        if first {
            sqlx::query(OUTBOX_UPSERT)
                .bind(id.hyphenated())
                .bind(deleting.version)
                .bind(PublishAction::Delete.code())
                .bind(&at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if first {
            self.wakeup.wake();
        }
        Ok(deleting)
    }

    async fn resources_of(&self, consumer_name: Option<&str>) -> Result<Vec<Resource>, StoreError> {
        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {RESOURCE_COLUMNS} FROM resources"));
        if let Some(name) = consumer_name {
            q.push(" WHERE consumer_name = ").push_bind(name.to_owned());
        }
        let rows: Vec<ResourceRow> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
