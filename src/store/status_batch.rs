//! A batch of agents' statuses decided together, for [`super::Store::apply_statuses`]: both
//! backends lock (or read under their write lock) the rows of a batch, hand them here, and write
//! what [`plan`] returns in the same transaction.
//!
//! Owns the order within a batch: items are decided in order, each on its row as the items
//! before it left it, so two statuses of one resource in one batch meet §5.2's sequence guard
//! exactly as they would in two transactions. Must not touch the database.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::rows::reported_status;
use super::{DecideStatus, ReportedStatus, StatusOutcome, StatusTarget, StatusWrite};

/// One status of a batch: its resource and the decision to run on that resource's row.
#[derive(Clone, Copy)]
pub struct StatusItem<'a> {
    pub id: Uuid,
    pub decide: DecideStatus<'a>,
}

/// The columns a [`StatusTargetRow`] reads: what a decision needs, not the spec.
pub(crate) const STATUS_TARGET_COLUMNS: &str =
    "id, version, deleted_at, status, status_hash, status_sequence_id, status_updated_at";

#[derive(FromRow)]
pub(crate) struct StatusTargetRow<I> {
    id: I,
    version: i64,
    deleted_at: Option<DateTime<Utc>>,
    status: Option<Json<Value>>,
    status_hash: Option<String>,
    status_sequence_id: Option<String>,
    status_updated_at: Option<DateTime<Utc>>,
}

impl<I: Into<Uuid>> From<StatusTargetRow<I>> for StatusTarget {
    fn from(row: StatusTargetRow<I>) -> Self {
        let status = reported_status(
            row.status,
            row.status_hash,
            row.status_sequence_id,
            row.status_updated_at,
        );
        StatusTarget {
            id: row.id.into(),
            version: row.version,
            deleting: row.deleted_at.is_some(),
            status,
        }
    }
}

/// What a batch writes: the final status of each stored row (once per row, however many of
/// the batch's items stored one) and the rows to remove.
#[derive(Debug, Default)]
pub(crate) struct BatchPlan {
    pub outcomes: Vec<StatusOutcome>,
    pub stores: Vec<ReportedStatus>,
    pub store_ids: Vec<Uuid>,
    pub removes: Vec<Uuid>,
}

/// Decides every item of `batch` in order against `rows` (the batch's rows that exist).
pub(crate) fn plan(batch: &[StatusItem<'_>], rows: Vec<StatusTarget>) -> BatchPlan {
    let mut rows: HashMap<Uuid, StatusTarget> = rows.into_iter().map(|t| (t.id, t)).collect();
    let mut stored: Vec<Uuid> = Vec::new();
    let mut out = BatchPlan::default();
    for item in batch {
        let Some(target) = rows.get_mut(&item.id) else {
            // Unknown, or removed by an earlier item: as if it had been removed in its own tx.
            out.outcomes.push(StatusOutcome::UnknownResource);
            continue;
        };
        let outcome = match (item.decide)(target) {
            StatusWrite::Ignore(why) => StatusOutcome::Ignored(why),
            StatusWrite::Remove => {
                rows.remove(&item.id);
                out.removes.push(item.id);
                StatusOutcome::Removed
            }
            StatusWrite::Store {
                status,
                hash,
                sequence_id,
            } => {
                target.status = Some(ReportedStatus {
                    status,
                    hash,
                    sequence_id,
                    updated_at: Utc::now(),
                });
                if !stored.contains(&item.id) {
                    stored.push(item.id);
                }
                StatusOutcome::Stored
            }
        };
        out.outcomes.push(outcome);
    }
    for id in stored {
        // A row stored and then removed in the same batch is only removed.
        if let Some(status) = rows.remove(&id).and_then(|t| t.status) {
            out.store_ids.push(id);
            out.stores.push(status);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: Uuid, seq: Option<&str>) -> StatusTarget {
        StatusTarget {
            id,
            version: 1,
            deleting: false,
            status: seq.map(|s| ReportedStatus {
                status: Value::Null,
                hash: String::new(),
                sequence_id: s.to_owned(),
                updated_at: Utc::now(),
            }),
        }
    }

    /// Stores stored seq + 1, like a sequence guard that needs to see the previous item.
    fn bump(t: &StatusTarget) -> StatusWrite {
        let seen: u64 = t
            .status
            .as_ref()
            .map_or(0, |s| s.sequence_id.parse().unwrap_or(0));
        StatusWrite::Store {
            status: Value::Null,
            hash: "h".into(),
            sequence_id: (seen + 1).to_string(),
        }
    }

    #[test]
    fn items_of_one_row_see_each_other_and_the_row_is_written_once() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let batch: Vec<StatusItem> = [a, b, a, a]
            .into_iter()
            .map(|id| StatusItem { id, decide: &bump })
            .collect();
        let plan = plan(&batch, vec![target(a, Some("5")), target(b, None)]);
        assert_eq!(plan.outcomes, vec![StatusOutcome::Stored; 4]);
        assert_eq!(plan.store_ids, [a, b]);
        let seqs: Vec<&str> = plan.stores.iter().map(|s| s.sequence_id.as_str()).collect();
        assert_eq!(seqs, ["8", "1"]);
        assert!(plan.removes.is_empty());
    }

    #[test]
    fn a_removed_row_is_unknown_to_later_items_and_not_stored() {
        let (a, missing) = (Uuid::new_v4(), Uuid::new_v4());
        let remove = |_: &StatusTarget| StatusWrite::Remove;
        let ignore = |_: &StatusTarget| StatusWrite::Ignore("stale");
        let batch = [
            StatusItem {
                id: a,
                decide: &bump,
            },
            StatusItem {
                id: a,
                decide: &ignore,
            },
            StatusItem {
                id: a,
                decide: &remove,
            },
            StatusItem {
                id: a,
                decide: &bump,
            },
            StatusItem {
                id: missing,
                decide: &bump,
            },
        ];
        let plan = plan(&batch, vec![target(a, None)]);
        assert_eq!(
            plan.outcomes,
            [
                StatusOutcome::Stored,
                StatusOutcome::Ignored("stale"),
                StatusOutcome::Removed,
                StatusOutcome::UnknownResource,
                StatusOutcome::UnknownResource,
            ]
        );
        assert_eq!(plan.removes, [a]);
        assert!(plan.stores.is_empty() && plan.store_ids.is_empty());
    }
}
