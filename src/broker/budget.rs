//! The bytes the embedding process's own source ([`super::local`]) may hold in agents' queues
//! at once. In memory that source fills a queue in microseconds, so without a bound a fleet
//! reconnecting together holds every cluster's specs in the broker at once (10,000 clusters ×
//! 10 specs of ~3.4 KB: ~350 MB) until each agent reads them. A publish to agents first
//! reserves its size here and waits while the reservation does not fit; each queued copy
//! carries a [`Held`] that gives its bytes back when the agent's stream takes it.
//!
//! Owns the count, its high-water mark and the wake-ups; must not know queues or routes.
//! Events from gRPC publishers are not counted: each waits for its own Publish call already.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Bytes held by default: enough for the ~50 clusters' answers that keep a reconnecting fleet's
/// agents busy, a small part of what the fleet's specs would take.
pub const DEFAULT_LOCAL_BUDGET: usize = 16 << 20;

/// The budget (see the module doc). Shared by the local source and every queued copy.
#[derive(Debug)]
pub struct AgentBudget {
    limit: usize,
    held: AtomicUsize,
    peak: AtomicUsize,
    /// Reservations that waited for room.
    waits: AtomicU64,
    /// Reservations taken past the limit after waiting the whole bound (an agent stopped
    /// reading while holding the budget): the publish goes on rather than fail.
    overdrawn: AtomicU64,
    freed: Notify,
}

/// Bytes taken from an [`AgentBudget`], given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: Arc<AgentBudget>,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.freed.notify_waiters();
    }
}

/// One event's reservation: a share for each copy queued. The first share is the reserved
/// bytes; a further copy (a cluster with several agents subscribed) takes the same bytes
/// again whether or not they fit. An unused reservation is given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    first: Option<Held>,
    budget: Arc<AgentBudget>,
    bytes: usize,
}

impl Reservation {
    pub fn share(&mut self) -> Held {
        self.first
            .take()
            .unwrap_or_else(|| self.budget.force(self.bytes))
    }
}

/// What the budget has seen, for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetSnapshot {
    pub limit: u64,
    pub held: u64,
    pub peak: u64,
    pub waits: u64,
    pub overdrawn: u64,
}

impl AgentBudget {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            overdrawn: AtomicU64::new(0),
            freed: Notify::new(),
        })
    }

    /// Reserves `bytes`, waiting up to `wait` for them to fit. An event larger than the whole
    /// budget fits when nothing else is held. After `wait` the bytes are taken anyway and
    /// counted as overdrawn: a bounded delay, never a lost event.
    pub async fn reserve(self: &Arc<Self>, bytes: usize, wait: Duration) -> Reservation {
        let held = self.take_within(bytes, wait).await;
        Reservation {
            first: Some(held),
            budget: self.clone(),
            bytes,
        }
    }

    async fn take_within(self: &Arc<Self>, bytes: usize, wait: Duration) -> Held {
        if let Some(held) = self.try_take(bytes) {
            return held;
        }
        self.waits.fetch_add(1, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking again, so a release in between is not missed.
            freed.as_mut().enable();
            if let Some(held) = self.try_take(bytes) {
                return held;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                self.overdrawn.fetch_add(1, Ordering::Relaxed);
                return self.force(bytes);
            }
        }
    }

    fn try_take(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        let mut current = self.held.load(Ordering::Acquire);
        loop {
            if current != 0 && current.saturating_add(bytes) > self.limit {
                return None;
            }
            match self.held.compare_exchange_weak(
                current,
                current + bytes,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.peak.fetch_max(current + bytes, Ordering::Relaxed);
                    return Some(Held {
                        budget: self.clone(),
                        bytes,
                    });
                }
                Err(now) => current = now,
            }
        }
    }

    fn force(self: &Arc<Self>, bytes: usize) -> Held {
        let now = self.held.fetch_add(bytes, Ordering::AcqRel) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Held {
            budget: self.clone(),
            bytes,
        }
    }

    pub fn snapshot(&self) -> BudgetSnapshot {
        BudgetSnapshot {
            limit: self.limit as u64,
            held: self.held.load(Ordering::Relaxed) as u64,
            peak: self.peak.load(Ordering::Relaxed) as u64,
            waits: self.waits.load(Ordering::Relaxed),
            overdrawn: self.overdrawn.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_reservation_waits_until_earlier_ones_are_given_back() {
        let budget = AgentBudget::new(100);
        let first = budget.reserve(60, Duration::from_secs(5)).await;
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(60, Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "60 + 60 does not fit in 100");
        drop(first);
        let second = waiting.await.unwrap();
        let seen = budget.snapshot();
        assert_eq!((seen.held, seen.peak, seen.waits), (60, 60, 1));
        assert_eq!(seen.overdrawn, 0);
        drop(second);
        assert_eq!(budget.snapshot().held, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_larger_than_the_budget_fits_alone_and_a_stuck_one_overdraws_after_the_wait() {
        let budget = AgentBudget::new(100);
        let big = budget.reserve(150, Duration::from_secs(5)).await;
        assert_eq!(budget.snapshot().waits, 0, "nothing else was held");
        let started = tokio::time::Instant::now();
        let late = budget.reserve(10, Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let seen = budget.snapshot();
        assert_eq!((seen.held, seen.peak, seen.overdrawn), (160, 160, 1));
        let mut late = late;
        let (first, second) = (late.share(), late.share());
        assert_eq!(
            budget.snapshot().held,
            170,
            "a second copy takes its bytes again"
        );
        drop((big, late, first, second));
        assert_eq!(budget.snapshot().held, 0);
    }
}
