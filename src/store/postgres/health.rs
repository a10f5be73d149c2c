//! [`PgStore`]'s health queries ([`Health`]): the shared statements of `store/queries.rs`, and
//! the batched record of agents' last events.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Postgres;
use uuid::Uuid;

use super::PgStore;
use crate::store::queries;
use crate::store::{ConditionTransition, ConsumerHealth, Health, StoreError};

#[async_trait]
impl Health for PgStore {
    async fn consumer_health(
        &self,
        names: Option<&[String]>,
    ) -> Result<HashMap<String, ConsumerHealth>, StoreError> {
        queries::consumer_health::<Postgres>(self.pool(), names).await
    }

    async fn condition_history(&self, id: Uuid) -> Result<Vec<ConditionTransition>, StoreError> {
        queries::condition_history::<Postgres, Uuid>(self.pool(), id).await
    }

    async fn record_seen(&self, seen: &[(String, DateTime<Utc>)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let (names, times): (Vec<&str>, Vec<DateTime<Utc>>) =
            seen.iter().map(|(name, at)| (name.as_str(), *at)).unzip();
        sqlx::query(
            "UPDATE consumers c SET last_seen_at = GREATEST(c.last_seen_at, s.at) \
             FROM unnest($1::text[], $2::timestamptz[]) AS s(name, at) WHERE c.name = s.name",
        )
        .bind(names)
        .bind(times)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
