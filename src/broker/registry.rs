//! The subscriber table: who listens for what, and delivery into each subscriber's bounded
//! queue. A full *agent* queue ends that agent's stream (it closes with `RESOURCE_EXHAUSTED`,
//! the agent reconnects and resyncs its specs), so one slow agent never blocks a publisher or
//! the others. A full *source* queue is different: a source hears a whole fleet, and ending
//! its stream would drop every status and resync request queued for it (tens of thousands
//! during a fleet restart), which no resync fully brings back. So the publisher waits for room
//! (outside the table lock, in queue order) up to a bound, and is then refused: the agent
//! retries its own event, nothing else is lost. Every dropped event is counted.
//!
//! One exception to "forward, don't store": an agent's spec resync request that reaches no
//! source is parked (the latest per cluster and data type, for a bounded time and number:
//! [`super::parked`]) and handed to the next source that subscribes for it. Agents resync when
//! *they* (re)subscribe; after a broker restart an agent often reconnects before the hub's
//! source does, and its request would otherwise be lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::budget::Reservation;
use super::index::Index;
use super::parked::{ParkLimits, Parked, Parking};
use super::queue::{self, Overflow, QueueRx, QueueTx, Queued, TrySend};
pub use super::route::Party;
use super::route::{Route, Target};
use super::stats::BrokerStats;
use crate::cloudevents::event_type::DataType;
use crate::cloudevents::transport::grpc::proto::CloudEvent;

/// One subscription. Small, because the broker keeps one per connected agent: the name is
/// shared with the index, the data type with every subscription of that type.
struct Subscriber {
    party: Party,
    data_type: Arc<DataType>,
    queue: QueueTx,
    /// Raised when the queue overflowed: the stream ends with an error.
    overflow: Overflow,
}

impl Subscriber {
    fn is_source(&self) -> bool {
        matches!(self.party, Party::Source { .. })
    }
}

/// A subscription whose queue was full when an event came, to wait on: a source's, or an
/// agent's when the publisher waits for agents too ([`Registry::deliver_waiting_for_agents`]).
struct Full {
    id: u64,
    party: Party,
    /// A source's queue, waited on through a clone of its sender; `None` for an agent's,
    /// waited on through its own sender in the table ([`Registry::wait_for_agent_room`]).
    source_queue: Option<tokio::sync::mpsc::Sender<Queued>>,
    overflow: Overflow,
}

/// Why a wait for room ended without queuing the event.
enum WaitError {
    /// Still full after the whole wait.
    Timeout,
    /// The stream is gone.
    Closed,
}

/// How often a wait for an agent's queue looks again even if not woken: a `futures` sender
/// wakes only the last task that polled it, so two publishers waiting on one agent's queue
/// would otherwise leave the first asleep until its wait ran out.
const AGENT_ROOM_RECHECK: Duration = Duration::from_millis(10);

/// A source's queue stayed full for the whole wait: the event was not queued for it.
#[derive(Debug, thiserror::Error)]
#[error("{party:?} is not taking events (its queue stayed full for {waited:?}); retry")]
pub struct SourceBusy {
    pub party: Party,
    pub waited: Duration,
}

/// What a new subscription gets: its queue and the flag raised on overflow.
pub struct Subscription {
    pub id: u64,
    pub queue: QueueRx,
    pub overflow: Overflow,
}

struct Table {
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
    agents: Index,
    sources: Index,
    /// Undelivered spec resync requests by (cluster, data type).
    parked: Parked,
    /// The data types subscribed to so far (a handful), shared by their subscriptions.
    data_types: Vec<Arc<DataType>>,
}

/// The ids of the subscriptions `target` addresses (of any data type), read from the index
/// in place (the subscriber map is borrowed apart from it while they are delivered to).
fn addressed<'a>(
    agents: &'a Index,
    sources: &'a Index,
    target: &'a Target,
) -> impl Iterator<Item = u64> + 'a {
    let (index, name) = match target {
        Target::Cluster(name) => (agents, Some(name)),
        Target::AllClusters => (agents, None),
        Target::Source(name) => (sources, Some(name)),
        Target::AllSources => (sources, None),
    };
    let named = name.map_or(&[][..], |name| index.of(name)).iter().copied();
    let every = name.is_none().then(|| index.all()).into_iter().flatten();
    named.chain(every)
}

impl Table {
    fn index_of(&mut self, party: &Party) -> (&mut Index, Arc<str>) {
        match party {
            Party::Agent { cluster } => (&mut self.agents, cluster.clone()),
            Party::Source { source } => (&mut self.sources, source.clone()),
        }
    }

    fn insert(&mut self, id: u64, subscriber: Subscriber) {
        let (index, name) = self.index_of(&subscriber.party);
        index.add(&name, id);
        self.subscribers.insert(id, subscriber);
    }

    fn remove(&mut self, id: u64) {
        let Some(subscriber) = self.subscribers.remove(&id) else {
            return;
        };
        let (index, name) = self.index_of(&subscriber.party);
        index.remove(&name, id);
    }

    /// The shared copy of `data_type`.
    fn intern(&mut self, data_type: DataType) -> Arc<DataType> {
        if let Some(known) = self.data_types.iter().find(|t| ***t == data_type) {
            return known.clone();
        }
        // Types no subscription uses any more go, so clients naming ever new types cannot
        // grow the list.
        self.data_types.retain(|t| Arc::strong_count(t) > 1);
        let shared = Arc::new(data_type);
        self.data_types.push(shared.clone());
        shared
    }
}

/// A source subscription's queue is this many times an agent's (the configured capacity).
pub const SOURCE_QUEUE_FACTOR: usize = 64;

/// Shared by the service and every subscriber stream.
pub struct Registry {
    table: Mutex<Table>,
    capacity: usize,
    stats: Arc<BrokerStats>,
}

impl Registry {
    /// A registry with queues of `capacity` and the default [`ParkLimits`].
    pub fn new(capacity: usize, stats: Arc<BrokerStats>) -> Self {
        Self::with_park_limits(capacity, ParkLimits::default(), stats)
    }

    pub fn with_park_limits(capacity: usize, park: ParkLimits, stats: Arc<BrokerStats>) -> Self {
        Self {
            table: Mutex::new(Table {
                next_id: 0,
                subscribers: HashMap::new(),
                agents: Index::default(),
                sources: Index::default(),
                parked: Parked::new(park),
                data_types: Vec::new(),
            }),
            capacity,
            stats,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn add(&self, party: Party, data_type: DataType) -> Subscription {
        // A source hears every agent it owns: its queue scales with the fleet, so a burst of
        // status from thousands of agents does not end the one stream they all report to.
        let (queue, rx) = match party {
            Party::Source { .. } => {
                queue::source(self.capacity.saturating_mul(SOURCE_QUEUE_FACTOR))
            }
            Party::Agent { .. } => queue::agent(self.capacity),
        };
        let overflow = Overflow::default();
        let mut table = self.lock();
        table.next_id += 1;
        let id = table.next_id;
        if let Some(source_queue) = queue.source_sender() {
            let now = Instant::now();
            let (_, expired) = table
                .parked
                .hand_over(&party, &data_type, source_queue, now);
            BrokerStats::add(&self.stats.parked_dropped, expired as u64);
        }
        let data_type = table.intern(data_type);
        table.insert(
            id,
            Subscriber {
                party,
                data_type,
                queue,
                overflow: overflow.clone(),
            },
        );
        Subscription {
            id,
            queue: rx,
            overflow,
        }
    }

    pub fn remove(&self, id: u64) {
        self.lock().remove(id);
    }

    /// Drops every subscription (the broker is shutting down): each queue's sender goes, which
    /// wakes its stream to end.
    pub fn close_all(&self) {
        let mut table = self.lock();
        let ids: Vec<u64> = table.subscribers.keys().copied().collect();
        for id in ids {
            table.remove(id);
        }
    }

    /// Queues `message` for every subscriber `route` addresses; returns how many got it.
    /// Looks only at the addressed party's subscriptions (all of one kind for a broadcast).
    /// A full source queue is waited on for up to `wait` (see the module doc); if it stays
    /// full, the event is not queued for that source and [`SourceBusy`] says so.
    pub async fn deliver(
        &self,
        route: &Route,
        message: &CloudEvent,
        wait: Duration,
    ) -> Result<usize, SourceBusy> {
        self.deliver_with(route, message, wait, None).await
    }

    /// Like [`Registry::deliver`], but a full *agent* queue is waited on too, for up to
    /// `wait`, before its stream is ended: for a publisher in the broker's own process
    /// (`local`), which would otherwise fill a large cluster's queue in microseconds, faster
    /// than any agent reads it. Each copy queued to an agent carries a share of `reservation`
    /// (`super::budget`).
    pub async fn deliver_waiting_for_agents(
        &self,
        route: &Route,
        message: &CloudEvent,
        wait: Duration,
        reservation: Reservation,
    ) -> Result<usize, SourceBusy> {
        self.deliver_with(route, message, wait, Some(reservation))
            .await
    }

    /// `reservation`: `Some` when the publisher waits for agents (see above).
    async fn deliver_with(
        &self,
        route: &Route,
        message: &CloudEvent,
        wait: Duration,
        mut reservation: Option<Reservation>,
    ) -> Result<usize, SourceBusy> {
        let (mut delivered, full) = self.queue_now(route, message, reservation.as_mut());
        let mut busy = None;
        for sub in full {
            BrokerStats::bump(&self.stats.source_waits);
            let queued = match &sub.source_queue {
                Some(queue) => queue
                    .send_timeout(Queued::new(message), wait)
                    .await
                    .map_err(|err| match err {
                        tokio::sync::mpsc::error::SendTimeoutError::Timeout(_) => {
                            WaitError::Timeout
                        }
                        tokio::sync::mpsc::error::SendTimeoutError::Closed(_) => WaitError::Closed,
                    }),
                None => {
                    self.wait_for_agent_room(sub.id, message, wait, reservation.as_mut())
                        .await
                }
            };
            match queued {
                Ok(()) => delivered += 1,
                Err(WaitError::Timeout) if matches!(sub.party, Party::Agent { .. }) => {
                    self.overflow(&sub.party, &sub.overflow);
                    self.remove(sub.id);
                }
                Err(WaitError::Timeout) => {
                    BrokerStats::bump(&self.stats.source_busy);
                    BrokerStats::bump(&self.stats.dropped);
                    warn!(party = ?sub.party, ?wait, "source queue stayed full: publish refused, the publisher retries");
                    busy = Some(SourceBusy {
                        party: sub.party,
                        waited: wait,
                    });
                }
                Err(WaitError::Closed) => self.remove(sub.id),
            }
        }
        match busy {
            Some(busy) => Err(busy),
            None => Ok(delivered),
        }
    }

    /// Queues `message` for agent subscription `id` once its queue has room, waiting at most
    /// `wait`. The subscription's own sender is polled under the table's lock, so the queue
    /// stays bounded exactly (a cloned `futures` sender would bring a slot of its own).
    async fn wait_for_agent_room(
        &self,
        id: u64,
        message: &CloudEvent,
        wait: Duration,
        mut reservation: Option<&mut Reservation>,
    ) -> Result<(), WaitError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(WaitError::Timeout);
            }
            let room = std::future::poll_fn(|cx| {
                self.poll_agent_room(id, message, reservation.as_deref_mut(), cx)
            });
            if let Ok(queued) = tokio::time::timeout(left.min(AGENT_ROOM_RECHECK), room).await {
                return queued;
            }
        }
    }

    fn poll_agent_room(
        &self,
        id: u64,
        message: &CloudEvent,
        reservation: Option<&mut Reservation>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), WaitError>> {
        use std::task::Poll;
        let mut table = self.lock();
        let Some(sub) = table.subscribers.get_mut(&id) else {
            return Poll::Ready(Err(WaitError::Closed));
        };
        match sub.queue.poll_room(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(WaitError::Closed)),
            // A share lost to `Full` is given back; the next try takes one again.
            Poll::Ready(Ok(())) => match sub.queue.try_send(Queued::holding(
                message,
                reservation.map(Reservation::share),
            )) {
                TrySend::Sent => Poll::Ready(Ok(())),
                TrySend::Closed => Poll::Ready(Err(WaitError::Closed)),
                // Another publisher took the room first: wait for the next.
                TrySend::Full => Poll::Pending,
            },
        }
    }

    /// Ends an agent's stream whose queue overflowed: everything queued is lost; the agent
    /// reconnects and resyncs. The stream learns of it when the queue's sender is dropped.
    fn overflow(&self, party: &Party, overflow: &Overflow) {
        let lost = self.capacity as u64 + 1;
        warn!(
            ?party,
            capacity = self.capacity,
            lost,
            "subscriber too slow: queue full, ending its stream"
        );
        BrokerStats::bump(&self.stats.overflows);
        BrokerStats::add(&self.stats.dropped, lost);
        overflow.raise();
    }

    /// The part of [`Registry::deliver`] done under the lock: every queue with room gets the
    /// event; full agent queues end their stream (or are returned to wait on, with
    /// `wait_for_agents`); full source queues are returned to wait on.
    fn queue_now(
        &self,
        route: &Route,
        message: &CloudEvent,
        mut reservation: Option<&mut Reservation>,
    ) -> (usize, Vec<Full>) {
        let wait_for_agents = reservation.is_some();
        let mut table = self.lock();
        let mut delivered = 0;
        let mut dropped = Vec::new();
        let mut full = Vec::new();
        let Table {
            subscribers,
            agents,
            sources,
            ..
        } = &mut *table;
        for id in addressed(agents, sources, &route.target) {
            let Some(sub) = subscribers.get_mut(&id) else {
                continue;
            };
            if *sub.data_type != route.data_type {
                continue;
            }
            // Only agents' copies take a share: a source's queue is bounded by its own waits.
            let share = if sub.is_source() {
                None
            } else {
                reservation.as_deref_mut().map(Reservation::share)
            };
            match sub.queue.try_send(Queued::holding(message, share)) {
                TrySend::Sent => delivered += 1,
                TrySend::Full if sub.is_source() || wait_for_agents => full.push(Full {
                    id,
                    party: sub.party.clone(),
                    source_queue: sub.queue.source_sender().cloned(),
                    overflow: sub.overflow.clone(),
                }),
                TrySend::Full => {
                    // The stream ends before it sends what is queued: all of it is lost.
                    self.overflow(&sub.party, &sub.overflow);
                    dropped.push(id);
                }
                TrySend::Closed => dropped.push(id),
            }
        }
        for id in dropped {
            table.remove(id);
        }
        if delivered == 0 && full.is_empty() && route.parks_when_undelivered() {
            let now = Instant::now();
            let (parking, expired) = table.parked.park(
                &route.cluster,
                &route.data_type,
                &route.target,
                message,
                now,
            );
            BrokerStats::add(&self.stats.parked_dropped, expired as u64);
            if parking == Parking::Full {
                BrokerStats::bump(&self.stats.parked_dropped);
                warn!(cluster = route.cluster, data_type = %route.data_type, "no source for a spec resync request and too many parked already: not kept");
            }
        }
        if !full.is_empty() {
            debug!(
                waiting = full.len(),
                "queue full: the publisher waits for room"
            );
        }
        (delivered, full)
    }

    /// Spec resync requests waiting for a source.
    pub fn parked(&self) -> usize {
        self.lock().parked.len()
    }

    /// Clusters with at least one agent subscribed right now.
    pub fn connected_clusters(&self) -> BTreeSet<String> {
        self.lock().agents.names().map(str::to_owned).collect()
    }

    /// Whether `party` has at least one subscription open.
    pub fn has(&self, party: &Party) -> bool {
        let table = self.lock();
        match party {
            Party::Agent { cluster } => table.agents.contains(cluster),
            Party::Source { source } => table.sources.contains(source),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().subscribers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a subscriber when its stream is dropped (client gone, overflow, shutdown).
pub struct Unregister {
    pub registry: Arc<Registry>,
    pub id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.registry.remove(self.id);
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
