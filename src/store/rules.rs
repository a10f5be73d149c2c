//! The rules both backends apply around their own SQL: what an update may change, when a
//! consumer may go, which constraint error means what, and how a batch of creates falls back
//! to one by one. A backend runs its statements and asks here; the rules are written once.
//!
//! Must not run SQL: only the backends do.

use async_trait::async_trait;
use tracing::debug;
use uuid::Uuid;

use super::rows::{BatchRows, created_in_batch, is_unique_violation};
use super::{NewResource, Resource, ResourceSpec, StoreError};

/// Whether replacing `current`'s spec with `spec`, based on `expected_version`, writes a new
/// version (`true`) or changes nothing (`false`: the same spec); refused while deleting, on a
/// version conflict, or when the version would pass the wire's int32.
pub(crate) fn update_writes(
    current: &Resource,
    expected_version: i64,
    spec: &ResourceSpec,
) -> Result<bool, StoreError> {
    if current.deleted_at.is_some() {
        return Err(StoreError::ResourceDeleting(current.id));
    }
    if current.version != expected_version {
        return Err(StoreError::VersionConflict {
            id: current.id,
            expected: expected_version,
            current: current.version,
        });
    }
    if current.spec.same_as(spec) {
        return Ok(false);
    }
    if current.version >= i64::from(i32::MAX) {
        return Err(StoreError::VersionExhausted);
    }
    Ok(true)
}

/// A consumer may be deleted only once it has no resources.
pub(crate) fn consumer_deletable(name: String, resources: i64) -> Result<(), StoreError> {
    match resources {
        0 => Ok(()),
        n => Err(StoreError::ConsumerInUse(name, n)),
    }
}

/// A unique violation on a consumer insert is its name being taken.
pub(crate) fn consumer_exists_or(err: sqlx::Error, name: &str) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::ConsumerExists(name.to_owned())
    } else {
        err.into()
    }
}

/// A backend's two ways to create resources, for [`create_batch`].
#[async_trait]
pub(crate) trait CreateRows: Sync {
    type Id: Into<Uuid> + Send;
    /// Every row of `batch` whose consumer exists, all or nothing, in one transaction: the
    /// generated fields in the batch's order.
    async fn insert_batch(&self, batch: &[NewResource]) -> Result<BatchRows<Self::Id>, StoreError>;
    /// One row, with its own error.
    async fn create_one(&self, new: NewResource) -> Result<Resource, StoreError>;
}

/// The batch in one transaction; if it fails (a taken name fails the whole of it), row by row,
/// so that each create gets its own error and nothing is half-written.
pub(crate) async fn create_batch<C: CreateRows>(
    creator: &C,
    batch: Vec<NewResource>,
) -> Vec<Result<Resource, StoreError>> {
    if batch.len() > 1 {
        match creator.insert_batch(&batch).await {
            Ok(rows) => return created_in_batch(batch, rows),
            Err(err) => debug!(%err, rows = batch.len(), "batch insert failed; row by row"),
        }
    }
    let mut results = Vec::with_capacity(batch.len());
    for new in batch {
        results.push(creator.create_one(new).await);
    }
    results
}
