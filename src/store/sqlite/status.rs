//! [`SqliteStore`]'s batched status writes ([`crate::store::Store::apply_statuses`]): one
//! `BEGIN IMMEDIATE` transaction per batch (SQLite's single writer is the row lock), the
//! batch's rows read with one `SELECT … WHERE id IN (…)`, decided by
//! [`status_batch::plan`], then a statement per written row (one commit, one fsync).

use async_trait::async_trait;
use sqlx::QueryBuilder;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, now};
use crate::store::status_batch::{self, STATUS_ROW_COLUMNS, StatusRow};
use crate::store::{StatusOutcome, StatusReport, Statuses, StoreError};

#[async_trait]
impl Statuses for SqliteStore {
    async fn status_hashes(
        &self,
        ids: &[uuid::Uuid],
    ) -> Result<Vec<(uuid::Uuid, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new(
            "SELECT id, status_hash FROM resources WHERE status_hash IS NOT NULL AND id IN (",
        );
        let mut listed = q.separated(", ");
        for id in ids {
            listed.push_bind(id.hyphenated());
        }
        q.push(")");
        let rows: Vec<(Hyphenated, String)> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(id, hash)| (id.into(), hash))
            .collect())
    }

    async fn apply_statuses(
        &self,
        batch: &[StatusReport],
    ) -> Result<Vec<StatusOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let mut q = QueryBuilder::new(format!(
            "SELECT {STATUS_ROW_COLUMNS} FROM resources WHERE id IN ("
        ));
        let mut ids = q.separated(", ");
        for item in batch {
            ids.push_bind(item.id.hyphenated());
        }
        q.push(")");
        let rows: Vec<StatusRow<Hyphenated>> = q.build_query_as().fetch_all(&mut *tx).await?;
        let reports: Vec<&StatusReport> = batch.iter().collect();
        let plan = status_batch::plan(&reports, &rows);
        let at = now();
        for status in &plan.stores {
            sqlx::query(
                "UPDATE resources SET status = ?2, status_hash = ?3, status_sequence_id = ?4, \
                 status_updated_at = ?5, status_version = ?6 WHERE id = ?1",
            )
            .bind(status.id.hyphenated())
            .bind(status.document.get())
            .bind(status.hash)
            .bind(status.sequence_id)
            .bind(&at)
            .bind(status.version)
            .execute(&mut *tx)
            .await?;
        }
        for id in &plan.removes {
            // With its outbox row, if any (a confirmation can overtake the publisher's mark).
            for sql in [
                "DELETE FROM resources WHERE id = ?1",
                "DELETE FROM publish_outbox WHERE resource_id = ?1",
            ] {
                sqlx::query(sql)
                    .bind(id.hyphenated())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(plan.outcomes)
    }
}
