//! [`PublishCursor`]: where a replica's publisher reads the outbox from (docs/ha.md). Most
//! rounds read only the rows queued since the last complete read; a full round reads the whole
//! queue. Owns that choice and the cursor; must not read the store (the publisher does) nor
//! follow the registry (the fleet member says when it claims).
//!
//! Why the cursor is safe: a row's queue time is the start of the transaction that queued it,
//! by the database's clock, so a row may commit after a later read began. The cursor trails
//! the last complete read's start (also by the database's clock) by [`SLACK`], which covers
//! every transaction shorter than that; full rounds cover the rest, and the rows a claim brings
//! here, which may be older than the cursor.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

/// How far the cursor trails the start of the read it comes from. Every incremental round
/// reads the rows queued within it again (those of other replicas' clusters among them), so it
/// is a cost per round; outbox writes are single statements, far shorter, and a slower one
/// waits for the next full read (at most a second).
pub const SLACK: TimeDelta = TimeDelta::milliseconds(100);

/// When a replica's next publisher round reads the whole outbox, and where the others start.
#[derive(Debug)]
pub struct PublishCursor {
    /// Incremental reads take the rows queued after this; `None` until a read completes.
    after: Option<DateTime<Utc>>,
    /// A full read is due: it stays due until one completes (its pages may take several rounds).
    full_due: bool,
    /// When the last full read completed.
    last_full: Option<Instant>,
    /// How often a full read runs at least.
    full_every: Duration,
    /// Bumped by the fleet member each time this replica claims clusters.
    claims: watch::Receiver<u64>,
}

impl PublishCursor {
    pub fn new(claims: watch::Receiver<u64>, full_every: Duration) -> Self {
        Self {
            after: None,
            full_due: true,
            last_full: None,
            full_every,
            claims,
        }
    }

    /// The next read: `Some(after)` reads the rows queued after it, `None` the whole queue.
    pub fn next_read(&mut self, now: Instant) -> Option<DateTime<Utc>> {
        if self.claims.has_changed().unwrap_or(false) {
            // Seen before the read: a claim that lands during it makes the next round full.
            self.claims.borrow_and_update();
            self.full_due = true;
        }
        if self
            .last_full
            .is_none_or(|at| now.saturating_duration_since(at) >= self.full_every)
        {
            self.full_due = true;
        }
        if self.full_due { None } else { self.after }
    }

    /// Records a read made as [`PublishCursor::next_read`] said (`after`): `returned` rows
    /// against a page of `limit`, started at `read_at` by the database's clock. A full page
    /// leaves everything as it was: more may wait before the cursor, and as the published rows
    /// leave the queue the same read makes progress.
    pub fn read(
        &mut self,
        now: Instant,
        after: Option<DateTime<Utc>>,
        returned: usize,
        limit: i64,
        read_at: DateTime<Utc>,
    ) {
        if i64::try_from(returned).unwrap_or(i64::MAX) >= limit {
            return;
        }
        if after.is_none() {
            self.full_due = false;
            self.last_full = Some(now);
        }
        self.after = Some(read_at - SLACK);
    }

    /// A round failed: the next one reads the whole queue.
    pub fn failed(&mut self) {
        self.full_due = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(1);

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::seconds(seconds)
    }

    fn cursor() -> (watch::Sender<u64>, PublishCursor) {
        let (claims, seen) = watch::channel(0);
        (claims, PublishCursor::new(seen, EVERY))
    }

    #[test]
    fn the_first_read_is_full_and_a_complete_read_sets_the_cursor_behind_its_start() {
        let (_claims, mut cursor) = cursor();
        let now = Instant::now();
        assert_eq!(cursor.next_read(now), None);
        cursor.read(now, None, 3, 10, at(100));
        assert_eq!(cursor.next_read(now), Some(at(100) - SLACK));
        cursor.read(now, Some(at(99)), 0, 10, at(105));
        assert_eq!(cursor.next_read(now), Some(at(105) - SLACK));
    }

    #[test]
    fn a_full_page_leaves_the_cursor_and_a_due_full_read_in_place() {
        let (_claims, mut cursor) = cursor();
        let now = Instant::now();
        cursor.read(now, None, 10, 10, at(100));
        assert_eq!(cursor.next_read(now), None, "the full read has more pages");
        cursor.read(now, None, 2, 10, at(101));
        assert_eq!(cursor.next_read(now), Some(at(101) - SLACK));
        cursor.read(now, Some(at(101) - SLACK), 10, 10, at(102));
        assert_eq!(
            cursor.next_read(now),
            Some(at(101) - SLACK),
            "not moved by a full page"
        );
    }

    #[test]
    fn a_full_read_runs_every_period_after_a_claim_and_after_a_failure() {
        let (claims, mut cursor) = cursor();
        let start = Instant::now();
        cursor.next_read(start);
        cursor.read(start, None, 0, 10, at(100));
        let soon = start + EVERY / 2;
        assert_eq!(cursor.next_read(soon), Some(at(100) - SLACK));
        assert_eq!(cursor.next_read(start + EVERY), None, "the period is up");
        cursor.read(start + EVERY, None, 0, 10, at(101));

        claims.send_modify(|n| *n += 1);
        let later = start + EVERY + EVERY / 2;
        assert_eq!(cursor.next_read(later), None, "a claim");
        cursor.read(later, None, 0, 10, at(102));
        assert_eq!(cursor.next_read(later), Some(at(102) - SLACK), "seen once");

        cursor.failed();
        assert_eq!(cursor.next_read(later), None, "a failed round");
    }
}
