//! [`SqliteStore`]'s change feed (migration 0004): triggers on `resources` write every change
//! into `resource_changes` in the changing transaction, numbered at once. SQLite commits one
//! writer at a time, so numbering order is commit order and there is nothing to sequence.
//!
//! Owns every statement on the feed's tables.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Sqlite;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, timestamp};
use crate::store::queries;
use crate::store::{Change, ChangeFeed, StoreError};

#[async_trait]
impl ChangeFeed for SqliteStore {
    fn changes_woken(&self) -> &crate::store::Wakeup {
        &self.changes
    }

    async fn sequence_changes(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn feed_head(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT max(COALESCE((SELECT max(position) FROM resource_changes), 0), pruned_through) \
             FROM resource_change_state",
        )
        .fetch_one(self.pool())
        .await?)
    }

    async fn changes_after(&self, after: i64, limit: i64) -> Result<Vec<Change>, StoreError> {
        // One read transaction: a prune between the two reads cannot hide a gap.
        let mut tx = self.pool().begin().await?;
        let changes = queries::changes_after::<Sqlite, Hyphenated>(&mut tx, after, limit).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let through: Option<i64> =
            sqlx::query_scalar("SELECT max(position) FROM resource_changes WHERE at < ?1")
                .bind(timestamp(before))
                .fetch_one(&mut *tx)
                .await?;
        let Some(through) = through else {
            return Ok(0);
        };
        let removed = sqlx::query("DELETE FROM resource_changes WHERE position <= ?1")
            .bind(through)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE resource_change_state SET pruned_through = max(pruned_through, ?1)")
            .bind(through)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed)
    }
}
