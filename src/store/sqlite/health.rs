//! [`SqliteStore`]'s health queries ([`Health`]): the shared statements of `store/queries.rs`,
//! and the batched record of agents' last events (one write transaction per batch).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Sqlite;
use uuid::Uuid;
use uuid::fmt::Hyphenated;

use super::{SqliteStore, timestamp};
use crate::store::queries;
use crate::store::{ConditionTransition, ConsumerHealth, Health, StoreError};

#[async_trait]
impl Health for SqliteStore {
    async fn consumer_health(
        &self,
        names: Option<&[String]>,
    ) -> Result<HashMap<String, ConsumerHealth>, StoreError> {
        queries::consumer_health::<Sqlite>(self.pool(), names).await
    }

    async fn condition_history(&self, id: Uuid) -> Result<Vec<ConditionTransition>, StoreError> {
        queries::condition_history::<Sqlite, Hyphenated>(self.pool(), id).await
    }

    async fn record_seen(&self, seen: &[(String, DateTime<Utc>)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (name, at) in seen {
            // Fixed-width timestamps: text order is time order, so max() keeps the later one.
            sqlx::query(
                "UPDATE consumers SET last_seen_at = max(COALESCE(last_seen_at, ''), ?2) WHERE name = ?1",
            )
            .bind(name)
            .bind(timestamp(*at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
