//! [`PgStore`]'s change feed (migration 0007): triggers on `resources` append every change to
//! `resource_change_inbox` in the changing transaction; [`ChangeFeed::sequence_changes`] moves
//! committed inbox rows into `resource_changes` with their positions.
//!
//! Owns every statement on the feed's tables. Positions follow commit order because the
//! sequencer numbers only committed rows and runs one at a time (it locks the single
//! `resource_change_state` row first, on every replica alike): a reader that saw position p
//! can never later find a smaller one. Writers never wait for the sequencer, nor lock a row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Postgres;
use uuid::Uuid;

use super::PgStore;
use crate::store::queries;
use crate::store::{Change, ChangeFeed, StoreError};

/// The sequencer's move, run after it holds the state row: numbers the inbox in its write
/// order after the last position given out, and records the new last position.
/// The last position is a scalar subquery rather than a join: the planner has no statistics
/// for the CTE, and a join's estimate grows large enough to pick costly plans.
const SEQUENCE: &str = "WITH moved AS (DELETE FROM resource_change_inbox RETURNING id, resource_id, consumer_name, name, labels, kind, at), \
     numbered AS (INSERT INTO resource_changes (position, resource_id, consumer_name, name, labels, kind, at) \
         SELECT (SELECT last_position FROM resource_change_state) + row_number() OVER (ORDER BY m.id), m.resource_id, m.consumer_name, m.name, m.labels, m.kind, m.at \
         FROM moved m RETURNING 1) \
     UPDATE resource_change_state SET last_position = last_position + (SELECT count(*) FROM numbered) \
     RETURNING (SELECT count(*) FROM numbered)";

#[async_trait]
impl ChangeFeed for PgStore {
    fn changes_woken(&self) -> &crate::store::Wakeup {
        &self.changes
    }

    async fn sequence_changes(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        // The lock first, in its own statement: the move's snapshot then sees the last
        // position the previous sequencer committed.
        sqlx::query("SELECT 1 FROM resource_change_state FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        let moved: i64 = sqlx::query_scalar(SEQUENCE).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(u64::try_from(moved).unwrap_or_default())
    }

    async fn feed_head(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT last_position FROM resource_change_state")
                .fetch_one(self.pool())
                .await?,
        )
    }

    async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        // One snapshot for the horizon and the rows (the read is shared with SQLite).
        let mut tx = self.pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let changes = queries::changes_after::<Postgres, Uuid>(&mut tx, after, limit).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // Everything up to the newest old change goes, so the kept feed has no holes and
        // `pruned_through` alone says what is missing.
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT 1 FROM resource_change_state FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query(
            "WITH cut AS (SELECT max(position) AS through FROM resource_changes WHERE at < $1), \
             gone AS (DELETE FROM resource_changes WHERE position <= (SELECT through FROM cut) RETURNING 1) \
             UPDATE resource_change_state SET pruned_through = GREATEST(pruned_through, (SELECT through FROM cut)) \
             WHERE (SELECT through FROM cut) IS NOT NULL RETURNING (SELECT count(*) FROM gone)",
        )
        .bind(before)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match removed {
            Some(row) => u64::try_from(sqlx::Row::try_get::<i64, _>(&row, 0)?).unwrap_or_default(),
            None => 0,
        })
    }
}
