//! Agents' spec resync requests that reached no source: the one thing the broker keeps (see
//! [`super::registry`]). The latest request per (cluster, data type) waits here and is handed
//! to the next source that subscribes for that data type and is addressed by it.
//!
//! Bounded in time and in count, so that a data type no source ever subscribes to (an agent
//! serving `manifests` beside a hub that publishes `manifestbundles` only) or a stream of
//! cluster names cannot make it grow without limit:
//!
//! - a request is kept for [`ParkLimits::ttl`] (default 5 minutes: a hub restart, a broker
//!   restart with agents reconnecting first). A source that subscribes later receives nothing
//!   parked for it; as with MQTT, where such a request is simply lost, the agents it missed
//!   send their spec resync again when they next (re)subscribe, the source's own status
//!   resync on subscribing brings back their statuses, and the hub republishes any spec no
//!   agent has reported on (`requeue_unreported`).
//! - at most [`ParkLimits::max`] requests are kept (default 65,536); beyond that, a request
//!   from a cluster and data type not already parked is not kept (a parked one is replaced).
//!
//! sdk-go's broker has nothing to compare with: it answers spec resync requests itself from
//! its backend service and refuses a request for a data type it has no service for
//! (`FailedPrecondition`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::queue::Queued;
use super::route::{Party, Target};
use crate::cloudevents::event_type::DataType;
use crate::cloudevents::transport::grpc::proto::CloudEvent;

const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How long and how many spec resync requests are kept for a source that is not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParkLimits {
    pub ttl: Duration,
    pub max: usize,
}

impl Default for ParkLimits {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            max: 65_536,
        }
    }
}

/// Whether a request was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parking {
    /// Kept (new, or replacing the same cluster's earlier request of that data type).
    Parked,
    /// Not kept: [`ParkLimits::max`] requests are parked already.
    Full,
}

struct Entry {
    target: Target,
    message: CloudEvent,
    at: Instant,
}

/// The parked requests, under the registry's lock.
pub struct Parked {
    limits: ParkLimits,
    entries: HashMap<(String, DataType), Entry>,
    last_sweep: Instant,
}

impl Parked {
    pub fn new(limits: ParkLimits) -> Self {
        Self {
            limits,
            entries: HashMap::new(),
            last_sweep: Instant::now(),
        }
    }

    /// Keeps `message` as `cluster`'s latest request for `data_type`. Expired requests are
    /// swept first when a TTL has passed since the last sweep, or when the park is full.
    /// Returns how it went and how many expired requests the sweep dropped.
    pub fn park(
        &mut self,
        cluster: &str,
        data_type: &DataType,
        target: &Target,
        message: &CloudEvent,
        now: Instant,
    ) -> (Parking, usize) {
        let key = (cluster.to_owned(), data_type.clone());
        let full = self.entries.len() >= self.limits.max && !self.entries.contains_key(&key);
        let since = now.duration_since(self.last_sweep);
        // A full park is swept at most once a second: a flood of new clusters while full
        // must not scan every entry for each request.
        let due = since >= self.limits.ttl || (full && since >= FULL_SWEEP_EVERY);
        let expired = if due { self.sweep(now) } else { 0 };
        if self.entries.len() >= self.limits.max && !self.entries.contains_key(&key) {
            return (Parking::Full, expired);
        }
        // The event is copied only once it is kept.
        let entry = Entry {
            target: target.clone(),
            message: message.clone(),
            at: now,
        };
        self.entries.insert(key, entry);
        (Parking::Parked, expired)
    }

    /// Moves the unexpired requests `party` (a source subscribing for `data_type`) is
    /// addressed by into its fresh queue, as many as fit, and drops every expired request.
    /// Returns (handed over, expired).
    pub fn hand_over(
        &mut self,
        party: &Party,
        data_type: &DataType,
        queue: &mpsc::Sender<Queued>,
        now: Instant,
    ) -> (usize, usize) {
        let ttl = self.limits.ttl;
        let (mut handed, mut expired) = (0, 0);
        self.entries.retain(|(_, parked_type), entry| {
            if now.duration_since(entry.at) >= ttl {
                expired += 1;
                return false;
            }
            if parked_type != data_type || !addressed(&entry.target, party) {
                return true;
            }
            let sent = queue.try_send(Queued::new(&entry.message)).is_ok();
            handed += usize::from(sent);
            !sent
        });
        self.last_sweep = now;
        (handed, expired)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn sweep(&mut self, now: Instant) -> usize {
        let ttl = self.limits.ttl;
        let before = self.entries.len();
        self.entries
            .retain(|_, entry| now.duration_since(entry.at) < ttl);
        self.last_sweep = now;
        before - self.entries.len()
    }
}

fn addressed(target: &Target, party: &Party) -> bool {
    match (target, party) {
        (Target::Cluster(name), Party::Agent { cluster }) => **name == **cluster,
        (Target::AllClusters, Party::Agent { .. }) => true,
        (Target::Source(name), Party::Source { source }) => **name == **source,
        (Target::AllSources, Party::Source { .. }) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn bundles() -> DataType {
        DataType::new(
            "io.open-cluster-management.works",
            "v1alpha1",
            "manifestbundles",
        )
    }

    fn request(id: &str) -> CloudEvent {
        CloudEvent {
            id: id.into(),
            ..CloudEvent::default()
        }
    }

    fn hub() -> Party {
        Party::Source {
            source: "hub".into(),
        }
    }

    fn park(parked: &mut Parked, cluster: &str, id: &str, now: Instant) -> (Parking, usize) {
        parked.park(cluster, &bundles(), &Target::AllSources, &request(id), now)
    }

    #[test]
    fn the_latest_request_per_cluster_is_handed_to_the_next_source() {
        let mut parked = Parked::new(ParkLimits::default());
        let t0 = Instant::now();
        park(&mut parked, "c1", "old", t0);
        park(&mut parked, "c1", "new", t0);
        park(&mut parked, "c2", "c2", t0);
        assert_eq!(parked.len(), 2);
        let other_type = DataType::new("io.example", "v1", "widgets");
        let (tx, mut rx) = mpsc::channel(8);
        assert_eq!(parked.hand_over(&hub(), &other_type, &tx, t0), (0, 0));
        assert_eq!(parked.hand_over(&hub(), &bundles(), &tx, t0), (2, 0));
        let mut ids = vec![
            rx.try_recv().unwrap().id.clone(),
            rx.try_recv().unwrap().id.clone(),
        ];
        ids.sort();
        assert_eq!(ids, ["c2", "new"]);
        assert!(parked.is_empty());
    }

    #[test]
    fn a_request_older_than_the_ttl_is_dropped_not_handed_over() {
        let limits = ParkLimits {
            ttl: MINUTE,
            max: 10,
        };
        let mut parked = Parked::new(limits);
        let t0 = Instant::now();
        park(&mut parked, "c1", "early", t0);
        park(&mut parked, "c2", "late", t0 + MINUTE / 2);
        let (tx, mut rx) = mpsc::channel(8);
        let later = t0 + MINUTE + Duration::from_secs(1);
        assert_eq!(parked.hand_over(&hub(), &bundles(), &tx, later), (1, 1));
        assert_eq!(rx.try_recv().unwrap().id, "late".to_owned());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn expired_requests_are_swept_by_later_parking_without_a_source() {
        let mut parked = Parked::new(ParkLimits {
            ttl: MINUTE,
            max: 10,
        });
        let t0 = Instant::now();
        for c in ["c1", "c2", "c3"] {
            park(&mut parked, c, c, t0);
        }
        assert_eq!(
            park(&mut parked, "c4", "c4", t0 + MINUTE),
            (Parking::Parked, 3)
        );
        assert_eq!(parked.len(), 1);
    }

    #[test]
    fn beyond_the_limit_new_clusters_are_not_parked_but_parked_ones_are_replaced() {
        let mut parked = Parked::new(ParkLimits {
            ttl: MINUTE,
            max: 2,
        });
        let t0 = Instant::now();
        assert_eq!(park(&mut parked, "c1", "a", t0).0, Parking::Parked);
        assert_eq!(park(&mut parked, "c2", "b", t0).0, Parking::Parked);
        assert_eq!(park(&mut parked, "c3", "c", t0).0, Parking::Full);
        assert_eq!(park(&mut parked, "c1", "a2", t0).0, Parking::Parked);
        assert_eq!(parked.len(), 2);
        // Once the first ones expire, there is room again.
        let later = t0 + MINUTE;
        assert_eq!(park(&mut parked, "c3", "c", later), (Parking::Parked, 2));
        assert_eq!(parked.len(), 1);
    }

    #[test]
    fn requests_that_do_not_fit_the_source_queue_stay_parked() {
        let mut parked = Parked::new(ParkLimits::default());
        let t0 = Instant::now();
        for c in ["c1", "c2", "c3"] {
            park(&mut parked, c, c, t0);
        }
        let (tx, _rx) = mpsc::channel(2);
        assert_eq!(parked.hand_over(&hub(), &bundles(), &tx, t0), (2, 0));
        assert_eq!(parked.len(), 1);
    }
}
