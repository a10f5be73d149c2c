//! The broker's counters: what it routed, refused and dropped. Labels stay bounded (no cluster
//! or source ids), so the hub can export them as metrics.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Events accepted by Publish.
    pub published: AtomicU64,
    /// Copies queued to subscribers.
    pub delivered: AtomicU64,
    /// Publishes refused as malformed or unroutable (`InvalidArgument`).
    pub malformed: AtomicU64,
    /// Requests refused by authorization (`PermissionDenied`).
    pub denied: AtomicU64,
    /// Requests refused by authentication (`Unauthenticated`).
    pub unauthenticated: AtomicU64,
    /// Subscriber streams ended because their queue overflowed.
    pub overflows: AtomicU64,
    /// Events lost by the broker: queued for a stream ended on overflow, or refused because a
    /// source's queue stayed full (that publisher was told to retry).
    pub dropped: AtomicU64,
    /// Publishes that found a source's queue full and waited for room.
    pub source_waits: AtomicU64,
    /// Publishes refused because a source's queue stayed full for the whole wait.
    pub source_busy: AtomicU64,
    /// Subscribe streams opened.
    pub subscriptions: AtomicU64,
    /// Agents' spec resync requests that reached no source and were dropped from the park:
    /// expired before a source subscribed, or not kept because the park was full.
    pub parked_dropped: AtomicU64,
    /// Connections closed on accept: the cap of connections without a subscription was reached.
    pub connections_refused: AtomicU64,
    /// Connections closed for making no call in time, or none for long without a subscription.
    pub connections_timed_out: AtomicU64,
}

/// A point-in-time copy of [`BrokerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStatsSnapshot {
    pub published: u64,
    pub delivered: u64,
    pub malformed: u64,
    pub denied: u64,
    pub unauthenticated: u64,
    pub overflows: u64,
    pub dropped: u64,
    pub source_waits: u64,
    pub source_busy: u64,
    pub subscriptions: u64,
    pub parked_dropped: u64,
    pub connections_refused: u64,
    pub connections_timed_out: u64,
}

impl BrokerStats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> BrokerStatsSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BrokerStatsSnapshot {
            published: read(&self.published),
            delivered: read(&self.delivered),
            malformed: read(&self.malformed),
            denied: read(&self.denied),
            unauthenticated: read(&self.unauthenticated),
            overflows: read(&self.overflows),
            dropped: read(&self.dropped),
            source_waits: read(&self.source_waits),
            source_busy: read(&self.source_busy),
            subscriptions: read(&self.subscriptions),
            parked_dropped: read(&self.parked_dropped),
            connections_refused: read(&self.connections_refused),
            connections_timed_out: read(&self.connections_timed_out),
        }
    }
}
