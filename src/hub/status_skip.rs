//! Skipping a status equal to the stored one without a transaction (§5.2 step 5). A fleet's
//! duplicate reports (a source's status resync with an empty list asks every agent for every
//! status; an agent re-sends a report whose publish timed out) would each take a row lock,
//! a tuple lock write and a commit only to be ignored.
//!
//! Owns the hints: per resource, a prefix of the status hash this hub last stored or found
//! stored. A hint only picks which statuses to check: the check is a read of the committed
//! `status_hash` ([`Statuses::status_hashes`](crate::store::Statuses::status_hashes)), so a status another hub replica stored meanwhile
//! is never mistaken for the one in the hint. A status whose hash matches the committed one is
//! ignored whatever the row lock would show (stale if its sequence id is older, unchanged if
//! newer), so skipping it is the locked decision taken at the time of the read. Statuses whose
//! hint differs or is missing (most: a changed status, or the first after the hub started)
//! cost no read.
//!
//! Must not decide anything else about a status: [`super::status`] does, under the row lock.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use crate::store::{Store, StoreError};

/// The first 8 bytes of a hex status hash (enough to pick candidates; the read decides).
fn prefix(hash: &str) -> u64 {
    hash.get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

/// Per resource, the hash prefix of the status last known stored.
#[derive(Default)]
pub struct StoredHints(Mutex<HashMap<Uuid, u64>>);

impl StoredHints {
    /// The status with this hash is (now) the stored one.
    pub fn stored(&self, id: Uuid, hash: &str) {
        self.lock().insert(id, prefix(hash));
    }

    /// The resource is gone, or its stored status is not known.
    pub fn forget(&self, id: Uuid) {
        self.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, u64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Which of `items` (resource id and the received status's hash, `None` for one that must
    /// go through the lock, such as a `Deleted` report) equal the committed status: their
    /// indexes. An item after a kept item of the same resource is kept too, so the statuses of
    /// one resource are still decided in order.
    pub async fn unchanged(
        &self,
        store: &dyn Store,
        items: &[(Uuid, Option<&str>)],
    ) -> Result<HashSet<usize>, StoreError> {
        let candidates: Vec<Uuid> = {
            let hints = self.lock();
            items
                .iter()
                .filter_map(|(id, hash)| {
                    let hash = (*hash)?;
                    (hints.get(id) == Some(&prefix(hash))).then_some(*id)
                })
                .collect()
        };
        if candidates.is_empty() {
            return Ok(HashSet::new());
        }
        let committed: HashMap<Uuid, String> = store
            .status_hashes(&candidates)
            .await?
            .into_iter()
            .collect();
        let mut kept: HashSet<Uuid> = HashSet::new();
        let mut skipped = HashSet::new();
        for (index, (id, hash)) in items.iter().enumerate() {
            let same = hash.is_some_and(|h| committed.get(id).is_some_and(|c| c == h));
            if same && !kept.contains(id) {
                skipped.insert(index);
            } else {
                kept.insert(*id);
            }
        }
        // Hints that did not hold (another replica stored a status) follow what was read.
        let mut hints = self.lock();
        for id in &candidates {
            match committed.get(id) {
                Some(hash) => hints.insert(*id, prefix(hash)),
                None => hints.remove(id),
            };
        }
        Ok(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_reads_the_first_16_hex_digits_and_tolerates_junk() {
        assert_eq!(prefix("00000000000000ff0000"), 255);
        assert_eq!(prefix("short"), 0);
        assert_eq!(prefix("zzzzzzzzzzzzzzzzzz"), 0);
    }

    #[test]
    fn hints_are_kept_and_forgotten() {
        let hints = StoredHints::default();
        let id = Uuid::new_v4();
        hints.stored(id, "0123456789abcdef0123");
        assert_eq!(hints.len(), 1);
        hints.forget(id);
        assert!(hints.is_empty());
    }
}
