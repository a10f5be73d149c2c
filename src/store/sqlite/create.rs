//! Creating resources on SQLite: one row in its own transaction, or a batch of rows in one
//! `BEGIN IMMEDIATE` transaction through the same prepared statements, so a batch costs one
//! commit (one fsync with `synchronous=FULL`) instead of one per row. Each row is queued in
//! the publish outbox in the same transaction.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use uuid::fmt::Hyphenated;

use super::outbox::OUTBOX_INSERT;
use super::{SqliteStore, now};
use crate::store::rows::{self, CREATED_COLUMNS, name_taken_or};
use crate::store::rules::CreateRows;
use crate::store::{NewResource, PublishAction, Resource, StoreError};

type CreatedRow = rows::CreatedRow<Hyphenated>;

/// Inserts `new` and its outbox row if its consumer exists (`None` otherwise); its documents
/// are bound as text.
async fn insert(
    tx: &mut SqliteConnection,
    new: &NewResource,
) -> Result<Option<CreatedRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO resources (id, consumer_id, consumer_name, name, source, version, manifests, delete_option, \
         manifest_configs, labels, annotations, created_at, updated_at) \
         SELECT ?1, c.id, c.name, ?3, ?10, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?9 FROM consumers c WHERE c.name = ?2 \
         RETURNING {CREATED_COLUMNS}"
    );
    let spec = &new.spec;
    let at = now();
    let row: Option<CreatedRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(new.id.unwrap_or_else(uuid::Uuid::new_v4).hyphenated())
        .bind(&new.consumer_name)
        .bind(&new.name)
        .bind(spec.manifests.get())
        .bind(spec.delete_option.as_ref().map(|r| r.get()))
        .bind(spec.manifest_configs.as_ref().map(|r| r.get()))
        .bind(sqlx::types::Json(&spec.labels))
        .bind(sqlx::types::Json(&spec.annotations))
        .bind(&at)
        .bind(&new.source)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = &row {
        sqlx::query(OUTBOX_INSERT)
            .bind(row.id)
            .bind(1_i64)
            .bind(PublishAction::Create.code())
            .bind(&at)
            .execute(&mut *tx)
            .await?;
    }
    Ok(row)
}

#[async_trait]
impl CreateRows for SqliteStore {
    type Id = Hyphenated;

    async fn create_one(&self, new: NewResource) -> Result<Resource, StoreError> {
        let mut tx = self.write_tx().await?;
        match insert(&mut tx, &new)
            .await
            .map_err(|e| name_taken_or(e, &new))?
        {
            Some(row) => {
                tx.commit().await?;
                self.wakeup.wake();
                Ok(row.into_resource(new))
            }
            None => Err(StoreError::ConsumerNotFound(new.consumer_name)),
        }
    }

    /// In one transaction (one commit).
    async fn insert_batch(
        &self,
        batch: &[NewResource],
    ) -> Result<rows::BatchRows<Hyphenated>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut rows = Vec::with_capacity(batch.len());
        for new in batch {
            rows.push(insert(&mut tx, new).await?);
        }
        tx.commit().await?;
        self.wakeup.wake();
        Ok(rows)
    }
}
