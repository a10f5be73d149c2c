//! What a source does with a received status (docs/protocol.md §5.2, C13), as a pure function the
//! hub calls with its cached work and the decoded event: the Deleted rule, the version guard,
//! the sequence guard and the deep-equal skip, in sdk-go's order.

use super::model::{ManifestWork, SEQUENCE_ID_ANNOTATION};
use super::sequence::{self, SequenceError};

/// The decision for one received status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// Store this work (the cached one with the new status and sequence id).
    Update(Box<ManifestWork>),
    /// The agent finished deleting the work: drop it from the cache (§4.7).
    Deleted,
    /// The work is not cached and not deleted: the cache may not be ready; retry later.
    NotFound,
    /// Nothing to do, and why.
    Ignore(IgnoreReason),
}

/// Why a received status changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// A Deleted status for a work the source no longer has.
    AlreadyGone,
    /// The agent reports a version newer than the source ever issued.
    VersionAhead {
        /// The generation the source holds.
        cached: i64,
        /// The generation the status is for.
        received: i64,
    },
    /// The sequence id is not newer than the last accepted one.
    Stale,
    /// The sequence ids cannot be compared (parse error or different node).
    BadSequence(SequenceError),
    /// The status equals the cached one.
    Unchanged,
}

/// Applies §5.2 to `received` (from the source codec, with its sequence id annotation)
/// against `cached` (the source's copy, found by resource id).
pub fn apply_status(cached: Option<&ManifestWork>, received: &ManifestWork) -> StatusOutcome {
    let deleted = received.status.is_deleted();
    let Some(cached) = cached else {
        return if deleted {
            StatusOutcome::Ignore(IgnoreReason::AlreadyGone)
        } else {
            StatusOutcome::NotFound
        };
    };
    if deleted {
        return StatusOutcome::Deleted;
    }
    let (cached_version, received_version) =
        (cached.metadata.generation, received.metadata.generation);
    if cached_version != 0 && received_version > cached_version {
        return StatusOutcome::Ignore(IgnoreReason::VersionAhead {
            cached: cached_version,
            received: received_version,
        });
    }
    match sequence::is_newer(cached.sequence_id(), received.sequence_id()) {
        Err(err) => return StatusOutcome::Ignore(IgnoreReason::BadSequence(err)),
        Ok(false) => return StatusOutcome::Ignore(IgnoreReason::Stale),
        Ok(true) => {}
    }
    if cached.status == received.status {
        return StatusOutcome::Ignore(IgnoreReason::Unchanged);
    }
    let mut updated = cached.clone();
    updated.metadata.annotations.insert(
        SEQUENCE_ID_ANNOTATION.to_owned(),
        received.sequence_id().to_owned(),
    );
    updated.status = received.status.clone();
    StatusOutcome::Update(Box::new(updated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::model::status::{CONDITION_DELETED, REASON_MANIFESTS_DELETED};
    use crate::work::model::{Condition, Time};

    const SEQ_1: &str = "1929145946591989760";
    const SEQ_2: &str = "1929145946591989761";
    const OTHER_NODE: &str = "1929145950786297856";

    fn work(generation: i64, sequence_id: &str, condition: &str) -> ManifestWork {
        let mut work = ManifestWork::default();
        work.metadata.uid = "id".into();
        work.metadata.generation = generation;
        if !sequence_id.is_empty() {
            work.metadata
                .annotations
                .insert(SEQUENCE_ID_ANNOTATION.into(), sequence_id.into());
        }
        if !condition.is_empty() {
            work.status.conditions.push(Condition {
                type_: condition.into(),
                status: "True".into(),
                last_transition_time: Some(Time::now()),
                reason: REASON_MANIFESTS_DELETED.into(),
                ..Condition::default()
            });
        }
        work
    }

    #[test]
    fn a_newer_status_is_stored_with_its_sequence_id() {
        let cached = work(2, SEQ_1, "");
        let received = work(2, SEQ_2, "Applied");
        let StatusOutcome::Update(updated) = apply_status(Some(&cached), &received) else {
            panic!("expected an update");
        };
        assert_eq!(updated.sequence_id(), SEQ_2);
        assert_eq!(updated.status, received.status);
        // First status ever: empty last sequence id is always older.
        assert!(matches!(
            apply_status(Some(&work(2, "", "")), &received),
            StatusOutcome::Update(_)
        ));
    }

    #[test]
    fn deleted_drops_the_cached_work_or_is_ignored_when_gone() {
        let deleted = work(1, SEQ_2, CONDITION_DELETED);
        assert_eq!(
            apply_status(Some(&work(1, SEQ_1, "")), &deleted),
            StatusOutcome::Deleted
        );
        assert_eq!(
            apply_status(None, &deleted),
            StatusOutcome::Ignore(IgnoreReason::AlreadyGone)
        );
        assert_eq!(
            apply_status(None, &work(1, SEQ_2, "Applied")),
            StatusOutcome::NotFound
        );
    }

    #[test]
    fn guards_reject_ahead_versions_stale_and_foreign_sequences_and_no_ops() {
        let cached = work(2, SEQ_2, "Applied");
        assert_eq!(
            apply_status(Some(&cached), &work(3, "1929145946596184064", "Available")),
            StatusOutcome::Ignore(IgnoreReason::VersionAhead {
                cached: 2,
                received: 3
            })
        );
        // An unversioned cached work has no version guard.
        assert!(matches!(
            apply_status(Some(&work(0, SEQ_1, "")), &work(3, SEQ_2, "Available")),
            StatusOutcome::Update(_)
        ));
        assert_eq!(
            apply_status(Some(&cached), &work(2, SEQ_1, "Available")),
            StatusOutcome::Ignore(IgnoreReason::Stale)
        );
        assert!(matches!(
            apply_status(Some(&cached), &work(2, OTHER_NODE, "Available")),
            StatusOutcome::Ignore(IgnoreReason::BadSequence(
                SequenceError::DifferentNode { .. }
            ))
        ));
        let mut same = cached.clone();
        same.metadata
            .annotations
            .insert(SEQUENCE_ID_ANNOTATION.into(), "1929145946596184064".into());
        assert_eq!(
            apply_status(Some(&cached), &same),
            StatusOutcome::Ignore(IgnoreReason::Unchanged)
        );
    }
}
