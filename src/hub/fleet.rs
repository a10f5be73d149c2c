//! [`FleetMember`]: this replica's part among the hubs on one PostgreSQL database (docs/ha.md).
//! It heartbeats, claims in the connection registry the clusters whose agents subscribe to this
//! replica's built-in broker and releases them when they leave, re-claims what a lapsed
//! heartbeat lost, keeps a snapshot of every replica's connections for the consumer views
//! ([`FleetConnections`]), and leaves the registry when the hub stops. Must not publish (the
//! publisher reads what this claims) nor talk to agents.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::instance::InstanceId;
use super::state::Connections;
use crate::broker::Broker;
use crate::store::fleet::{Connection, Fleet};

/// Timing of the registry.
#[derive(Debug, Clone, Copy)]
pub struct FleetSettings {
    /// How often this replica writes its heartbeat and refreshes its snapshot.
    pub heartbeat: Duration,
    /// A replica whose heartbeat is older than this is dead: its consumers are released.
    pub lease: Duration,
    /// How often the broker's subscriptions are compared with the claims (in memory).
    pub scan: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(2),
            lease: Duration::from_secs(10),
            scan: Duration::from_millis(100),
        }
    }
}

/// Every replica's connections, as of the last heartbeat, plus this replica's broker live.
pub struct FleetConnections {
    broker: Broker,
    source_id: String,
    snapshot: RwLock<HashMap<String, Connection>>,
    /// Set on SIGTERM: `/readyz` fails so that load balancers stop sending requests before
    /// the listener closes.
    draining: AtomicBool,
}

impl FleetConnections {
    pub fn new(broker: Broker, source_id: String) -> Self {
        Self {
            broker,
            source_id,
            snapshot: RwLock::new(HashMap::new()),
            draining: AtomicBool::new(false),
        }
    }

    /// This replica is stopping: report not ready from now on.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    fn replace(&self, connections: Vec<Connection>) {
        let map = connections
            .into_iter()
            .map(|c| (c.consumer_name.clone(), c))
            .collect();
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    fn row(&self, cluster: &str) -> Option<Connection> {
        let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        snapshot.get(cluster).cloned()
    }
}

impl Connections for FleetConnections {
    fn is_connected(&self, cluster: &str) -> Option<bool> {
        let here = self.broker.is_agent_connected(cluster);
        Some(here || self.row(cluster).is_some_and(|c| c.replica.is_some()))
    }

    fn source_connected(&self) -> bool {
        !self.draining.load(Ordering::Relaxed) && self.broker.is_source_connected(&self.source_id)
    }

    fn connected_count(&self) -> Option<usize> {
        let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let mut clusters: BTreeSet<&str> = snapshot
            .values()
            .filter(|c| c.replica.is_some())
            .map(|c| c.consumer_name.as_str())
            .collect();
        let here = self.broker.connected_clusters();
        clusters.extend(here.iter().map(String::as_str));
        Some(clusters.len())
    }

    fn subscribed_here(&self) -> Option<usize> {
        Some(self.broker.connected_clusters().len())
    }

    fn connection(&self, cluster: &str) -> Option<Connection> {
        self.row(cluster)
    }

    fn local_budget(&self) -> Option<crate::broker::BudgetSnapshot> {
        Some(self.broker.local_budget())
    }
}

/// Cluster → epoch of this replica's claim (see [`FleetMember::run`]).
type Claims = HashMap<String, Option<i64>>;

/// This replica in the registry (see the module doc).
pub struct FleetMember {
    pub fleet: Arc<dyn Fleet>,
    pub broker: Broker,
    pub instance: InstanceId,
    pub settings: FleetSettings,
    pub view: Arc<FleetConnections>,
    /// The store, whose publisher wake-up a claim rings (it gives the publisher changes to send).
    pub store: Arc<dyn crate::store::Store>,
    /// Bumped on each claim, before the wake-up: the claimed clusters' queued changes may be
    /// older than the publisher's cursor ([`super::publish_cursor`]), so it reads the whole queue.
    pub claims: watch::Sender<u64>,
}

impl FleetMember {
    /// Runs until `stop`, then leaves the registry (releasing every claim).
    pub async fn run(self, stop: CancellationToken) {
        // Clusters whose agent is subscribed here, with the epoch of this replica's claim;
        // `None`: claimed since by another replica (the agent moved; this stream is stale and
        // must not take it back).
        let mut claimed: Claims = HashMap::new();
        let mut scan = tokio::time::interval(self.settings.scan);
        let mut beat = tokio::time::interval(self.settings.heartbeat);
        scan.set_missed_tick_behavior(MissedTickBehavior::Delay);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = scan.tick() => self.sync(&mut claimed).await,
                _ = beat.tick() => self.beat(&mut claimed).await,
            }
        }
        match self.fleet.leave(self.instance.as_str()).await {
            Ok(()) => {
                info!(instance = %self.instance, released = claimed.len(), "left the replica registry")
            }
            Err(err) => warn!(%err, "leaving the replica registry failed; the lease will expire"),
        }
    }

    /// Claims the agents that subscribed since the last scan, releases those that left.
    async fn sync(&self, claimed: &mut Claims) {
        let here = self.broker.connected_clusters();
        let new: Vec<String> = here
            .iter()
            .filter(|c| !claimed.contains_key(*c))
            .cloned()
            .collect();
        claimed.retain(|c, epoch| here.contains(c) || epoch.is_some());
        let gone: Vec<(String, i64)> = claimed
            .iter()
            .filter(|(c, _)| !here.contains(*c))
            .filter_map(|(c, e)| Some((c.clone(), (*e)?)))
            .collect();
        if !new.is_empty() {
            self.claim(&new, claimed).await;
        }
        if !gone.is_empty() {
            match self.fleet.release(self.instance.as_str(), &gone).await {
                Ok(_) => {
                    for (cluster, _) in &gone {
                        claimed.remove(cluster);
                    }
                }
                Err(err) => {
                    warn!(%err, clusters = gone.len(), "releasing agents that left failed; retrying")
                }
            }
        }
    }

    async fn claim(&self, clusters: &[String], claimed: &mut Claims) {
        match self.fleet.claim(self.instance.as_str(), clusters).await {
            Ok(epochs) => {
                claimed.extend(epochs.into_iter().map(|(c, e)| (c, Some(e))));
                // Changes committed while no replica owned these clusters wait for this.
                self.claims.send_modify(|n| *n = n.wrapping_add(1));
                self.store.wakeup().wake();
            }
            Err(err) => {
                warn!(%err, clusters = clusters.len(), "claiming connected agents failed; retrying")
            }
        }
    }

    /// Heartbeat, snapshot, and the repair of claims this replica lost or gave up.
    async fn beat(&self, claimed: &mut Claims) {
        match self
            .fleet
            .heartbeat(self.instance.as_str(), self.settings.lease)
            .await
        {
            Ok(0) => {}
            Ok(dead) => info!(
                replicas = dead,
                "removed replicas whose heartbeat lapsed; their agents are released"
            ),
            Err(err) => {
                return warn!(%err, "replica heartbeat failed");
            }
        }
        let rows = match self.fleet.connections(self.settings.lease).await {
            Ok(rows) => rows,
            Err(err) => return warn!(%err, "reading the connection registry failed"),
        };
        let by_name: HashMap<&str, &Connection> =
            rows.iter().map(|c| (c.consumer_name.as_str(), c)).collect();
        let mut reclaim = Vec::new();
        for (cluster, epoch) in claimed.iter_mut() {
            let Some(mine) = *epoch else { continue };
            match by_name.get(cluster.as_str()) {
                // Another replica claimed it since: the agent moved, this stream is stale.
                Some(row) if row.epoch != mine => *epoch = None,
                // Still this claim, but released (this replica's heartbeat lapsed).
                Some(row) if row.replica.is_none() => reclaim.push(cluster.clone()),
                Some(_) => {}
                None => reclaim.push(cluster.clone()),
            }
        }
        self.view.replace(rows);
        if !reclaim.is_empty() {
            warn!(
                clusters = reclaim.len(),
                "this replica's claims were released (heartbeat lapse?); claiming again"
            );
            self.claim(&reclaim, claimed).await;
        }
    }
}
