//! The status handler: writes what agents report back to the resource rows (§5.2, §4.7).
//! Owns turning a received work into the store's [`StatusReport`] (its JSON text and hash),
//! and the metrics and logs of each outcome. The store decides each report with the §5.2
//! rules on the row's fields (version guard, sequence guard, Deleted, unchanged); a
//! `Deleted=True` report removes a deleting row. Statuses come in batches (`status_shards`
//! drains its queue): a batch is one store call. A status equal to the stored one is skipped
//! before that (`status_skip`). A report on another cluster's resource is refused
//! ([`StatusOutcome::NotOwner`]) and counted in `status_rejected`.
//!
//! No stored status document is read for a report: the decision takes the row's version,
//! deletion, sequence id and status hash columns. The received status is rendered once, as a
//! tree both the stored text and the §6.4 hash are written from. (What does read a stored
//! document is the condition trigger of both stores, and it reads the new one only.)
//!
//! Every warning here is one a peer can cause once per event, so each goes through its own
//! [`LogLimit`]: a flood of bogus events costs a few lines and a count of the rest.

use std::sync::Arc;

use tracing::{debug, info, warn};
use uuid::Uuid;

use super::health::SeenRecorder;
use super::metrics::{HubMetrics, StatusRejected};
use super::status_skip::StoredHints;
use crate::cloudevents::log_limit::LogLimit;
use crate::store::{ReportedState, StatusIgnored, StatusOutcome, StatusReport, Store, StoreError};
use crate::work::model::ManifestWork;
use crate::work::status_hash;

static NOT_BATON_ID: LogLimit = LogLimit::per_event();
static UNKNOWN: LogLimit = LogLimit::per_event();
static NOT_OWNER: LogLimit = LogLimit::per_event();

pub struct StatusWriter {
    store: Arc<dyn Store>,
    metrics: Arc<HubMetrics>,
    hints: StoredHints,
    /// Every received status is an event from its agent (`last_seen_at`).
    seen: Arc<SeenRecorder>,
}

impl StatusWriter {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<HubMetrics>, seen: Arc<SeenRecorder>) -> Self {
        Self {
            store,
            metrics,
            hints: StoredHints::default(),
            seen,
        }
    }
}

/// What the store decides on for a received work: a `Deleted` report, or the status as the
/// JSON text to store (keys in order, as serde_json renders a tree) with its §6.4 hash.
/// Public so that `baton bench limit --rows e2e` hands the store the report the hub builds.
pub fn report_of(id: Uuid, work: &ManifestWork) -> Result<StatusReport, serde_json::Error> {
    let state = if work.status.is_deleted() {
        ReportedState::Deleted
    } else {
        let tree = serde_json::to_value(&work.status)?;
        ReportedState::Status {
            hash: status_hash::status_hash_of_tree(&tree),
            document: serde_json::value::to_raw_value(&tree)?,
        }
    };
    Ok(StatusReport {
        id,
        // The codec made the namespace the event's `clustername` (what the transport vouches for).
        cluster: work.metadata.namespace.clone(),
        version: work.metadata.generation,
        sequence_id: work.sequence_id().to_owned(),
        state,
    })
}

/// The hash a report skips by (a `Deleted` report is never skipped: it removes the row).
fn hash_of(report: &StatusReport) -> Option<&str> {
    match &report.state {
        ReportedState::Status { hash, .. } => Some(hash),
        ReportedState::Deleted => None,
    }
}

impl StatusWriter {
    /// Writes a batch of statuses in one store transaction, in order (statuses of one resource
    /// keep their order). A status equal to the stored one is skipped without a transaction
    /// when the hints point at it ([`StoredHints`]). On a store error none of them is written;
    /// the caller counts them.
    pub async fn write(&self, received: &[ManifestWork]) -> Result<(), StoreError> {
        self.seen
            .note(received.iter().map(|w| w.metadata.namespace.as_str()));
        let mut reports = Vec::with_capacity(received.len());
        for work in received {
            let Ok(id) = Uuid::parse_str(&work.metadata.uid) else {
                self.metrics.count_status("unknown");
                if let Some(suppressed) = NOT_BATON_ID.allow() {
                    warn!(resource_id = %work.metadata.uid, suppressed, "status for a resource id that is not a baton id");
                }
                continue;
            };
            match report_of(id, work) {
                Ok(report) => reports.push((report, work)),
                Err(err) => {
                    self.metrics.count_status("ignored");
                    debug!(resource_id = %id, %err, "status ignored: it cannot be serialized");
                }
            }
        }
        let keys: Vec<(Uuid, Option<&str>)> = reports
            .iter()
            .map(|(report, _)| (report.id, hash_of(report)))
            .collect();
        let unchanged = self.hints.unchanged(self.store.as_ref(), &keys).await?;
        let mut decided = Vec::with_capacity(reports.len());
        let mut works = Vec::with_capacity(reports.len());
        for (index, (report, work)) in reports.into_iter().enumerate() {
            if unchanged.contains(&index) {
                self.metrics.count_status("unchanged");
                debug!(resource_id = %report.id, "status ignored: the stored one is the same");
            } else {
                decided.push(report);
                works.push(work);
            }
        }
        let outcomes = self.store.apply_statuses(&decided).await?;
        for ((report, work), outcome) in decided.iter().zip(works).zip(outcomes) {
            match (outcome, hash_of(report)) {
                (
                    StatusOutcome::Stored | StatusOutcome::Ignored(StatusIgnored::Unchanged),
                    Some(hash),
                ) => self.hints.stored(report.id, hash),
                (StatusOutcome::Removed | StatusOutcome::UnknownResource, _) => {
                    self.hints.forget(report.id);
                }
                _ => {}
            }
            self.record(report.id, work, outcome);
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
                debug!(resource_id = %id, why = why.reason(), "status ignored");
            }
            StatusOutcome::UnknownResource => {
                self.metrics.count_status("unknown");
                if !received.status.is_deleted()
                    && let Some(suppressed) = UNKNOWN.allow()
                {
                    warn!(resource_id = %id, cluster = %received.metadata.namespace, suppressed, "status for an unknown resource");
                }
            }
            StatusOutcome::NotOwner => {
                self.metrics.count_status_rejected(StatusRejected::NotOwner);
                if let Some(suppressed) = NOT_OWNER.allow() {
                    warn!(resource_id = %id, cluster = %received.metadata.namespace, suppressed, "status refused: the resource belongs to another cluster");
                }
            }
        }
    }
}
