//! The status handler: writes what agents report back to the resource rows (§5.2, §4.7).
//! Each status is decided inside the store's row lock with the §5.2 rules (version guard,
//! sequence guard, Deleted, unchanged); a `Deleted=True` report removes a deleting row.
//! Statuses come in batches (`status_shards` drains its queue): a batch is one transaction.

use std::sync::Arc;

use tracing::{debug, info, warn};
use uuid::Uuid;

use super::convert::{status_json, status_of};
use super::metrics::HubMetrics;
use crate::store::{StatusItem, StatusOutcome, StatusTarget, StatusWrite, Store, StoreError};
use crate::work::model::{ManifestWork, ManifestWorkStatus, ObjectMeta, SEQUENCE_ID_ANNOTATION};
use crate::work::source_status::{self, IgnoreReason};
use crate::work::status_hash;

pub struct StatusWriter {
    store: Arc<dyn Store>,
    metrics: Arc<HubMetrics>,
}

impl StatusWriter {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<HubMetrics>) -> Self {
        Self { store, metrics }
    }
}

/// The source's cached view of a row, as §5.2 compares it.
fn cached_work(target: &StatusTarget) -> ManifestWork {
    let mut metadata = ObjectMeta {
        uid: target.id.to_string(),
        generation: target.version,
        ..ObjectMeta::default()
    };
    let mut status = ManifestWorkStatus::default();
    if let Some(reported) = &target.status {
        metadata.annotations.insert(
            SEQUENCE_ID_ANNOTATION.to_owned(),
            reported.sequence_id.clone(),
        );
        // A stored status that no longer parses compares as "changed": the new one replaces it.
        status = status_of(reported).unwrap_or_default();
    }
    ManifestWork {
        metadata,
        spec: Default::default(),
        status,
    }
}

/// §5.2 for one row; pure, runs under the row lock.
fn decide(target: &StatusTarget, received: &ManifestWork) -> StatusWrite {
    match source_status::apply_status(Some(&cached_work(target)), received) {
        source_status::StatusOutcome::Deleted if target.deleting => StatusWrite::Remove,
        source_status::StatusOutcome::Deleted => {
            StatusWrite::Ignore("agent reports deleted, but the resource is not being deleted")
        }
        source_status::StatusOutcome::Update(_) => {
            let (Ok(status), Ok(hash)) = (
                status_json(&received.status),
                status_hash::status_hash(&received.status),
            ) else {
                return StatusWrite::Ignore("status cannot be serialized");
            };
            StatusWrite::Store {
                status,
                hash,
                sequence_id: received.sequence_id().to_owned(),
            }
        }
        source_status::StatusOutcome::NotFound => StatusWrite::Ignore("resource not found"),
        source_status::StatusOutcome::Ignore(reason) => StatusWrite::Ignore(match reason {
            IgnoreReason::AlreadyGone => "already gone",
            IgnoreReason::VersionAhead { .. } => "status for a version the hub never issued",
            IgnoreReason::Stale => "stale sequence id",
            IgnoreReason::BadSequence(_) => "sequence id not comparable",
            IgnoreReason::Unchanged => "unchanged",
        }),
    }
}

impl StatusWriter {
    /// Writes a batch of statuses in one store transaction, in order (statuses of one resource
    /// keep their order). On a store error none of them is written; the caller counts them.
    pub async fn write(&self, received: &[ManifestWork]) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(received.len());
        let mut works = Vec::with_capacity(received.len());
        let decides: Vec<_> = received
            .iter()
            .map(|work| move |target: &StatusTarget| decide(target, work))
            .collect();
        for (work, decide) in received.iter().zip(&decides) {
            let Ok(id) = Uuid::parse_str(&work.metadata.uid) else {
                self.metrics.count_status("unknown");
                warn!(resource_id = %work.metadata.uid, "status for a resource id that is not a baton id");
                continue;
            };
            items.push(StatusItem { id, decide });
            works.push(work);
        }
        let outcomes = self.store.apply_statuses(&items).await?;
        for ((item, work), outcome) in items.iter().zip(works).zip(outcomes) {
            self.record(item.id, work, outcome);
        }
        Ok(())
    }

    fn record(&self, id: Uuid, received: &ManifestWork, outcome: StatusOutcome) {
        match outcome {
            StatusOutcome::Stored => {
                self.metrics.count_status("stored");
                debug!(resource_id = %id, sequence_id = received.sequence_id(), "status stored");
            }
            StatusOutcome::Removed => {
                self.metrics.count_status("deleted");
                info!(resource_id = %id, cluster = %received.metadata.namespace, "agent confirmed deletion; resource removed");
            }
            StatusOutcome::Ignored(why) => {
                self.metrics.count_status("ignored");
                debug!(resource_id = %id, why, "status ignored");
            }
            StatusOutcome::UnknownResource => {
                self.metrics.count_status("unknown");
                if !received.status.is_deleted() {
                    warn!(resource_id = %id, cluster = %received.metadata.namespace, "status for an unknown resource");
                }
            }
        }
    }
}
