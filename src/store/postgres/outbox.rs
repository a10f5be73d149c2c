//! [`PgStore`]'s publish outbox (`publish_outbox`, migration 0003): the rows the publisher
//! reads, clears and requeues. A change and its outbox row are written by the same statement
//! (see [`OUTBOX_UPSERT`]), so a committed change is always either published or still queued.
//!
//! Owns every statement on `publish_outbox`. None of them locks a `resources` row (except the
//! completed delete of §4.8 step 2), so the publisher never waits for the status writers, nor
//! they for it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use super::{Channels, PgStore};
use crate::store::rows::{self, RESOURCE_COLUMNS};
use crate::store::{Outbox, Pending, PendingRead, Requeued, StoreError};

type PendingRow = rows::PendingRow<Uuid>;

/// Queues the rows of the CTE `changed(id, version, action)` for publication, for use as the
/// last CTE of a statement that changes resources. A row already queued takes the new state
/// and moves to the back (ordered by the last change). An update over a create not yet
/// published stays a create ([`crate::store::PublishAction`] says why; its `code`s are the values).
pub(crate) const OUTBOX_UPSERT: &str = "INSERT INTO publish_outbox (resource_id, version, action) \
     SELECT id, version, action FROM changed \
     ON CONFLICT (resource_id) DO UPDATE SET version = EXCLUDED.version, \
     action = CASE WHEN publish_outbox.action = 1 AND EXCLUDED.action = 2 THEN 1 ELSE EXCLUDED.action END, \
     queued_at = EXCLUDED.queued_at";

/// [`OUTBOX_UPSERT`] for new resources, which cannot be queued yet: a plain insert (an upsert's
/// speculative insertion costs another WAL record per row).
pub(crate) const OUTBOX_INSERT: &str = "INSERT INTO publish_outbox (resource_id, version, action) \
     SELECT id, version, action FROM changed";

/// [`PgStore::outbox_pending`]'s statement, built once.
static OUTBOX_PENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = qualified(RESOURCE_COLUMNS, "r");
    format!(
        "SELECT {columns}, o.action FROM (SELECT resource_id, action, queued_at FROM publish_outbox ORDER BY queued_at LIMIT $1) o \
         CROSS JOIN LATERAL (SELECT {RESOURCE_COLUMNS} FROM resources WHERE id = o.resource_id OFFSET 0) r \
         ORDER BY o.queued_at"
    )
});

/// [`Outbox::pending_publications_at`]'s statement without `after`: [`OUTBOX_PENDING`]
/// restricted to the consumers the connection registry (`consumer_connections`,
/// [`super::fleet`]) places at replica `$2`. The test runs per queued row, in queue order,
/// until the page is full: a primary-key lookup in `resources` and one in the registry each.
/// `OFFSET 0` keeps it so (as a semi join the planner may read every resource of the replica's
/// consumers on every round), and the registry row is a scalar subquery by consumer so that
/// only its primary key can find it: as a join, with statistics from when the registry was
/// small, the planner may scan all of the replica's registry rows per queued row (0.9 s a read
/// at 5,000 clusters).
static OUTBOX_PENDING_AT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| pending_at(""));

/// [`OUTBOX_PENDING_AT`] from queue time `$3` on: the walk starts there, a range scan of
/// `publish_outbox_queued_idx`, so rows of clusters connected elsewhere that were queued
/// before are not walked again. A statement of its own rather than `$3 IS NULL OR ...`, whose
/// generic plan could not take the range from the index.
static OUTBOX_PENDING_AT_AFTER: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| pending_at("o.queued_at > $3 AND "));

/// The pending rows of replica `$2` (`range`: an extra condition on the queued row `o`), each
/// with `read_at`, the statement's start. With nothing pending it returns one row of NULLs but
/// `read_at` (a left join), so that an empty read still says when it was made.
fn pending_at(range: &str) -> String {
    let columns = qualified(RESOURCE_COLUMNS, "r");
    format!(
        "SELECT t.read_at, p.* FROM (SELECT statement_timestamp() AS read_at) t LEFT JOIN LATERAL ( \
         SELECT {columns}, o.action, o.queued_at FROM (SELECT o.resource_id, o.action, o.queued_at FROM publish_outbox o \
             WHERE {range}EXISTS (SELECT 1 FROM resources x WHERE x.id = o.resource_id \
                 AND (SELECT c.instance_id FROM consumer_connections c \
                     WHERE c.consumer_name = x.consumer_name) = $2 OFFSET 0) \
             ORDER BY o.queued_at LIMIT $1) o \
         CROSS JOIN LATERAL (SELECT {RESOURCE_COLUMNS} FROM resources WHERE id = o.resource_id OFFSET 0) r \
         ) p ON true ORDER BY p.queued_at"
    )
}

#[async_trait]
impl Outbox for PgStore {
    async fn pending_publications(&self, limit: i64) -> Result<Vec<Pending>, StoreError> {
        // One primary-key lookup per queued row. A plain join (or a LATERAL subquery, which
        // the planner pulls up into one) let it hash the whole `resources` table on every
        // round: 28-36 ms a round at 10,000 rows. `OFFSET 0` keeps the subquery a subquery.
        let rows: Vec<PendingRow> = sqlx::query_as(sqlx::AssertSqlSafe(OUTBOX_PENDING.as_str()))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn pending_publications_at(
        &self,
        replica: &str,
        limit: i64,
        after: Option<DateTime<Utc>>,
    ) -> Result<PendingRead, StoreError> {
        let statement = match after {
            Some(_) => OUTBOX_PENDING_AT_AFTER.as_str(),
            None => OUTBOX_PENDING_AT.as_str(),
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(limit)
            .bind(replica);
        if let Some(after) = after {
            query = query.bind(after);
        }
        let rows = query.fetch_all(self.pool()).await?;
        let read_at = match rows.first() {
            Some(row) => row.try_get("read_at")?,
            None => {
                return Err(StoreError::Corrupt(
                    "the outbox read returned no row".into(),
                ));
            }
        };
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            // The one row of an empty read has no resource.
            if row.try_get::<Option<Uuid>, _>("id")?.is_some() {
                pending.push(PendingRow::from_row(row)?.try_into()?);
            }
        }
        Ok(PendingRead { pending, read_at })
    }

    /// Deletes the outbox rows of what was published: a row describing the published state or
    /// an older one (a delete is newer than any live state of the same version). A newer change
    /// keeps its row. Then §4.8 step 2 for the published deletes.
    async fn mark_published(&self, published: &[(Uuid, i64, bool)]) -> Result<(), StoreError> {
        if published.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = published.iter().map(|p| p.0).collect();
        let versions: Vec<i64> = published.iter().map(|p| p.1).collect();
        let deleting: Vec<bool> = published.iter().map(|p| p.2).collect();
        // A newer state queued while a create was in flight is an update now: the create
        // reached the agent (rows differ in version, so no row is both deleted and updated).
        sqlx::query(
            "WITH gone AS (DELETE FROM publish_outbox o \
                 USING UNNEST($1::uuid[], $2::bigint[], $3::bool[]) AS p(id, version, deleting) \
                 WHERE o.resource_id = p.id AND o.version <= p.version AND (p.deleting OR o.action <> 3)) \
             UPDATE publish_outbox o SET action = 2 \
             FROM UNNEST($1::uuid[], $2::bigint[]) AS p(id, version) \
             WHERE o.resource_id = p.id AND o.version > p.version AND o.action = 1",
        )
        .bind(&ids)
        .bind(&versions)
        .bind(&deleting)
        .execute(self.pool())
        .await?;
        // §4.8 step 2: a delete for a resource no agent ever reported on completes once sent
        // (a round of creates and updates has none to look for).
        let deletes: Vec<Uuid> = published.iter().filter(|p| p.2).map(|p| p.0).collect();
        if !deletes.is_empty() {
            let removed = sqlx::query(
                "DELETE FROM resources r WHERE r.id = ANY($1) AND r.deleted_at IS NOT NULL AND r.status IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM publish_outbox o WHERE o.resource_id = r.id)",
            )
            .bind(&deletes)
            .execute(self.pool())
            .await?;
            if removed.rows_affected() > 0 {
                self.committed(Channels::CHANGES);
            }
        }
        Ok(())
    }

    /// Queues again every live, never reported resource last changed before `changed_before`
    /// that is not queued; returns how many. Locks no resource row: a status stored meanwhile
    /// costs one needless publish at most. Queued as creates: no agent has shown it holds them.
    async fn requeue_unreported(
        &self,
        changed_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Requeued>, StoreError> {
        let requeued: Vec<Requeued> = sqlx::query_as(
            "WITH requeued AS (INSERT INTO publish_outbox (resource_id, version, action) \
             SELECT r.id, r.version, 1 FROM resources r \
             WHERE r.deleted_at IS NULL AND r.status IS NULL AND r.updated_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM publish_outbox o WHERE o.resource_id = r.id) \
             ORDER BY r.id ON CONFLICT (resource_id) DO NOTHING RETURNING resource_id) \
             SELECT r.id, r.consumer_name FROM resources r JOIN requeued q ON q.resource_id = r.id \
             ORDER BY r.id",
        )
        .bind(changed_before)
        .fetch_all(self.pool())
        .await?;
        if !requeued.is_empty() {
            self.committed(Channels::PUBLISH);
        }
        Ok(requeued)
    }

    async fn pending_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM publish_outbox")
            .fetch_one(self.pool())
            .await?)
    }
}

/// `"a, b"` → `"r.a, r.b"`.
fn qualified(columns: &str, table: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_qualified_one_by_one() {
        assert_eq!(super::qualified("id, a,b", "r"), "r.id, r.a, r.b");
    }
}
