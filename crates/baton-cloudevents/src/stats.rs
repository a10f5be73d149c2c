//! Counters a client or transport keeps about its traffic, so that a malformed event is never
//! silent: every drop is logged and counted here. The hub exports them as metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters; cheap to bump from any task.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub published: AtomicU64,
    pub publish_failures: AtomicU64,
    pub received: AtomicU64,
    /// Events dropped because they could not be parsed or decoded.
    pub malformed: AtomicU64,
    /// Events deliberately ignored (wrong cluster, stale version, unknown data type, ...).
    pub ignored: AtomicU64,
    /// Events dropped because their `clustername` is not the cluster their route names (an
    /// MQTT topic's cluster segment).
    pub misaddressed: AtomicU64,
    pub handler_failures: AtomicU64,
    /// Resync requests sent.
    pub resyncs_sent: AtomicU64,
    /// Resync requests answered.
    pub resyncs_answered: AtomicU64,
    /// Times the subscription was (re)established.
    pub subscriptions: AtomicU64,
}

/// A point-in-time copy of a client's or a transport's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Events the transport accepted.
    pub published: u64,
    /// Publishes that failed.
    pub publish_failures: u64,
    /// Events received (heartbeats not counted).
    pub received: u64,
    /// Events dropped because they could not be parsed or decoded.
    pub malformed: u64,
    /// Events deliberately ignored (wrong cluster, stale version, unknown data type, ...).
    pub ignored: u64,
    /// Events dropped because their `clustername` is not the cluster their route names (an
    /// MQTT topic's cluster segment).
    pub misaddressed: u64,
    /// Handler calls that returned an error.
    pub handler_failures: u64,
    /// Resync requests sent.
    pub resyncs_sent: u64,
    /// Resync requests answered.
    pub resyncs_answered: u64,
    /// Times the subscription was (re)established.
    pub subscriptions: u64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            published: read(&self.published),
            publish_failures: read(&self.publish_failures),
            received: read(&self.received),
            malformed: read(&self.malformed),
            ignored: read(&self.ignored),
            misaddressed: read(&self.misaddressed),
            handler_failures: read(&self.handler_failures),
            resyncs_sent: read(&self.resyncs_sent),
            resyncs_answered: read(&self.resyncs_answered),
            subscriptions: read(&self.subscriptions),
        }
    }
}
