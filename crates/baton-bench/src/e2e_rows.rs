//! What one applied create costs PostgreSQL, for `limit --rows e2e`: the hub's create
//! statement (the `resources` row and its `publish_outbox` row in one statement), then its
//! status writer's work on the same row (the read of the row, then the compare-and-set
//! `UPDATE` with the status a simulated agent reports), so every trigger of the migrated
//! schema fires as in production.
//!
//! The statements mirror the hub's, which are private to its store: `CREATE_ONE` of
//! `src/store/postgres/create.rs` (with `OUTBOX_INSERT` of `outbox.rs` and `CREATED_COLUMNS`
//! of `store/rows.rs`) and the one-row read and `UPDATE` of `src/store/postgres/status.rs`
//! (`STATUS_ROW_COLUMNS` of `store/status_batch.rs`). The one difference: the documents the
//! hub binds as `json` parameters are bound here as text and cast to `json` (the same parse
//! on the server). A change to those files must be copied here.
//! Must not time anything: `limit` does.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use baton::agent::cluster::ObjectKey;
use baton::agent::report::{ManifestOutcome, work_status};
use baton::work::model::ManifestWork;
use baton::work::sequence::SequenceGenerator;
use baton::work::status_hash::status_hash;

/// The consumer every row belongs to.
const CONSUMER: &str = "limit-1";

/// `src/store/postgres/create.rs` `CREATE_ONE`.
const CREATE_ONE: &str = "WITH inserted AS (INSERT INTO resources (id, consumer_id, consumer_name, \
     name, source, version, manifests, delete_option, manifest_configs, labels, annotations) \
     SELECT $1, c.id, c.name, $3, $9, 1, $4::json, $5::json, $6::json, $7, $8 FROM consumers c \
     WHERE c.name = $2 RETURNING id, consumer_id, created_at, updated_at), \
     changed AS (SELECT id, 1::bigint AS version, 1::smallint AS action FROM inserted), \
     queued AS (INSERT INTO publish_outbox (resource_id, version, action) \
     SELECT id, version, action FROM changed) \
     SELECT id, consumer_id, created_at, updated_at FROM inserted";

/// `src/store/postgres/status.rs`: the optimistic round's read of one row.
const STATUS_READ: &str = "SELECT id, consumer_name, version, deleted_at, status_hash, \
     status_sequence_id, status_updated_at FROM resources WHERE id = $1";

/// `src/store/postgres/status.rs`: the one-row compare and set.
const STATUS_WRITE: &str = "UPDATE resources SET status = $2::json, status_hash = $3, \
     status_sequence_id = $4, status_version = $9, status_updated_at = now() WHERE id = $1 \
     AND version = $5 AND (deleted_at IS NOT NULL) = $6 AND status_updated_at IS NOT DISTINCT \
     FROM $7 AND status_sequence_id IS NOT DISTINCT FROM $8 RETURNING id";

/// The row as the status writer reads it before deciding.
type StatusRow = (
    Uuid,
    String,
    i64,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// One applied create's documents, ready to bind.
pub struct AppliedCreate {
    manifests: String,
    labels: Value,
    annotations: Value,
    status: String,
    status_hash: String,
    sequence: SequenceGenerator,
}

impl AppliedCreate {
    /// From a create request body (`manifests`, `labels`); its consumer is inserted into the
    /// migrated database of `pool`.
    pub async fn prepare(pool: &PgPool, body: &Value) -> anyhow::Result<Self> {
        sqlx::query("INSERT INTO consumers (id, name) VALUES ($1, $2)")
            .bind(Uuid::new_v4())
            .bind(CONSUMER)
            .execute(pool)
            .await?;
        let (status, status_hash) = agent_status(&body["manifests"])?;
        Ok(Self {
            manifests: body["manifests"].to_string(),
            labels: body["labels"].clone(),
            annotations: Value::Object(serde_json::Map::new()),
            status,
            status_hash,
            sequence: SequenceGenerator::new(),
        })
    }

    /// The manifests' size in bytes.
    pub fn row_bytes(&self) -> usize {
        self.manifests.len()
    }

    /// The status document's size in bytes.
    pub fn status_bytes(&self) -> usize {
        self.status.len()
    }

    /// The rows the condition trigger keeps (`resource_conditions`), per applied create.
    pub async fn conditions_per_create(pool: &PgPool) -> anyhow::Result<f64> {
        let (conditions, resources): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM resource_conditions), (SELECT count(*) FROM resources)",
        )
        .fetch_one(pool)
        .await?;
        Ok(conditions as f64 / resources.max(1) as f64)
    }

    /// One create, then its status, each committed as the hub commits it.
    pub async fn run(&self, pool: &PgPool) -> anyhow::Result<()> {
        let id = Uuid::new_v4();
        let created: Option<(Uuid, Uuid, DateTime<Utc>, DateTime<Utc>)> =
            sqlx::query_as(CREATE_ONE)
                .bind(id)
                .bind(CONSUMER)
                .bind(None::<&str>)
                .bind(&self.manifests)
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(Json(&self.labels))
                .bind(Json(&self.annotations))
                .bind(None::<&str>)
                .fetch_optional(pool)
                .await
                .context("the create statement")?;
        created.context("the create found no consumer")?;
        let seen: StatusRow = sqlx::query_as(STATUS_READ)
            .bind(id)
            .fetch_one(pool)
            .await
            .context("the status writer's read")?;
        let written: Vec<Uuid> = sqlx::query_scalar(STATUS_WRITE)
            .bind(id)
            .bind(&self.status)
            .bind(&self.status_hash)
            .bind(self.sequence.next_id().to_string())
            .bind(seen.2)
            .bind(seen.3.is_some())
            .bind(seen.6)
            .bind(seen.5)
            .bind(1_i64)
            .fetch_all(pool)
            .await
            .context("the status write")?;
        anyhow::ensure!(written == [id], "the status write changed no row");
        Ok(())
    }
}

/// The status the reference agent reports after applying `manifests` at generation 1 (work
/// conditions Applied and Available, each manifest's own pair), as the hub stores it: its
/// JSON text and §6.4 hash.
fn agent_status(manifests: &Value) -> anyhow::Result<(String, String)> {
    let outcomes = manifests
        .as_array()
        .context("the body has no manifests array")?
        .iter()
        .map(|m| {
            Ok(ManifestOutcome {
                key: ObjectKey::of(m).context("a manifest without kind or name")?,
                manifest: m.clone(),
                error: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut work = ManifestWork::default();
    work.metadata.generation = 1;
    work.status = work_status(&work, &outcomes);
    let document = serde_json::to_value(&work.status)?.to_string();
    Ok((document, status_hash(&work.status)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_status_has_the_work_and_manifest_conditions() {
        let body = crate::payload::create_body(crate::payload::Size::Small, CONSUMER, 1);
        let (document, hash) = agent_status(&body["manifests"]).unwrap();
        let status: Value = serde_json::from_str(&document).unwrap();
        let types = |conditions: &Value| -> Vec<String> {
            conditions
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(types(&status["conditions"]), ["Applied", "Available"]);
        let manifest = &status["resourceStatus"]["manifests"][0];
        assert_eq!(types(&manifest["conditions"]), ["Applied", "Available"]);
        assert!(!hash.is_empty());
    }
}
