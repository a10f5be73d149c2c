//! The [`Store`] operations in PostgreSQL's SQL, over [`PgStore`]'s pool.

use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::json::JsonText;
use super::outbox::OUTBOX_UPSERT;
use super::{Channels, PgJson, PgStore};
use crate::store::rows::{self, CONSUMER_COLUMNS, RESOURCE_COLUMNS};
use crate::store::search::push_search;
use crate::store::*;
use crate::store::{queries, rules};

type ResourceRow = rows::ResourceRow<Uuid>;
type ConsumerRow = rows::ConsumerRow<Uuid>;

impl PgStore {
    fn push_resource_filter(q: &mut QueryBuilder<Postgres>, filter: &ResourceFilter) {
        q.push(" WHERE TRUE");
        if let Some(consumer) = &filter.consumer_name {
            q.push(" AND consumer_name = ").push_bind(consumer.clone());
        }
        if let Some(name) = &filter.name {
            q.push(" AND name = ").push_bind(name.clone());
        }
        if !filter.labels.is_empty() {
            q.push(" AND labels @> ")
                .push_bind(Json(filter.labels.clone()));
        }
        queries::push_status_filter(q, filter);
        if let Some(source) = &filter.source {
            queries::push_source_filter(q, source);
        }
        if let Some(search) = &filter.search {
            q.push(" AND ");
            push_search::<_, Uuid, PgJson, _>(q, search);
        }
        queries::push_consumer_labels::<_, PgJson>(q, &filter.consumer_labels);
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn wakeup(&self) -> &Wakeup {
        &self.wakeup
    }

    async fn relay_wakeups(&self, stop: CancellationToken) {
        tokio::join!(
            crate::store::wakeup::relay_notifications(
                self.pool.clone(),
                &self.wakeup,
                &self.changes,
                stop.clone(),
            ),
            crate::store::wakeup::announce_commits(self.pool.clone(), &self.announcer, stop),
        );
    }

    async fn create_consumer(&self, new: NewConsumer) -> Result<Consumer, StoreError> {
        let row: ConsumerRow = sqlx::query_as(
            sqlx::AssertSqlSafe(format!(
                "INSERT INTO consumers (id, name, labels) VALUES ($1, $2, $3) RETURNING {CONSUMER_COLUMNS}"
            )),
        )
        .bind(Uuid::new_v4())
        .bind(new.name.as_str())
        .bind(Json(&new.labels))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| rules::consumer_exists_or(e, new.name.as_str()))?;
        Ok(row.into())
    }

    async fn get_consumer(&self, key: &ConsumerKey) -> Result<Consumer, StoreError> {
        queries::get_consumer::<Postgres, Uuid>(&self.pool, key).await
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
            |q| queries::push_consumer_filter::<_, Uuid, PgJson>(q, filter),
            page,
        )
        .await
    }

    async fn update_consumer_labels(
        &self,
        key: &ConsumerKey,
        labels: Labels,
    ) -> Result<Consumer, StoreError> {
        queries::update_consumer_labels::<Postgres, Uuid>(&self.pool, key, labels, |q| {
            q.push("now()");
        })
        .await
    }

    async fn delete_consumer(&self, key: &ConsumerKey) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        queries::delete_consumer::<Postgres, Uuid>(&mut tx, key, " FOR UPDATE").await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_resources(&self, batch: Vec<NewResource>) -> Vec<Result<Resource, StoreError>> {
        rules::create_batch(self, batch).await
    }

    async fn get_resource(&self, id: Uuid) -> Result<Resource, StoreError> {
        queries::get_resource::<Postgres, Uuid>(&self.pool, id).await
    }

    async fn get_resources(&self, ids: &[Uuid]) -> Result<Vec<Resource>, StoreError> {
        queries::get_resources::<Postgres, Uuid>(&self.pool, ids).await
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
            |q| Self::push_resource_filter(q, filter),
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
        let mut tx = self.pool.begin().await?;
        let sql = format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE id = $1 FOR UPDATE");
        let current: Resource = sqlx::query_as::<_, ResourceRow>(sqlx::AssertSqlSafe(sql))
            .bind(id)
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
            "WITH updated AS (UPDATE resources SET version = version + 1, manifests = $2, delete_option = $3, \
             manifest_configs = $4, labels = $5, annotations = $6, updated_at = now() WHERE id = $1 \
             RETURNING {RESOURCE_COLUMNS}), \
             changed AS (SELECT id, version, 2::smallint AS action FROM updated), \
             queued AS ({OUTBOX_UPSERT}) \
             SELECT {RESOURCE_COLUMNS} FROM updated"
        );
        let row: ResourceRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(JsonText(&spec.manifests))
            .bind(spec.delete_option.as_ref().map(JsonText))
            .bind(spec.manifest_configs.as_ref().map(JsonText))
            .bind(Json(&spec.labels))
            .bind(Json(&spec.annotations))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        self.committed(Channels::BOTH);
        Ok(Updated {
            value: row.into(),
            changed: true,
        })
    }

    async fn delete_resource(&self, id: Uuid) -> Result<Resource, StoreError> {
        // Only the first delete queues the row: `deleted_at = now()` (the transaction's time)
        // holds for a row this statement marked, not for one an earlier transaction did.
        let sql = format!(
            "WITH updated AS (UPDATE resources SET deleted_at = COALESCE(deleted_at, now()), updated_at = now() \
             WHERE id = $1 RETURNING {RESOURCE_COLUMNS}), \
             changed AS (SELECT id, version, 3::smallint AS action FROM updated WHERE deleted_at = now()), \
             queued AS ({OUTBOX_UPSERT}) \
             SELECT {RESOURCE_COLUMNS} FROM updated"
        );
        let row: Option<ResourceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let row = row.ok_or(StoreError::ResourceNotFound(id))?;
        self.committed(Channels::BOTH);
        Ok(row.into())
    }

    async fn resources_of(&self, consumer_name: Option<&str>) -> Result<Vec<Resource>, StoreError> {
        let mut q =
            QueryBuilder::<Postgres>::new(format!("SELECT {RESOURCE_COLUMNS} FROM resources"));
        if let Some(name) = consumer_name {
            q.push(" WHERE consumer_name = ").push_bind(name.to_owned());
        }
        let rows: Vec<ResourceRow> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
