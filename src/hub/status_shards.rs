//! Status writes in parallel, in order per resource. The SDK's receive loop awaits its handler
//! for each event, so writing every status inline serialises them on one database round trip
//! after another (the `applied` benchmark's bottleneck, docs/benchmarks.md). This handler only
//! routes each status to one of N worker tasks chosen by its resource id, so two statuses of
//! one resource are still written in the order they arrived (§5.2's sequence guard then sees
//! them in order) while different resources are written concurrently.
//!
//! Each worker drains what is queued (up to `BATCH` statuses) and writes it as one batch, one
//! transaction: under a burst (a fleet's resync) the database sees a few large transactions
//! instead of one commit per status; alone, a status is still written at once.
//!
//! Must not decide anything about a status: the store does, on the reports [`StatusWriter`]
//! makes in each worker.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::metrics::HubMetrics;
use super::status::StatusWriter;
use crate::cloudevents::log_limit::LogLimit;
use crate::cloudevents::{HandlerError, ResourceAction, ResourceHandler};
use crate::work::model::ManifestWork;

/// Statuses queued per worker before the receive loop waits (backpressure to the transport).
const QUEUE: usize = 256;
/// Statuses written per transaction at most.
const BATCH: usize = 128;

pub struct ShardedStatusWriter {
    shards: Vec<mpsc::Sender<ManifestWork>>,
}

impl ShardedStatusWriter {
    /// Starts `workers` (at least 1) tasks on `tasks`, each writing through `writer` until
    /// `stop`. A status still queued at stop is dropped: the next status resync brings it back.
    pub fn start(
        writer: Arc<StatusWriter>,
        metrics: Arc<HubMetrics>,
        workers: usize,
        tasks: &TaskTracker,
        stop: &CancellationToken,
    ) -> Self {
        let shards = (0..workers.max(1))
            .map(|_| {
                let (tx, mut rx) = mpsc::channel::<ManifestWork>(QUEUE);
                let (writer, metrics, stop) = (writer.clone(), metrics.clone(), stop.clone());
                tasks.spawn(async move {
                    let mut batch = Vec::with_capacity(BATCH);
                    loop {
                        let got = tokio::select! {
                            () = stop.cancelled() => break,
                            got = rx.recv_many(&mut batch, BATCH) => got,
                        };
                        if got == 0 {
                            break; // every sender dropped
                        }
                        if let Err(err) = writer.write(&batch).await {
                            for _ in &batch {
                                metrics.count_status("failed");
                            }
                            if let Some(suppressed) = NOT_WRITTEN.allow() {
                                warn!(statuses = batch.len(), first_resource_id = %batch[0].metadata.uid, %err, suppressed, "statuses not written; the next status resync brings them back");
                            }
                        }
                        batch.clear();
                    }
                });
                tx
            })
            .collect();
        Self { shards }
    }

    fn shard(&self, resource_id: &str) -> &mpsc::Sender<ManifestWork> {
        let mut hasher = DefaultHasher::new();
        resource_id.hash(&mut hasher);
        &self.shards[(hasher.finish() % self.shards.len() as u64) as usize]
    }
}

#[async_trait]
impl ResourceHandler<ManifestWork> for ShardedStatusWriter {
    async fn handle(
        &self,
        _action: ResourceAction,
        work: ManifestWork,
    ) -> Result<(), HandlerError> {
        self.shard(&work.metadata.uid)
            .send(work)
            .await
            .map_err(|_| HandlerError::new(ShardsStopped))
    }
}

/// A failing database fails every batch: one line per batch would flood the log.
static NOT_WRITTEN: LogLimit = LogLimit::per_event();

#[derive(Debug, thiserror::Error)]
#[error("the status writers have stopped")]
struct ShardsStopped;
