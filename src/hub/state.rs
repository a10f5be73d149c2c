//! [`AppState`]: what every request handler and background task of the hub shares.

use std::sync::Arc;

pub use super::connections::Connections;
use super::consumer_watch::ConsumerHub;
use super::create_batcher::CreateBatcher;
use super::health::{FleetHealth, SeenRecorder};
use super::metrics::HubMetrics;
use super::watch::{ChangeHub, WatchConfig};
use crate::store::Store;

/// `--source-id` when none is given.
pub const DEFAULT_SOURCE_ID: &str = "baton";

/// For hubs that run without a transport (tests of the REST API alone).
pub struct NoConnections;

impl Connections for NoConnections {
    fn is_connected(&self, _cluster: &str) -> Option<bool> {
        None
    }
    fn source_connected(&self) -> bool {
        true
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub connections: Arc<dyn Connections>,
    pub metrics: Arc<HubMetrics>,
    /// Where creates go: gathered into batches, one transaction each.
    pub creates: CreateBatcher,
    /// Watches: this hub's fan-out of the change feed.
    pub changes: ChangeHub,
    /// Consumer views with their health.
    pub fleet: FleetHealth,
    /// Consumer watches.
    pub consumer_changes: ConsumerHub,
    /// When agents were last heard from, until the next flush.
    pub seen: Arc<SeenRecorder>,
    /// The hub's CloudEvent source id (`--source-id`): the owner of the resources created
    /// through the REST API, which the store keeps without a source.
    pub source_id: Arc<str>,
}

impl AppState {
    /// Starts the create batcher and the watch pump: call inside the runtime.
    pub fn new(
        store: Arc<dyn Store>,
        connections: Arc<dyn Connections>,
        metrics: Arc<HubMetrics>,
    ) -> Self {
        Self::with_watch(store, connections, metrics, WatchConfig::default())
    }

    /// [`AppState::new`] with the change feed's retention and the health threshold of `watch`.
    pub fn with_watch(
        store: Arc<dyn Store>,
        connections: Arc<dyn Connections>,
        metrics: Arc<HubMetrics>,
        watch: WatchConfig,
    ) -> Self {
        let fleet = FleetHealth::new(
            store.clone(),
            connections.clone(),
            watch.unhealthy_pending_after,
        );
        Self {
            creates: CreateBatcher::start(store.clone(), metrics.clone()),
            changes: ChangeHub::start(store.clone(), watch),
            consumer_changes: ConsumerHub::start(fleet.clone()),
            fleet,
            seen: Arc::new(SeenRecorder::default()),
            store,
            connections,
            metrics,
            source_id: Arc::from(DEFAULT_SOURCE_ID),
        }
    }

    /// Ends every open watch stream: the hub stops serving, and a stream would otherwise hold
    /// the HTTP drain until its client left (clients resume elsewhere with `Last-Event-ID`).
    pub fn close_watches(&self) {
        self.changes.close_watches();
        self.consumer_changes.close_watches();
    }

    /// The same state for a hub whose source id is `source_id`.
    pub fn with_source_id(mut self, source_id: &str) -> Self {
        self.source_id = Arc::from(source_id);
        self
    }
}
