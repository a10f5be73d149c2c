//! [`Fleet`]: the hub replicas sharing one PostgreSQL database, the connection registry
//! (which replica each cluster's agent is connected to) and the leases of one-replica work, in
//! `hub_instances`, `consumer_connections` and `hub_leases` (migration 0005, docs/ha.md). Owns
//! every statement on those tables.
//! Must not decide when to claim or release (the hub's fleet member does) nor touch the
//! resources or the outbox.
//!
//! The embedded SQLite store serves one process, which owns every connection: it has no
//! [`Fleet`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};

use super::StoreError;

/// Where a cluster's agent is connected, as the registry has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub consumer_name: String,
    /// The replica (instance id) whose broker has the agent; `None` once it left.
    pub replica: Option<String>,
    pub epoch: i64,
    /// When the agent connected to `replica`.
    pub since: Option<DateTime<Utc>>,
    /// The last time a replica saw the agent connected.
    pub last_seen: DateTime<Utc>,
}

/// The registry of replicas and connections (see the module doc).
#[async_trait]
pub trait Fleet: Send + Sync + 'static {
    /// Records that `instance` is alive, refreshes `last_seen` of the connections it owns, and
    /// removes the replicas whose heartbeat is older than `lease` (releasing their consumers).
    /// Returns how many dead replicas were removed.
    async fn heartbeat(&self, instance: &str, lease: Duration) -> Result<u64, StoreError>;
    /// `instance` now has the agents of `consumers`: takes their rows over with a new epoch,
    /// returned per consumer.
    async fn claim(
        &self,
        instance: &str,
        consumers: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError>;
    /// The agents of these `(consumer, epoch)` claims left `instance`: releases the rows still
    /// held under that claim (a newer claim elsewhere is kept). Returns how many were released.
    async fn release(&self, instance: &str, claims: &[(String, i64)]) -> Result<u64, StoreError>;
    /// `instance` stops: removes it, releasing every consumer it owns.
    async fn leave(&self, instance: &str) -> Result<(), StoreError>;
    /// Every row of the registry; `replica` is `None` where the agent left or its replica's
    /// heartbeat is older than `lease`.
    async fn connections(&self, lease: Duration) -> Result<Vec<Connection>, StoreError>;
    /// Takes or renews the lease `name` for `instance` until `lease` from now; `false` while
    /// another replica holds it unexpired.
    async fn hold_lease(
        &self,
        name: &str,
        instance: &str,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives the lease `name` up if `instance` holds it, so that another replica takes it now.
    async fn drop_lease(&self, name: &str, instance: &str) -> Result<(), StoreError>;
}

/// [`Fleet`] on PostgreSQL, with a pool of its own: heartbeats must not queue behind a pool
/// saturated by API traffic, or a busy replica would be taken for dead.
pub struct PgFleet {
    pool: PgPool,
}

impl PgFleet {
    /// Connects to `url` (the database must be migrated).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(super::postgres::connect_options(url)?)
            .await?;
        Ok(Self { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A lease as a PostgreSQL interval parameter.
fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

#[async_trait]
impl Fleet for PgFleet {
    async fn heartbeat(&self, instance: &str, lease: Duration) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO hub_instances (id) VALUES ($1) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
        )
        .bind(instance)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE consumer_connections SET last_seen = now() WHERE instance_id = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        let dead = sqlx::query(
            "DELETE FROM hub_instances WHERE heartbeat_at < now() - make_interval(secs => $1)",
        )
        .bind(seconds(lease))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(dead)
    }

    async fn claim(
        &self,
        instance: &str,
        consumers: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if consumers.is_empty() {
            return Ok(Vec::new());
        }
        // The instance row first: the registry's foreign key needs it (a replica's first
        // claim may precede its first heartbeat).
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "WITH me AS (INSERT INTO hub_instances (id) VALUES ($1) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now() RETURNING id) \
             INSERT INTO consumer_connections (consumer_name, instance_id, connected_since, last_seen) \
             SELECT name, (SELECT id FROM me), now(), now() FROM unnest($2::text[]) AS c(name) \
             ON CONFLICT (consumer_name) DO UPDATE SET instance_id = EXCLUDED.instance_id, \
                 epoch = consumer_connections.epoch + 1, \
                 connected_since = now(), last_seen = now() \
             RETURNING consumer_name, epoch",
        )
        .bind(instance)
        .bind(consumers)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn release(&self, instance: &str, claims: &[(String, i64)]) -> Result<u64, StoreError> {
        if claims.is_empty() {
            return Ok(0);
        }
        let (names, epochs): (Vec<String>, Vec<i64>) = claims.iter().cloned().unzip();
        let released = sqlx::query(
            "UPDATE consumer_connections c SET instance_id = NULL, last_seen = now() \
             FROM unnest($2::text[], $3::bigint[]) AS gone(name, epoch) \
             WHERE c.consumer_name = gone.name AND c.epoch = gone.epoch AND c.instance_id = $1",
        )
        .bind(instance)
        .bind(names)
        .bind(epochs)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(released)
    }

    async fn leave(&self, instance: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE consumer_connections SET instance_id = NULL, last_seen = now() \
             WHERE instance_id = $1",
        )
        .bind(instance)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM hub_instances WHERE id = $1")
            .bind(instance)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn hold_lease(
        &self,
        name: &str,
        instance: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let held: Option<(String,)> = sqlx::query_as(
            "INSERT INTO hub_leases (name, holder, expires_at) \
             VALUES ($1, $2, now() + make_interval(secs => $3)) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
                 expires_at = EXCLUDED.expires_at \
             WHERE hub_leases.holder = EXCLUDED.holder OR hub_leases.expires_at < now() \
             RETURNING holder",
        )
        .bind(name)
        .bind(instance)
        .bind(seconds(lease))
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.is_some())
    }

    async fn drop_lease(&self, name: &str, instance: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM hub_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(instance)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn connections(&self, lease: Duration) -> Result<Vec<Connection>, StoreError> {
        type Row = (
            String,
            Option<String>,
            i64,
            Option<DateTime<Utc>>,
            DateTime<Utc>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT c.consumer_name, \
                 CASE WHEN h.heartbeat_at >= now() - make_interval(secs => $1) THEN h.id END, \
                 c.epoch, c.connected_since, c.last_seen \
             FROM consumer_connections c LEFT JOIN hub_instances h ON h.id = c.instance_id",
        )
        .bind(seconds(lease))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(consumer_name, replica, epoch, since, last_seen)| Connection {
                    consumer_name,
                    replica,
                    epoch,
                    since,
                    last_seen,
                },
            )
            .collect())
    }
}
