//! §5.2 on the store's rows, for [`super::Store::apply_statuses`]: both backends read the rows
//! of a batch (PostgreSQL without a lock, SQLite under its write lock), hand them to [`plan`],
//! and write what it returns.
//!
//! Owns the status rules (the Deleted rule, the version guard, the sequence guard, the
//! unchanged skip, in sdk-go's order), preceded by ownership (only the resource's own consumer
//! may report on it), decided on a row's fields alone: its version, deletion,
//! last sequence id and the hash of its stored status, never the stored document. Owns the
//! order within a batch too: reports are decided in order, each on its row as the reports
//! before it left it, so two statuses of one resource in one batch meet the sequence guard
//! exactly as they would in two transactions. Must not touch the database.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use super::{RawJson, ReportedState, StatusIgnored, StatusOutcome, StatusReport};
use crate::work::model::ManifestWorkStatus;
use crate::work::sequence;
use crate::work::status_hash::status_hash;

/// The hash of the empty status: what a row with no report yet compares as (a source's cached
/// work starts with an empty status, §5.2).
static EMPTY_STATUS_HASH: LazyLock<String> =
    LazyLock::new(|| status_hash(&ManifestWorkStatus::default()).unwrap_or_default());

/// The columns a [`StatusRow`] reads: what a decision and its compare and set need.
pub(crate) const STATUS_ROW_COLUMNS: &str =
    "id, consumer_name, version, deleted_at, status_hash, status_sequence_id, status_updated_at";

/// A resource row as a status decision sees it.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct StatusRow<I> {
    pub id: I,
    pub consumer_name: String,
    pub version: i64,
    pub deleted_at: Option<DateTime<Utc>>,
    pub status_hash: Option<String>,
    pub status_sequence_id: Option<String>,
    pub status_updated_at: Option<DateTime<Utc>>,
}

/// What §5.2 does with one report on its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Store,
    Remove,
    Ignore(StatusIgnored),
}

fn decide<I>(row: &StatusRow<I>, report: &StatusReport) -> Decision {
    let hash = match &report.state {
        ReportedState::Deleted if row.deleted_at.is_some() => return Decision::Remove,
        ReportedState::Deleted => return Decision::Ignore(StatusIgnored::NotDeleting),
        ReportedState::Status { hash, .. } => hash,
    };
    // Stored versions start at 1, so the guard always applies.
    if report.version > row.version {
        return Decision::Ignore(StatusIgnored::VersionAhead);
    }
    let last = row.status_sequence_id.as_deref().unwrap_or_default();
    match sequence::is_newer(last, &report.sequence_id) {
        Err(_) => return Decision::Ignore(StatusIgnored::BadSequence),
        Ok(false) => return Decision::Ignore(StatusIgnored::Stale),
        Ok(true) => {}
    }
    let stored = row.status_hash.as_deref().unwrap_or(&EMPTY_STATUS_HASH);
    if stored == hash {
        return Decision::Ignore(StatusIgnored::Unchanged);
    }
    Decision::Store
}

/// A status a batch writes.
#[derive(Debug)]
pub(crate) struct StoredStatus<'a> {
    pub id: Uuid,
    pub document: &'a RawJson,
    pub hash: &'a str,
    pub sequence_id: &'a str,
    /// The resource version the status reports on (`status_version`).
    pub version: i64,
}

/// What a batch writes: the last stored status of each row (once per row, however many of the
/// batch's reports stored one) and the rows to remove.
#[derive(Debug, Default)]
pub(crate) struct BatchPlan<'a> {
    pub outcomes: Vec<StatusOutcome>,
    pub stores: Vec<StoredStatus<'a>>,
    pub removes: Vec<Uuid>,
}

impl BatchPlan<'_> {
    pub fn writes_nothing(&self) -> bool {
        self.stores.is_empty() && self.removes.is_empty()
    }
}

/// Decides every report of `batch` in order against `rows` (the batch's rows that exist).
pub(crate) fn plan<'a, I>(batch: &[&'a StatusReport], rows: &[StatusRow<I>]) -> BatchPlan<'a>
where
    I: Clone + Into<Uuid>,
{
    let mut rows: HashMap<Uuid, StatusRow<I>> = rows
        .iter()
        .map(|row| (row.id.clone().into(), row.clone()))
        .collect();
    // Per stored row, its last stored report, in the order rows were first stored.
    let mut stored: Vec<(Uuid, &'a StatusReport)> = Vec::new();
    let mut out = BatchPlan::default();
    for &report in batch {
        let Some(row) = rows.get_mut(&report.id) else {
            // Unknown, or removed by an earlier report: as if removed in its own transaction.
            out.outcomes.push(StatusOutcome::UnknownResource);
            continue;
        };
        // Before every §5.2 rule: another cluster's report must not even make this row's
        // own reports look stale.
        if row.consumer_name != report.cluster {
            out.outcomes.push(StatusOutcome::NotOwner);
            continue;
        }
        let outcome = match decide(row, report) {
            Decision::Ignore(why) => StatusOutcome::Ignored(why),
            Decision::Remove => {
                rows.remove(&report.id);
                out.removes.push(report.id);
                StatusOutcome::Removed
            }
            Decision::Store => {
                if let ReportedState::Status { hash, .. } = &report.state {
                    row.status_hash = Some(hash.clone());
                }
                row.status_sequence_id = Some(report.sequence_id.clone());
                match stored.iter_mut().find(|(id, _)| *id == report.id) {
                    Some(last) => last.1 = report,
                    None => stored.push((report.id, report)),
                }
                StatusOutcome::Stored
            }
        };
        out.outcomes.push(outcome);
    }
    for (id, report) in stored {
        // A row stored and then removed in the same batch is only removed.
        if let (true, ReportedState::Status { document, hash }) =
            (rows.contains_key(&id), &report.state)
        {
            out.stores.push(StoredStatus {
                id,
                document,
                hash,
                sequence_id: &report.sequence_id,
                version: report.version,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: Uuid, version: i64, seq: Option<&str>, hash: Option<&str>) -> StatusRow<Uuid> {
        StatusRow {
            id,
            consumer_name: "c1".to_owned(),
            version,
            deleted_at: None,
            status_hash: hash.map(str::to_owned),
            status_sequence_id: seq.map(str::to_owned),
            status_updated_at: seq.map(|_| Utc::now()),
        }
    }

    fn status(id: Uuid, version: i64, seq: &str, hash: &str) -> StatusReport {
        StatusReport {
            id,
            cluster: "c1".to_owned(),
            version,
            sequence_id: seq.to_owned(),
            state: ReportedState::Status {
                document: serde_json::value::to_raw_value(&hash).expect("raw"),
                hash: hash.to_owned(),
            },
        }
    }

    fn deleted(id: Uuid, seq: &str) -> StatusReport {
        StatusReport {
            id,
            cluster: "c1".to_owned(),
            version: 1,
            sequence_id: seq.to_owned(),
            state: ReportedState::Deleted,
        }
    }

    #[test]
    fn the_rules_apply_in_sdk_go_order() {
        let id = Uuid::new_v4();
        let r = row(id, 2, Some("5"), Some("h5"));
        let ignored = |why| Decision::Ignore(why);
        assert_eq!(decide(&r, &status(id, 2, "6", "h6")), Decision::Store);
        assert_eq!(decide(&r, &status(id, 1, "6", "h6")), Decision::Store);
        assert_eq!(
            decide(&r, &status(id, 3, "6", "h6")),
            ignored(StatusIgnored::VersionAhead)
        );
        assert_eq!(
            decide(&r, &status(id, 2, "5", "h6")),
            ignored(StatusIgnored::Stale)
        );
        assert_eq!(
            decide(&r, &status(id, 2, "x", "h6")),
            ignored(StatusIgnored::BadSequence)
        );
        assert_eq!(
            decide(&r, &status(id, 2, "6", "h5")),
            ignored(StatusIgnored::Unchanged)
        );
        assert_eq!(
            decide(&r, &deleted(id, "1")),
            ignored(StatusIgnored::NotDeleting),
            "Deleted comes before the guards"
        );
        let deleting = StatusRow {
            deleted_at: Some(Utc::now()),
            ..r
        };
        assert_eq!(decide(&deleting, &deleted(id, "1")), Decision::Remove);
    }

    #[test]
    fn a_first_report_is_compared_with_the_empty_status() {
        let id = Uuid::new_v4();
        let fresh = row(id, 1, None, None);
        assert_eq!(decide(&fresh, &status(id, 1, "1", "h")), Decision::Store);
        assert_eq!(
            decide(&fresh, &status(id, 1, "1", &EMPTY_STATUS_HASH)),
            Decision::Ignore(StatusIgnored::Unchanged)
        );
    }

    #[test]
    fn reports_of_one_row_see_each_other_and_the_row_is_written_once() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let batch = [
            status(a, 1, "6", "h6"),
            status(b, 1, "1", "hb"),
            status(a, 1, "6", "h6b"),
            status(a, 1, "7", "h7"),
        ];
        let batch: Vec<&StatusReport> = batch.iter().collect();
        let plan = plan(
            &batch,
            &[row(a, 1, Some("5"), Some("h5")), row(b, 1, None, None)],
        );
        assert_eq!(
            plan.outcomes,
            [
                StatusOutcome::Stored,
                StatusOutcome::Stored,
                StatusOutcome::Ignored(StatusIgnored::Stale),
                StatusOutcome::Stored,
            ]
        );
        let written: Vec<(Uuid, &str)> = plan.stores.iter().map(|s| (s.id, s.hash)).collect();
        assert_eq!(written, [(a, "h7"), (b, "hb")]);
        assert!(plan.removes.is_empty());
    }

    #[test]
    fn a_removed_row_is_unknown_to_later_reports_and_not_stored() {
        let (a, missing) = (Uuid::new_v4(), Uuid::new_v4());
        let deleting = StatusRow {
            deleted_at: Some(Utc::now()),
            ..row(a, 1, None, None)
        };
        let batch = [
            status(a, 1, "1", "h1"),
            status(a, 1, "1", "h1"),
            deleted(a, "2"),
            status(a, 1, "3", "h3"),
            status(missing, 1, "1", "h1"),
        ];
        let batch: Vec<&StatusReport> = batch.iter().collect();
        let plan = plan(&batch, &[deleting]);
        assert_eq!(
            plan.outcomes,
            [
                StatusOutcome::Stored,
                StatusOutcome::Ignored(StatusIgnored::Stale),
                StatusOutcome::Removed,
                StatusOutcome::UnknownResource,
                StatusOutcome::UnknownResource,
            ]
        );
        assert_eq!(plan.removes, [a]);
        assert!(plan.stores.is_empty());
    }

    #[test]
    fn another_clusters_report_is_not_owner_and_changes_nothing() {
        let id = Uuid::new_v4();
        let deleting = StatusRow {
            deleted_at: Some(Utc::now()),
            ..row(id, 1, Some("5"), Some("h5"))
        };
        let forged = |mut report: StatusReport| {
            report.cluster = "c2".to_owned();
            report
        };
        let batch = [
            forged(status(id, 1, "9", "hacked")),
            forged(deleted(id, "9")),
            status(id, 1, "6", "h6"),
        ];
        let batch: Vec<&StatusReport> = batch.iter().collect();
        let plan = plan(&batch, &[deleting]);
        assert_eq!(
            plan.outcomes,
            [
                StatusOutcome::NotOwner,
                StatusOutcome::NotOwner,
                StatusOutcome::Stored,
            ],
            "the owner's report after the forged ones is not stale"
        );
        assert!(plan.removes.is_empty());
        let written: Vec<&str> = plan.stores.iter().map(|s| s.hash).collect();
        assert_eq!(written, ["h6"]);
    }
}
