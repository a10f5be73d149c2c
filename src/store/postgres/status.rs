//! [`PgStore`]'s batched status writes ([`crate::store::Store::apply_statuses`]), optimistic first:
//! the batch's rows are read without a lock, decided by [`status_batch::plan`], and written by
//! one `UPDATE` for the stored statuses (and one `DELETE` for removed rows, when there are any)
//! that changes a row only if it still is what the decision saw (version, deletion, last
//! status: a compare and set). Two round trips and no row lock, where a locked transaction took four and wrote a
//! lock record per row. Reports whose row changed in between (an update or delete through the
//! API) are decided again on the new row; after [`OPTIMISTIC_TRIES`], the rest go through the
//! locked path (`SELECT … FOR UPDATE` in id order), which always ends.
//!
//! Must not decide anything: [`status_batch`] does.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Channels, PgStore};
use crate::store::status_batch::{self, BatchPlan, STATUS_ROW_COLUMNS};
use crate::store::{StatusOutcome, StatusReport, Statuses, StoreError};

type StatusRow = status_batch::StatusRow<Uuid>;

/// PostgreSQL's `deadlock_detected`.
const DEADLOCK: &str = "40P01";
/// Optimistic rounds before the reports still in conflict take the locked path.
const OPTIMISTIC_TRIES: usize = 3;

#[async_trait]
impl Statuses for PgStore {
    async fn status_hashes(&self, ids: &[Uuid]) -> Result<Vec<(Uuid, String)>, StoreError> {
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

    async fn apply_statuses(
        &self,
        batch: &[StatusReport],
    ) -> Result<Vec<StatusOutcome>, StoreError> {
        let mut outcomes: Vec<Option<StatusOutcome>> = vec![None; batch.len()];
        let mut todo: Vec<usize> = (0..batch.len()).collect();
        for _ in 0..OPTIMISTIC_TRIES {
            if todo.is_empty() {
                break;
            }
            let items: Vec<&StatusReport> = todo.iter().map(|&i| &batch[i]).collect();
            let (decided, conflicts) = self.optimistic_batch(&items).await?;
            let mut again = Vec::new();
            for (&i, (item, outcome)) in todo.iter().zip(items.iter().zip(decided)) {
                if conflicts.contains(&item.id) {
                    again.push(i);
                } else {
                    outcomes[i] = Some(outcome);
                }
            }
            todo = again;
        }
        if !todo.is_empty() {
            let items: Vec<&StatusReport> = todo.iter().map(|&i| &batch[i]).collect();
            for (&i, outcome) in todo.iter().zip(self.locked_status_batch(&items).await?) {
                outcomes[i] = Some(outcome);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.ok_or_else(|| StoreError::Corrupt("a status item got no outcome".into())))
            .collect()
    }
}

impl PgStore {
    /// One optimistic round: the outcomes of every item, and the ids of the rows that changed
    /// since they were read (nothing was written to those; their items must be decided again).
    async fn optimistic_batch(
        &self,
        batch: &[&StatusReport],
    ) -> Result<(Vec<StatusOutcome>, Vec<Uuid>), StoreError> {
        let ids = sorted_ids(batch);
        // One id (most batches under a steady load) by `=`: its generic plan is reused, where
        // `= ANY($1)` is planned again on every call.
        let rows: Vec<StatusRow> = match ids.as_slice() {
            [id] => {
                let sql = format!("SELECT {STATUS_ROW_COLUMNS} FROM resources WHERE id = $1");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_all(self.pool())
                    .await?
            }
            _ => {
                let sql = format!("SELECT {STATUS_ROW_COLUMNS} FROM resources WHERE id = ANY($1)");
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&ids)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        let plan = status_batch::plan(batch, &rows);
        let seen: HashMap<Uuid, StatusRow> = rows.into_iter().map(|row| (row.id, row)).collect();
        let mut written = self.write_if_unchanged(&plan, &seen).await?;
        written.sort_unstable();
        let conflicts = plan
            .stores
            .iter()
            .map(|s| &s.id)
            .chain(&plan.removes)
            .filter(|id| written.binary_search(id).is_err())
            .copied()
            .collect();
        Ok((plan.outcomes, conflicts))
    }

    /// Writes `plan` in one statement, each row only if it is still as `seen`; returns the ids
    /// of the rows written.
    async fn write_if_unchanged(
        &self,
        plan: &BatchPlan<'_>,
        seen: &HashMap<Uuid, StatusRow>,
    ) -> Result<Vec<Uuid>, StoreError> {
        if plan.writes_nothing() {
            return Ok(Vec::new());
        }
        let seen_of =
            |ids: &[Uuid]| -> Result<SeenColumns, StoreError> {
                let mut columns = SeenColumns::default();
                for id in ids {
                    columns.push(seen.get(id).ok_or_else(|| {
                        StoreError::Corrupt("a planned row was never read".into())
                    })?);
                }
                Ok(columns)
            };
        // The compare and set is in each statement's own WHERE, so that a row changed by a
        // transaction that commits while this one waits for its lock is re-checked as changed.
        // Each row finds its values by its position in the id array (`array_position`) rather
        // than through a join with `UNNEST`: PostgreSQL plans these statements on every call
        // (a custom plan for the batch's few ids beats the generic one), and planning the join
        // with its CTEs took 0.24 ms a call, more than running it.
        let mut written: Vec<Uuid> = Vec::new();
        if let ([status], [seen]) = (
            plan.stores.as_slice(),
            plan.stores.first().and_then(|s| seen.get(&s.id)).as_slice(),
        ) {
            // One row by `=`, for the same reason as the read.
            written = sqlx::query_scalar(
                "UPDATE resources SET status = $2::json, status_hash = $3, status_sequence_id = $4, \
                 status_version = $9, status_updated_at = now() WHERE id = $1 AND version = $5 \
                 AND (deleted_at IS NOT NULL) = $6 AND status_updated_at IS NOT DISTINCT FROM $7 \
                 AND status_sequence_id IS NOT DISTINCT FROM $8 RETURNING id",
            )
            .bind(status.id)
            .bind(status.document.get())
            .bind(status.hash)
            .bind(status.sequence_id)
            .bind(seen.version)
            .bind(seen.deleted_at.is_some())
            .bind(seen.status_updated_at)
            .bind(seen.status_sequence_id.as_deref())
            .bind(status.version)
            .fetch_all(self.pool())
            .await?;
        } else if !plan.stores.is_empty() {
            let (ids, documents, hashes, seqs, versions) = stored_columns(plan);
            let st = seen_of(&ids)?;
            written = sqlx::query_scalar(
                "UPDATE resources r SET status = ($2::text[])[array_position($1, r.id)]::json, \
                 status_hash = ($3::text[])[array_position($1, r.id)], \
                 status_sequence_id = ($4::text[])[array_position($1, r.id)], status_updated_at = now(), \
                 status_version = ($9::bigint[])[array_position($1, r.id)] \
                 WHERE r.id = ANY($1::uuid[]) AND r.version = ($5::bigint[])[array_position($1, r.id)] \
                 AND (r.deleted_at IS NOT NULL) = ($6::bool[])[array_position($1, r.id)] \
                 AND r.status_updated_at IS NOT DISTINCT FROM ($7::timestamptz[])[array_position($1, r.id)] \
                 AND r.status_sequence_id IS NOT DISTINCT FROM ($8::text[])[array_position($1, r.id)] \
                 RETURNING r.id",
            )
            .bind(&ids)
            .bind(&documents)
            .bind(&hashes)
            .bind(&seqs)
            .bind(&st.versions)
            .bind(&st.deleting)
            .bind(&st.updated_at)
            .bind(&st.seqs)
            .bind(&versions)
            .fetch_all(self.pool())
            .await?;
        }
        if !plan.removes.is_empty() {
            let rm = seen_of(&plan.removes)?;
            // The outbox row of a removed resource goes with it (a confirmation can overtake
            // the publisher's mark).
            let removed: Vec<Uuid> = sqlx::query_scalar(
                "WITH removed AS (DELETE FROM resources r WHERE r.id = ANY($1::uuid[]) \
                     AND r.version = ($2::bigint[])[array_position($1, r.id)] \
                     AND (r.deleted_at IS NOT NULL) = ($3::bool[])[array_position($1, r.id)] \
                     AND r.status_updated_at IS NOT DISTINCT FROM ($4::timestamptz[])[array_position($1, r.id)] \
                     AND r.status_sequence_id IS NOT DISTINCT FROM ($5::text[])[array_position($1, r.id)] \
                     RETURNING r.id), \
                 unqueued AS (DELETE FROM publish_outbox WHERE resource_id IN (SELECT id FROM removed)) \
                 SELECT id FROM removed",
            )
            .bind(&plan.removes)
            .bind(&rm.versions)
            .bind(&rm.deleting)
            .bind(&rm.updated_at)
            .bind(&rm.seqs)
            .fetch_all(self.pool())
            .await?;
            written.extend(removed);
        }
        if !written.is_empty() {
            self.committed(Channels::CHANGES);
        }
        Ok(written)
    }

    /// The locked path: one transaction, the batch's rows locked in id order. Should
    /// PostgreSQL still report a deadlock, one row (one lock) per transaction, which cannot.
    async fn locked_status_batch(
        &self,
        batch: &[&StatusReport],
    ) -> Result<Vec<StatusOutcome>, StoreError> {
        match self.try_locked_batch(batch).await {
            Err(StoreError::Database(err))
                if err
                    .as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == DEADLOCK) =>
            {
                let mut outcomes = Vec::with_capacity(batch.len());
                for item in batch.chunks(1) {
                    outcomes.extend(self.try_locked_batch(item).await?);
                }
                Ok(outcomes)
            }
            other => other,
        }
    }

    async fn try_locked_batch(
        &self,
        batch: &[&StatusReport],
    ) -> Result<Vec<StatusOutcome>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ids = sorted_ids(batch);
        let mut tx = self.pool().begin().await?;
        let sql = format!(
            "SELECT {STATUS_ROW_COLUMNS} FROM resources WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        );
        let rows: Vec<StatusRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
        let plan = status_batch::plan(batch, &rows);
        if !plan.stores.is_empty() {
            let (ids, documents, hashes, seqs, versions) = stored_columns(&plan);
            sqlx::query(
                "UPDATE resources r SET status = u.status::json, status_hash = u.hash, \
                 status_sequence_id = u.seq, status_version = u.version, status_updated_at = now() \
                 FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[]) \
                 AS u(id, status, hash, seq, version) WHERE r.id = u.id",
            )
            .bind(&ids)
            .bind(&documents)
            .bind(&hashes)
            .bind(&seqs)
            .bind(&versions)
            .execute(&mut *tx)
            .await?;
        }
        if !plan.removes.is_empty() {
            // With its outbox row, if any (a confirmation can overtake the publisher's mark).
            sqlx::query(
                "WITH removed AS (DELETE FROM resources WHERE id = ANY($1) RETURNING id) \
                 DELETE FROM publish_outbox WHERE resource_id IN (SELECT id FROM removed)",
            )
            .bind(&plan.removes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if !plan.writes_nothing() {
            self.committed(Channels::CHANGES);
        }
        Ok(plan.outcomes)
    }
}

/// The batch's distinct ids, sorted (the order rows are locked in).
fn sorted_ids(batch: &[&StatusReport]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = batch.iter().map(|i| i.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// What the decisions saw of the rows, as column arrays, for the compare and set.
#[derive(Default)]
struct SeenColumns {
    versions: Vec<i64>,
    deleting: Vec<bool>,
    updated_at: Vec<Option<DateTime<Utc>>>,
    seqs: Vec<Option<String>>,
}

impl SeenColumns {
    fn push(&mut self, seen: &StatusRow) {
        self.versions.push(seen.version);
        self.deleting.push(seen.deleted_at.is_some());
        self.updated_at.push(seen.status_updated_at);
        self.seqs.push(seen.status_sequence_id.clone());
    }
}

/// The columns the statuses a plan stores are bound as: ids, documents (JSON text), hashes,
/// sequence ids and the versions reported on, in the plan's order.
#[allow(clippy::type_complexity)]
fn stored_columns<'a>(
    plan: &BatchPlan<'a>,
) -> (
    Vec<Uuid>,
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<i64>,
) {
    let ids = plan.stores.iter().map(|s| s.id).collect();
    let documents = plan.stores.iter().map(|s| s.document.get()).collect();
    let hashes = plan.stores.iter().map(|s| s.hash).collect();
    let seqs = plan.stores.iter().map(|s| s.sequence_id).collect();
    let versions = plan.stores.iter().map(|s| s.version).collect();
    (ids, documents, hashes, seqs, versions)
}
