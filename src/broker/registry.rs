//! The subscriber table: who listens for what, and delivery into each subscriber's bounded
//! queue. Delivery never waits: a full queue ends that subscriber (its stream closes with
//! `RESOURCE_EXHAUSTED`, the client reconnects and resyncs), so one slow subscriber never
//! blocks a publisher or the other subscribers.
//!
//! One exception to "forward, don't store": an agent's spec resync request that reaches no
//! source is parked (the latest per cluster and data type) and handed to the next source that
//! subscribes for it. Agents resync when *they* (re)subscribe; after a broker restart an agent
//! often reconnects before the hub's source does, and its request would otherwise be lost.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::route::{Route, Target};
use super::stats::BrokerStats;
use crate::cloudevents::event_type::DataType;
use crate::cloudevents::transport::grpc::proto::CloudEvent;

/// Who a subscription is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Agent { cluster: String },
    Source { source: String },
}

struct Subscriber {
    party: Party,
    data_type: DataType,
    queue: mpsc::Sender<Queued>,
    /// Fired when the queue overflowed: the stream ends with an error.
    overflow: CancellationToken,
}

/// A queued event, boxed, so the queue's nodes stay small whatever the event.
pub type Queued = Box<CloudEvent>;

/// A subscriber's bounded queue holding `capacity` events. `futures`' queue, not tokio's: an
/// idle one costs ~210 bytes of heap instead of ~800 (tokio's keeps several 128-byte
/// cache-padded fields and a first block of 32 slots), and the broker keeps one per agent and
/// data type. Its bound is `buffer` plus one slot per sender; each queue has one sender.
fn queue(capacity: usize) -> (mpsc::Sender<Queued>, mpsc::Receiver<Queued>) {
    mpsc::channel(capacity.saturating_sub(1))
}

/// What a new subscription gets: its queue and the token that ends it on overflow.
pub struct Subscription {
    pub id: u64,
    pub queue: mpsc::Receiver<Queued>,
    pub overflow: CancellationToken,
}

/// Subscription ids by cluster (agents) or by source name (sources), so that delivering an
/// event addressed to one party looks at that party's subscriptions only, not at all of them.
type Index = HashMap<String, Vec<u64>>;

#[derive(Default)]
struct Table {
    next_id: u64,
    subscribers: HashMap<u64, Subscriber>,
    agents: Index,
    sources: Index,
    /// Undelivered spec resync requests by (cluster, data type).
    parked: HashMap<(String, DataType), (Target, CloudEvent)>,
}

impl Table {
    fn index_of(&mut self, party: &Party) -> (&mut Index, String) {
        match party {
            Party::Agent { cluster } => (&mut self.agents, cluster.clone()),
            Party::Source { source } => (&mut self.sources, source.clone()),
        }
    }

    fn insert(&mut self, id: u64, subscriber: Subscriber) {
        let (index, name) = self.index_of(&subscriber.party);
        index.entry(name).or_default().push(id);
        self.subscribers.insert(id, subscriber);
    }

    fn remove(&mut self, id: u64) {
        let Some(subscriber) = self.subscribers.remove(&id) else {
            return;
        };
        let (index, name) = self.index_of(&subscriber.party);
        if let Some(ids) = index.get_mut(&name) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                index.remove(&name);
            }
        }
    }

    /// The ids of the subscriptions `target` addresses (of any data type).
    fn addressed(&self, target: &Target) -> Vec<u64> {
        let one = |index: &Index, name: &str| index.get(name).cloned().unwrap_or_default();
        let all = |index: &Index| index.values().flatten().copied().collect();
        match target {
            Target::Cluster(name) => one(&self.agents, name),
            Target::AllClusters => all(&self.agents),
            Target::Source(name) => one(&self.sources, name),
            Target::AllSources => all(&self.sources),
        }
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
    pub fn new(capacity: usize, stats: Arc<BrokerStats>) -> Self {
        Self {
            table: Mutex::default(),
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
        let capacity = match party {
            Party::Source { .. } => self.capacity.saturating_mul(SOURCE_QUEUE_FACTOR),
            Party::Agent { .. } => self.capacity,
        };
        let (mut queue, rx) = queue(capacity);
        let overflow = CancellationToken::new();
        let mut table = self.lock();
        table.next_id += 1;
        let id = table.next_id;
        if let Party::Source { .. } = &party {
            unpark(&mut table.parked, &party, &data_type, &mut queue);
        }
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

    /// Queues `message` for every subscriber `route` addresses; returns how many got it.
    /// Looks only at the addressed party's subscriptions (all of one kind for a broadcast).
    pub fn deliver(&self, route: &Route, message: &CloudEvent) -> usize {
        let mut table = self.lock();
        let mut delivered = 0;
        let mut dropped = Vec::new();
        for id in table.addressed(&route.target) {
            let Some(sub) = table.subscribers.get_mut(&id) else {
                continue;
            };
            if sub.data_type != route.data_type {
                continue;
            }
            match sub.queue.try_send(Box::new(message.clone())) {
                Ok(()) => delivered += 1,
                Err(err) if err.is_full() => {
                    warn!(party = ?sub.party, capacity = self.capacity, "subscriber too slow: queue full, ending its stream");
                    BrokerStats::bump(&self.stats.overflows);
                    sub.overflow.cancel();
                    dropped.push(id);
                }
                Err(_) => dropped.push(id), // the stream is gone
            }
        }
        for id in dropped {
            table.remove(id);
        }
        if delivered == 0 && route.parks_when_undelivered() {
            let key = (route.cluster.clone(), route.data_type.clone());
            table
                .parked
                .insert(key, (route.target.clone(), message.clone()));
        }
        delivered
    }

    /// Spec resync requests waiting for a source.
    pub fn parked(&self) -> usize {
        self.lock().parked.len()
    }

    /// Clusters with at least one agent subscribed right now.
    pub fn connected_clusters(&self) -> BTreeSet<String> {
        self.lock().agents.keys().cloned().collect()
    }

    /// Whether `party` has at least one subscription open.
    pub fn has(&self, party: &Party) -> bool {
        let table = self.lock();
        match party {
            Party::Agent { cluster } => table.agents.contains_key(cluster),
            Party::Source { source } => table.sources.contains_key(source),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().subscribers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Moves the parked requests `party` is addressed by into its fresh queue (as many as fit).
fn unpark(
    parked: &mut HashMap<(String, DataType), (Target, CloudEvent)>,
    party: &Party,
    data_type: &DataType,
    queue: &mut mpsc::Sender<Queued>,
) {
    parked.retain(|(_, parked_type), (target, message)| {
        if parked_type != data_type || !addressed(target, party) {
            return true;
        }
        queue.try_send(Box::new(message.clone())).is_err()
    });
}

fn addressed(target: &Target, party: &Party) -> bool {
    match (target, party) {
        (Target::Cluster(name), Party::Agent { cluster }) => name == cluster,
        (Target::AllClusters, Party::Agent { .. }) => true,
        (Target::Source(name), Party::Source { source }) => name == source,
        (Target::AllSources, Party::Source { .. }) => true,
        _ => false,
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
mod tests {
    use super::*;
    use crate::broker::route::Direction;

    fn data_type(resource: &str) -> DataType {
        DataType::new("work.open-cluster-management.io", "v1", resource)
    }

    fn route(target: Target, resource: &str) -> Route {
        Route {
            direction: Direction::SourceToAgents,
            data_type: data_type(resource),
            target,
            cluster: String::new(),
            is_resync: false,
        }
    }

    fn agent(cluster: &str) -> Party {
        Party::Agent {
            cluster: cluster.into(),
        }
    }

    #[test]
    fn delivers_only_to_the_addressed_party_and_data_type() {
        let registry = Registry::new(8, Arc::default());
        let mut c1 = registry.add(agent("c1"), data_type("manifestworks"));
        let mut c1_other = registry.add(agent("c1"), data_type("other"));
        let mut c2 = registry.add(agent("c2"), data_type("manifestworks"));
        let message = CloudEvent {
            id: "e1".into(),
            ..CloudEvent::default()
        };

        let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
        assert_eq!(registry.deliver(&to_c1, &message), 1);
        assert_eq!(c1.queue.try_recv().map(|m| m.id), Ok("e1".into()));
        assert!(c1_other.queue.try_recv().is_err());
        assert!(c2.queue.try_recv().is_err());

        let to_all = route(Target::AllClusters, "manifestworks");
        assert_eq!(registry.deliver(&to_all, &message), 2);
        let to_nobody = route(Target::Cluster("c3".into()), "manifestworks");
        assert_eq!(registry.deliver(&to_nobody, &message), 0);
    }

    #[test]
    fn a_source_queue_holds_a_fleet_s_burst_that_would_end_an_agent_s() {
        let registry = Registry::new(8, Arc::default());
        let hub = registry.add(
            Party::Source {
                source: "hub".into(),
            },
            data_type("manifestworks"),
        );
        let slow_agent = registry.add(agent("c1"), data_type("manifestworks"));
        let message = CloudEvent::default();
        let to_hub = route(Target::Source("hub".into()), "manifestworks");
        let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
        for _ in 0..8 * SOURCE_QUEUE_FACTOR {
            assert_eq!(registry.deliver(&to_hub, &message), 1);
        }
        assert!(
            !hub.overflow.is_cancelled(),
            "the source's stream survives the burst"
        );
        for _ in 0..=8 {
            registry.deliver(&to_c1, &message);
        }
        assert!(
            slow_agent.overflow.is_cancelled(),
            "an agent's queue is the configured 8"
        );
    }

    #[test]
    fn an_agent_queue_holds_exactly_the_configured_capacity() {
        let registry = Registry::new(8, Arc::default());
        let mut sub = registry.add(agent("c1"), data_type("manifestworks"));
        let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
        for _ in 0..8 {
            assert_eq!(registry.deliver(&to_c1, &CloudEvent::default()), 1);
        }
        assert!(!sub.overflow.is_cancelled());
        assert_eq!(registry.deliver(&to_c1, &CloudEvent::default()), 0);
        assert!(sub.overflow.is_cancelled(), "the ninth overflows");
        for _ in 0..8 {
            assert!(sub.queue.try_recv().is_ok());
        }
        assert!(sub.queue.try_recv().is_err());
    }

    #[test]
    fn removal_updates_the_index() {
        let registry = Registry::new(8, Arc::default());
        let first = registry.add(agent("c1"), data_type("manifestworks"));
        let second = registry.add(agent("c1"), data_type("manifestworks"));
        assert!(registry.has(&agent("c1")));
        registry.remove(first.id);
        assert!(registry.has(&agent("c1")));
        assert_eq!(registry.connected_clusters().len(), 1);
        registry.remove(second.id);
        assert!(!registry.has(&agent("c1")));
        assert!(registry.connected_clusters().is_empty());
        assert!(registry.is_empty());
    }

    #[test]
    fn a_closed_queue_is_dropped_on_delivery() {
        let registry = Registry::new(8, Arc::default());
        let subscription = registry.add(agent("c1"), data_type("manifestworks"));
        drop(subscription.queue);
        let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
        assert_eq!(registry.deliver(&to_c1, &CloudEvent::default()), 0);
        assert!(!registry.has(&agent("c1")));
    }
}
