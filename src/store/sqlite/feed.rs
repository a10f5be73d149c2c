//! [`SqliteStore`]'s change feed (migration 0004): triggers on `resources` write every change
//! into `resource_changes` in the changing transaction, numbered at once. SQLite commits one
//! writer at a time, so numbering order is commit order and there is nothing to sequence.
//!
//! Owns every statement on the feed's tables.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{SqliteStore, timestamp};
use sqlx::types::Json;

use crate::store::{Change, ChangeFeed, ChangeKind, Labels, StoreError};

type ChangeRow = (
    i64,
    String,
    String,
    Option<String>,
    Json<Labels>,
    String,
    String,
);

fn change(row: ChangeRow) -> Result<Change, StoreError> {
    let (position, id, consumer_name, name, Json(labels), kind, at) = row;
    Ok(Change {
        position,
        resource_id: Uuid::parse_str(&id)
            .map_err(|err| StoreError::Corrupt(format!("change {position}: id {id:?}: {err}")))?,
        consumer_name,
        name,
        labels,
        kind: kind.parse::<ChangeKind>().map_err(StoreError::Corrupt)?,
        at: DateTime::parse_from_rfc3339(&at)
            .map_err(|err| StoreError::Corrupt(format!("change {position}: time {at:?}: {err}")))?
            .with_timezone(&Utc),
    })
}

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
        let pruned_through: i64 =
            sqlx::query_scalar("SELECT pruned_through FROM resource_change_state")
                .fetch_one(&mut *tx)
                .await?;
        if after < pruned_through {
            return Err(StoreError::FeedGone {
                after,
                pruned_through,
            });
        }
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "SELECT position, resource_id, consumer_name, name, labels, kind, at FROM resource_changes \
             WHERE position > ?1 ORDER BY position LIMIT ?2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.into_iter().map(change).collect()
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
