//! [`SqliteStore`]'s publish outbox (`publish_outbox`, migration 0002): the same design as
//! PostgreSQL's (`store/postgres/outbox.rs`): a narrow row per resource whose current state
//! waits for publication, written in the transaction of the change, read oldest first, deleted
//! only for a published state at least as new. Owns every statement on `publish_outbox`.

use async_trait::async_trait;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, now, timestamp};
use crate::store::rows::{self, RESOURCE_COLUMNS};
use crate::store::{Outbox, Pending, Requeued, StoreError};

type PendingRow = rows::PendingRow<Hyphenated>;

/// Queues a new resource: binds id, version, action ([`crate::store::PublishAction::code`]), queued_at.
pub(super) const OUTBOX_INSERT: &str =
    "INSERT INTO publish_outbox (resource_id, version, action, queued_at) VALUES (?1, ?2, ?3, ?4)";

/// Queues a changed resource: one already queued takes the new state and moves to the back;
/// an update over a create not yet published stays a create ([`crate::store::PublishAction`] says why).
/// Binds id, version, action, queued_at.
pub(super) const OUTBOX_UPSERT: &str = "INSERT INTO publish_outbox (resource_id, version, action, queued_at) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (resource_id) DO UPDATE SET version = excluded.version, \
     action = CASE WHEN publish_outbox.action = 1 AND excluded.action = 2 THEN 1 ELSE excluded.action END, \
     queued_at = excluded.queued_at";

#[async_trait]
impl Outbox for SqliteStore {
    async fn pending_publications(&self, limit: i64) -> Result<Vec<Pending>, StoreError> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS}, o.action FROM resources \
             JOIN (SELECT resource_id, action, queued_at FROM publish_outbox ORDER BY queued_at LIMIT ?1) o \
             ON id = o.resource_id ORDER BY o.queued_at"
        );
        let rows: Vec<PendingRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// Deletes the outbox rows of what was published (a row describing the published state or
    /// an older one; a delete is newer than any live state of the same version), then §4.8
    /// step 2 for the published deletes.
    async fn mark_published(&self, published: &[(Uuid, i64, bool)]) -> Result<(), StoreError> {
        if published.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for &(id, version, deleting) in published {
            sqlx::query(
                "DELETE FROM publish_outbox WHERE resource_id = ?1 AND version <= ?2 \
                 AND (?3 OR action <> 3)",
            )
            .bind(id.hyphenated())
            .bind(version)
            .bind(deleting)
            .execute(&mut *tx)
            .await?;
            // A newer state queued while a create was in flight is an update now.
            sqlx::query(
                "UPDATE publish_outbox SET action = 2 \
                 WHERE resource_id = ?1 AND version > ?2 AND action = 1",
            )
            .bind(id.hyphenated())
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if !deleting {
                continue;
            }
            // §4.8 step 2: a delete for a resource no agent ever reported on completes once sent.
            sqlx::query(
                "DELETE FROM resources WHERE id = ?1 AND deleted_at IS NOT NULL AND status IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM publish_outbox o WHERE o.resource_id = resources.id)",
            )
            .bind(id.hyphenated())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Queues again every live, never reported resource last changed before `changed_before`
    /// that is not queued; returns them. Queued as creates: no agent has shown it holds them.
    async fn requeue_unreported(
        &self,
        changed_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Requeued>, StoreError> {
        // The consumer comes from the resource (RETURNING sees only the outbox row); one
        // transaction, so both statements see the same rows.
        let mut tx = self.write_tx().await?;
        let at = now();
        let queued = sqlx::query(
            "INSERT INTO publish_outbox (resource_id, version, action, queued_at) \
             SELECT r.id, r.version, 1, ?2 FROM resources r \
             WHERE r.deleted_at IS NULL AND r.status IS NULL AND r.updated_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM publish_outbox o WHERE o.resource_id = r.id) \
             ORDER BY r.id ON CONFLICT (resource_id) DO NOTHING",
        )
        .bind(timestamp(changed_before))
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        if queued.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<(Hyphenated, String)> = sqlx::query_as(
            "SELECT r.id, r.consumer_name FROM resources r JOIN publish_outbox o \
             ON o.resource_id = r.id WHERE o.queued_at = ?1 AND r.status IS NULL ORDER BY r.id",
        )
        .bind(&at)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        self.wakeup.wake();
        Ok(rows
            .into_iter()
            .map(|(id, consumer_name)| Requeued {
                id: id.into(),
                consumer_name,
            })
            .collect())
    }

    async fn pending_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM publish_outbox")
            .fetch_one(&self.pool)
            .await?)
    }
}
