//! Fleet health (issue 21): the consumer views with their health fields ([`FleetHealth`]),
//! and the batched record of when each agent was last heard from ([`SeenRecorder`]).
//!
//! Owns the health rule (connected, or the transport cannot tell, and nothing pending longer
//! than the threshold) and when `last_seen_at` is written: agents' events are noted in memory
//! and flushed in one statement every [`SEEN_FLUSH`], never a write per event. Must not
//! decide HTTP statuses (`hub::error`) nor hold SQL (`store`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::api::views::ConsumerView;
use super::connections::Connections;
use crate::store::{Consumer, ConsumerHealth, Store, StoreError};

/// How often the agents' last event times reach the database.
pub const SEEN_FLUSH: Duration = Duration::from_secs(2);
/// The default of `--unhealthy-pending-after`.
pub const UNHEALTHY_PENDING_AFTER: Duration = Duration::from_secs(300);

/// Whether a consumer is healthy: its agent is connected (or the transport cannot tell), and
/// no resource has waited for the agent's report longer than `pending_after`.
pub fn is_healthy(
    connected: Option<bool>,
    oldest_pending_since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    pending_after: Duration,
) -> bool {
    let waited_too_long = oldest_pending_since.is_some_and(|since| {
        (now - since)
            .to_std()
            .is_ok_and(|waited| waited > pending_after)
    });
    connected != Some(false) && !waited_too_long
}

/// Builds consumer views with their connection and health.
#[derive(Clone)]
pub struct FleetHealth {
    store: Arc<dyn Store>,
    connections: Arc<dyn Connections>,
    pending_after: Duration,
}

impl FleetHealth {
    pub fn new(
        store: Arc<dyn Store>,
        connections: Arc<dyn Connections>,
        pending_after: Duration,
    ) -> Self {
        Self {
            store,
            connections,
            pending_after,
        }
    }

    /// The views of `consumers`, with one health query for all of them (`all`: every consumer
    /// is in `consumers`, so the query needs no name list).
    pub async fn views(
        &self,
        consumers: Vec<Consumer>,
        all: bool,
    ) -> Result<Vec<ConsumerView>, StoreError> {
        let names: Vec<String> = if all {
            Vec::new()
        } else {
            consumers.iter().map(|c| c.name.clone()).collect()
        };
        let mut health = self
            .store
            .consumer_health((!all).then_some(names.as_slice()))
            .await?;
        let now = Utc::now();
        Ok(consumers
            .into_iter()
            .map(|consumer| {
                let counts = health.remove(&consumer.name).unwrap_or_default();
                self.view(consumer, counts, now)
            })
            .collect())
    }

    fn view(&self, consumer: Consumer, health: ConsumerHealth, now: DateTime<Utc>) -> ConsumerView {
        let connected = self.connections.is_connected(&consumer.name);
        let at = self.connections.connection(&consumer.name);
        let healthy = is_healthy(
            connected,
            health.oldest_pending_since,
            now,
            self.pending_after,
        );
        ConsumerView::new(consumer, connected, at, health, healthy)
    }

    /// Every consumer's view.
    pub async fn all(&self) -> Result<Vec<ConsumerView>, StoreError> {
        let filter = crate::store::ConsumerFilter::default();
        let consumers = self.store.list_consumers(
            &filter,
            crate::store::PageRequest {
                page: 1,
                size: u32::MAX,
                order_by: crate::store::OrderBy::CreatedAt,
                direction: crate::store::Direction::Asc,
            },
        );
        self.views(consumers.await?.items, true).await
    }
}

/// When each agent was last heard from, since the last flush.
#[derive(Default)]
pub struct SeenRecorder {
    seen: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl SeenRecorder {
    /// An event from the agent of `cluster` arrived now.
    pub fn note<'a>(&self, clusters: impl IntoIterator<Item = &'a str>) {
        let now = Utc::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for cluster in clusters {
            if let Some(at) = seen.get_mut(cluster) {
                *at = now;
            } else {
                seen.insert(cluster.to_owned(), now);
            }
        }
    }

    /// Writes what was noted since the last call, in one store call.
    pub async fn flush(&self, store: &dyn Store) -> Result<(), StoreError> {
        let batch: Vec<(String, DateTime<Utc>)> = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.drain().collect()
        };
        store.record_seen(&batch).await
    }

    /// Flushes every [`SEEN_FLUSH`] until `stop`, then once more.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SEEN_FLUSH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                () = stop.cancelled() => true,
                _ = tick.tick() => false,
            };
            if let Err(err) = self.flush(&*store).await {
                warn!(%err, "recording agents' last events failed; the times are lost until their next event");
            }
            if stopping {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_needs_a_connection_or_no_answer_and_nothing_pending_too_long() {
        let now = Utc::now();
        let after = Duration::from_secs(300);
        let old = Some(now - chrono::Duration::seconds(301));
        let recent = Some(now - chrono::Duration::seconds(299));
        assert!(is_healthy(Some(true), None, now, after));
        assert!(is_healthy(None, recent, now, after), "MQTT cannot tell");
        assert!(!is_healthy(Some(false), None, now, after));
        assert!(!is_healthy(Some(true), old, now, after));
        assert!(is_healthy(
            Some(true),
            Some(now + chrono::Duration::seconds(5)),
            now,
            after
        ));
    }
}
