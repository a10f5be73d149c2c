//! The status handler: writes what agents report back to the resource rows (§5.2, §4.7).
//! Each status is decided inside the store's row lock with the §5.2 rules (version guard,
//! sequence guard, Deleted, unchanged); a `Deleted=True` report removes a deleting row.
//! Statuses come in batches (`status_shards` drains its queue): a batch is one transaction.
//! A status equal to the stored one is skipped before that (`status_skip`).

use std::sync::Arc;

use tracing::{debug, info, warn};
use uuid::Uuid;

use super::convert::{status_json, status_of};
use super::metrics::HubMetrics;
use super::status_skip::StoredHints;
use crate::store::{StatusItem, StatusOutcome, StatusTarget, StatusWrite, Store, StoreError};
use crate::work::model::{ManifestWork, ManifestWorkStatus, ObjectMeta, SEQUENCE_ID_ANNOTATION};
use crate::work::source_status::{self, IgnoreReason};
use crate::work::status_hash;

pub struct StatusWriter {
    store: Arc<dyn Store>,
    metrics: Arc<HubMetrics>,
    hints: StoredHints,
}

impl StatusWriter {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<HubMetrics>) -> Self {
        Self {
            store,
            metrics,
            hints: StoredHints::default(),
        }
    }
}

/// The hash of a received status (§6.4), except for a `Deleted` report (never skipped: it
/// removes the row) or one that cannot be hashed (decided under the lock, which ignores it).
fn received_hash(work: &ManifestWork) -> Option<String> {
    if work.status.is_deleted() {
        return None;
    }
    status_hash::status_hash(&work.status).ok()
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

/// §5.2 for one row; pure, runs under the row lock. `hash` is the received status's, if
/// already computed.
fn decide(target: &StatusTarget, received: &ManifestWork, hash: Option<&str>) -> StatusWrite {
    match source_status::apply_status(Some(&cached_work(target)), received) {
        source_status::StatusOutcome::Deleted if target.deleting => StatusWrite::Remove,
        source_status::StatusOutcome::Deleted => {
            StatusWrite::Ignore("agent reports deleted, but the resource is not being deleted")
        }
        source_status::StatusOutcome::Update(_) => {
            let hash = match hash {
                Some(hash) => Ok(hash.to_owned()),
                None => status_hash::status_hash(&received.status),
            };
            let (Ok(status), Ok(hash)) = (status_json(&received.status), hash) else {
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
    /// keep their order). A status equal to the stored one is skipped without a transaction
    /// when the hints point at it ([`StoredHints`]). On a store error none of them is written;
    /// the caller counts them.
    pub async fn write(&self, received: &[ManifestWork]) -> Result<(), StoreError> {
        let mut works = Vec::with_capacity(received.len());
        for work in received {
            match Uuid::parse_str(&work.metadata.uid) {
                Ok(id) => works.push((id, work, received_hash(work))),
                Err(_) => {
                    self.metrics.count_status("unknown");
                    warn!(resource_id = %work.metadata.uid, "status for a resource id that is not a baton id");
                }
            }
        }
        let keys: Vec<(Uuid, Option<&str>)> = works
            .iter()
            .map(|(id, _, hash)| (*id, hash.as_deref()))
            .collect();
        let unchanged = self.hints.unchanged(self.store.as_ref(), &keys).await?;
        let mut locked = Vec::with_capacity(works.len());
        for (index, work) in works.iter().enumerate() {
            if unchanged.contains(&index) {
                self.metrics.count_status("unchanged");
                debug!(resource_id = %work.0, "status ignored: the stored one is the same");
            } else {
                locked.push(work);
            }
        }
        let decides: Vec<_> = locked
            .iter()
            .map(|(_, work, hash)| {
                move |target: &StatusTarget| decide(target, work, hash.as_deref())
            })
            .collect();
        let items: Vec<StatusItem> = locked
            .iter()
            .zip(&decides)
            .map(|((id, _, _), decide)| StatusItem { id: *id, decide })
            .collect();
        let outcomes = self.store.apply_statuses(&items).await?;
        for ((id, work, hash), outcome) in locked.into_iter().zip(outcomes) {
            match (&outcome, hash) {
                (StatusOutcome::Stored | StatusOutcome::Ignored("unchanged"), Some(hash)) => {
                    self.hints.stored(*id, hash);
                }
                (StatusOutcome::Removed | StatusOutcome::UnknownResource, _) => {
                    self.hints.forget(*id);
                }
                _ => {}
            }
            self.record(*id, work, outcome);
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
