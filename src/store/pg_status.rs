//! [`PgStore`]'s batched status writes ([`super::Store::apply_statuses`]): one transaction per
//! batch; the batch's rows locked in id order with one `SELECT … FOR UPDATE`, decided by
//! [`status_batch::plan`], then one `UPDATE … FROM UNNEST` for the stored statuses and one
//! `DELETE` for the removed rows. Must not decide anything: the batch's closures do.

use uuid::Uuid;

use super::postgres::PgStore;
use super::status_batch::{self, STATUS_TARGET_COLUMNS, StatusItem, StatusTargetRow};
use super::{StatusOutcome, StatusTarget, StoreError};

/// PostgreSQL's `deadlock_detected`.
const DEADLOCK: &str = "40P01";

impl PgStore {
    pub(super) async fn apply_status_batch(
        &self,
        batch: &[StatusItem<'_>],
    ) -> Result<Vec<StatusOutcome>, StoreError> {
        match self.try_status_batch(batch).await {
            // Rows are locked in id order, as every statement that locks several resource rows
            // does (`mark_published`, `requeue_unreported`); should PostgreSQL still report a
            // deadlock, the batch goes one row (one lock) per transaction, which cannot.
            Err(StoreError::Database(err))
                if err
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == DEADLOCK) =>
            {
                let mut outcomes = Vec::with_capacity(batch.len());
                for item in batch.chunks(1) {
                    outcomes.extend(self.try_status_batch(item).await?);
                }
                Ok(outcomes)
            }
            other => other,
        }
    }

    pub(super) async fn read_status_hashes(
        &self,
        ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT id, status_hash FROM resources WHERE id = ANY($1) AND status_hash IS NOT NULL",
        )
        .bind(ids)
        .fetch_all(self.pool())
        .await?)
    }

    async fn try_status_batch(
        &self,
        batch: &[StatusItem<'_>],
    ) -> Result<Vec<StatusOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<Uuid> = batch.iter().map(|i| i.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut tx = self.pool().begin().await?;
        let sql = format!(
            "SELECT {STATUS_TARGET_COLUMNS} FROM resources WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        );
        let rows: Vec<StatusTargetRow<Uuid>> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
        let plan = status_batch::plan(batch, rows.into_iter().map(StatusTarget::from).collect());
        if !plan.stores.is_empty() {
            let mut documents = Vec::with_capacity(plan.stores.len());
            for s in &plan.stores {
                documents.push(
                    serde_json::to_string(&s.status)
                        .map_err(|e| StoreError::Corrupt(format!("status: {e}")))?,
                );
            }
            let hashes: Vec<&str> = plan.stores.iter().map(|s| s.hash.as_str()).collect();
            let seqs: Vec<&str> = plan.stores.iter().map(|s| s.sequence_id.as_str()).collect();
            sqlx::query(
                "UPDATE resources r SET status = u.status::json, status_hash = u.hash, \
                 status_sequence_id = u.seq, status_updated_at = now() \
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, status, hash, seq) \
                 WHERE r.id = u.id",
            )
            .bind(&plan.store_ids)
            .bind(&documents)
            .bind(&hashes)
            .bind(&seqs)
            .execute(&mut *tx)
            .await?;
        }
        if !plan.removes.is_empty() {
            sqlx::query("DELETE FROM resources WHERE id = ANY($1)")
                .bind(&plan.removes)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(plan.outcomes)
    }
}
