//! [`CreateBatcher`]: group commit for REST creates. Concurrent `POST /resources` requests
//! queue their new resource here; one task per store gathers whatever is waiting (up to
//! [`MAX_BATCH`]) and hands it to [`Store::create_resources`], which writes the batch in one
//! transaction (each row still all or nothing, each with its own error). Under load a commit
//! is paid per batch instead of per create; a lone request waits for nobody.
//!
//! Owns the queue (bounded: a slow database makes requests wait here, not pile up) and the
//! batching task. Must not decide anything about a row: the store does, per row.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::trace;

use super::metrics::HubMetrics;
use crate::store::{NewResource, Resource, Store, StoreError};

/// Creates written in one transaction at most.
pub const MAX_BATCH: usize = 64;
/// Batches being written at once: one commits while the next gathers and starts.
const BATCHES_IN_FLIGHT: usize = 2;
/// Creates waiting for a batch at most; further requests wait to queue.
const QUEUE: usize = 1024;

/// Why a create got no answer from the store.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the hub is stopping")]
    Stopped,
}

type Job = (NewResource, oneshot::Sender<Result<Resource, StoreError>>);

/// The handle requests create through; cheap to clone. The batching task ends once every
/// handle is dropped and the queued creates are written.
#[derive(Clone)]
pub struct CreateBatcher {
    queue: mpsc::Sender<Job>,
}

impl CreateBatcher {
    /// Starts the batching task over `store` (on the current runtime).
    pub fn start(store: Arc<dyn Store>, metrics: Arc<HubMetrics>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(gather(store, metrics, jobs));
        Self { queue }
    }

    /// Creates `new` in the next batch; the result is the store's for this row alone.
    pub async fn create(&self, new: NewResource) -> Result<Resource, CreateError> {
        let (reply, result) = oneshot::channel();
        self.queue
            .send((new, reply))
            .await
            .map_err(|_| CreateError::Stopped)?;
        Ok(result.await.map_err(|_| CreateError::Stopped)??)
    }
}

/// Takes whatever is queued (at least one create) whenever a batch slot is free.
async fn gather(store: Arc<dyn Store>, metrics: Arc<HubMetrics>, mut jobs: mpsc::Receiver<Job>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    let writes = TaskTracker::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
            break; // every handle is gone
        }
        metrics.create_batch_rows.observe(batch.len() as f64);
        let store = store.clone();
        writes.spawn(async move {
            write(&*store, batch).await;
            drop(slot);
        });
    }
    writes.close();
    writes.wait().await;
}

/// Writes one batch and answers each request with its own row's result.
async fn write(store: &dyn Store, batch: Vec<Job>) {
    trace!(rows = batch.len(), "create batch");
    let (rows, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let results = store.create_resources(rows).await;
    for (reply, result) in replies.into_iter().zip(results) {
        // The request may have gone (client disconnected): its row is created all the same.
        let _ = reply.send(result);
    }
}
