//! Creating resources on PostgreSQL: one row per statement, or a batch of rows in one
//! multi-row `INSERT ... SELECT FROM UNNEST(...)` (one statement, one commit). Documents are
//! bound as their text and cast to `json` by the server; the `RETURNING` clause reads only the
//! generated fields, the rest of the answer is the request's own spec. The same statement
//! queues the new rows in the publish outbox ([`super::outbox`]).

use async_trait::async_trait;
use sqlx::types::Json;
use uuid::Uuid;

use std::sync::LazyLock;

use super::json::JsonText;
use super::outbox::OUTBOX_INSERT;
use super::{Channels, PgStore};
use crate::store::rows::{self, CREATED_COLUMNS, name_taken_or};
use crate::store::rules::CreateRows;
use crate::store::{Labels, NewResource, RawJson, Resource, StoreError};

type CreatedRow = rows::CreatedRow<Uuid>;
type BatchRows = rows::BatchRows<Uuid>;

/// `insert` (an `INSERT INTO resources` without `RETURNING`) as one statement that also queues
/// the inserted rows for publication, returning their [`CREATED_COLUMNS`].
fn queued(insert: &str) -> String {
    format!(
        "WITH inserted AS ({insert} RETURNING {CREATED_COLUMNS}), \
         changed AS (SELECT id, 1::bigint AS version, 1::smallint AS action FROM inserted), \
         queued AS ({OUTBOX_INSERT}) \
         SELECT {CREATED_COLUMNS} FROM inserted"
    )
}

/// One resource: [`PgStore::create_one`]'s statement, built once.
static CREATE_ONE: LazyLock<String> = LazyLock::new(|| {
    queued(
        "INSERT INTO resources (id, consumer_id, consumer_name, name, source, version, manifests, delete_option, \
         manifest_configs, labels, annotations) \
         SELECT $1, c.id, c.name, $3, $9, 1, $4, $5, $6, $7, $8 FROM consumers c WHERE c.name = $2",
    )
});

/// A batch of resources as arrays: [`PgStore::insert_batch`]'s statement, built once.
static CREATE_BATCH: LazyLock<String> = LazyLock::new(|| {
    queued(
        "INSERT INTO resources (id, consumer_id, consumer_name, name, source, version, manifests, delete_option, \
         manifest_configs, labels, annotations) \
         SELECT v.id, c.id, c.name, v.name, v.source, 1, v.manifests::json, v.delete_option::json, \
         v.manifest_configs::json, v.labels::jsonb, v.annotations::jsonb \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
         $9::text[]) \
         AS v(id, consumer_name, name, manifests, delete_option, manifest_configs, labels, annotations, source) \
         JOIN consumers c ON c.name = v.consumer_name",
    )
});

#[async_trait]
impl CreateRows for PgStore {
    type Id = Uuid;

    async fn create_one(&self, new: NewResource) -> Result<Resource, StoreError> {
        let spec = &new.spec;
        let row: Option<CreatedRow> = sqlx::query_as(sqlx::AssertSqlSafe(CREATE_ONE.as_str()))
            .bind(new.id.unwrap_or_else(Uuid::new_v4))
            .bind(&new.consumer_name)
            .bind(&new.name)
            .bind(JsonText(&spec.manifests))
            .bind(spec.delete_option.as_ref().map(JsonText))
            .bind(spec.manifest_configs.as_ref().map(JsonText))
            .bind(Json(&spec.labels))
            .bind(Json(&spec.annotations))
            .bind(&new.source)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| name_taken_or(e, &new))?;
        match row {
            Some(row) => {
                self.committed(Channels::BOTH);
                Ok(row.into_resource(new))
            }
            None => Err(StoreError::ConsumerNotFound(new.consumer_name)),
        }
    }

    /// In one statement (one commit); the ids not given are assigned here.
    async fn insert_batch(&self, batch: &[NewResource]) -> Result<BatchRows, StoreError> {
        let ids: Vec<Uuid> = batch
            .iter()
            .map(|n| n.id.unwrap_or_else(Uuid::new_v4))
            .collect();
        let text =
            |v: &Labels| serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()));
        let mut labels = Vec::with_capacity(batch.len());
        let mut annotations = Vec::with_capacity(batch.len());
        for new in batch {
            labels.push(text(&new.spec.labels)?);
            annotations.push(text(&new.spec.annotations)?);
        }
        fn raw(r: &RawJson) -> &str {
            r.get()
        }
        let rows: Vec<CreatedRow> = sqlx::query_as(sqlx::AssertSqlSafe(CREATE_BATCH.as_str()))
            .bind(&ids)
            .bind(
                batch
                    .iter()
                    .map(|n| n.consumer_name.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|n| n.name.as_deref()).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|n| raw(&n.spec.manifests))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|n| n.spec.delete_option.as_ref().map(raw))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|n| n.spec.manifest_configs.as_ref().map(raw))
                    .collect::<Vec<_>>(),
            )
            .bind(&labels)
            .bind(&annotations)
            .bind(
                batch
                    .iter()
                    .map(|n| n.source.as_deref())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(self.pool())
            .await?;
        if !rows.is_empty() {
            self.committed(Channels::BOTH);
        }
        let mut by_id: std::collections::HashMap<Uuid, CreatedRow> =
            rows.into_iter().map(|row| (row.id, row)).collect();
        Ok(ids.into_iter().map(|id| by_id.remove(&id)).collect())
    }
}
