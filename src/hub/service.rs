//! [`HubService`]: the hub's moving parts started together over one transport: the source
//! client (status in, resyncs answered from the database), the status writer, the publisher.
//! The HTTP listener and the built-in broker are bound by the caller (`baton serve`, tests).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::api::{self, ApiTokens};
use super::lister::DbLister;
use super::metrics::HubMetrics;
use super::publisher::{Publisher, PublisherConfig, ReplicaScope};
use super::state::{AppState, Connections, DEFAULT_SOURCE_ID};
use super::status::StatusWriter;
use super::status_shards::ShardedStatusWriter;
use super::watch::WatchConfig;
use crate::cloudevents::stats::StatsSnapshot;
use crate::cloudevents::{ClientError, SourceClient, Transport};
use crate::store::{Requeued, Store};
use crate::work::codec::BundleSourceCodec;
use crate::work::model::ManifestWork;
use crate::work::status_hash::WorkStatusHasher;

/// How the hub's source client behaves.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The CloudEvent `source` of everything the hub sends; agents address status to it.
    pub source_id: String,
    /// Optional publish throttle (events/s, burst); none by default.
    pub rate_limit: Option<(f64, u32)>,
    pub publisher: PublisherConfig,
    /// Status writes in flight at once, each resource's in order (1 = one at a time).
    pub status_writers: usize,
    /// How often to ask every agent for the status the hub may have missed (a safety net
    /// beside the resyncs on every (re)connection); `None` disables it.
    pub status_resync_every: Option<Duration>,
    /// Publish again a spec no agent has reported on this long after its last change (at-least
    /// once until the agent reports); `None` disables it.
    pub redeliver_unreported_after: Option<Duration>,
    /// Set when the publisher must publish only to the agents the connection registry places
    /// at this replica (several replicas over the built-in broker, docs/ha.md).
    pub replica: Option<ReplicaScope>,
    /// Over MQTT with several replicas: publish and send the periodic status resync only while
    /// this is true (this replica holds the lease, [`super::lease`]).
    pub lease: Option<watch::Receiver<bool>>,
    /// Watches: how long the change feed keeps changes to resume from.
    pub watch: WatchConfig,
}

/// The default of [`HubOptions::redeliver_unreported_after`].
pub const REDELIVER_UNREPORTED_AFTER: Duration = Duration::from_secs(30);

/// The default period of the safety-net status resync.
pub const STATUS_RESYNC_EVERY: Duration = Duration::from_secs(300);

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            source_id: DEFAULT_SOURCE_ID.into(),
            rate_limit: None,
            publisher: PublisherConfig::default(),
            status_writers: 8,
            status_resync_every: Some(STATUS_RESYNC_EVERY),
            redeliver_unreported_after: Some(REDELIVER_UNREPORTED_AFTER),
            replica: None,
            lease: None,
            watch: WatchConfig::default(),
        }
    }
}

/// Every `after`, marks for publication again the specs no agent has reported on for `after`,
/// and asks their agents for their status. Either may have been lost: the spec on its way to
/// the agent, or the agent's report on its way into the database (a failed write). Only the
/// spec repairs the first, only the status request the second: an agent that already holds
/// a version keeps its status when the same version arrives again and reports nothing
/// (sdk-go's `AgentInformerWatcherStore.HandleReceivedResource`), while it answers a status
/// resync listing a work whose hash differs from the hub's (`respondResyncStatusRequest`).
async fn redeliver_unreported(
    store: Arc<dyn Store>,
    client: Arc<SourceClient<ManifestWork>>,
    after: Duration,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + after, after);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {
                let cutoff = chrono::Utc::now() - chrono::Duration::from_std(after).unwrap_or_default();
                match store.requeue_unreported(cutoff).await {
                    Ok(requeued) if requeued.is_empty() => {}
                    Ok(requeued) => {
                        info!(resources = requeued.len(), "no report yet for these specs; publishing them again and asking for their status");
                        request_status(&client, &requeued).await;
                    }
                    Err(err) => warn!(%err, "looking for unreported specs failed"),
                }
            }
        }
    }
}

/// One status resync request per cluster, listing its `requeued` resources with the hash of
/// the empty status (they have none stored).
async fn request_status(client: &SourceClient<ManifestWork>, requeued: &[Requeued]) {
    let mut by_cluster: BTreeMap<&str, Vec<ManifestWork>> = BTreeMap::new();
    for resource in requeued {
        let mut work = ManifestWork::default();
        work.metadata.uid = resource.id.to_string();
        work.metadata.namespace.clone_from(&resource.consumer_name);
        by_cluster
            .entry(&resource.consumer_name)
            .or_default()
            .push(work);
    }
    for (cluster, works) in by_cluster {
        if let Err(err) = client.request_status(cluster, &works).await {
            warn!(%err, cluster, "asking for unreported statuses failed; asking again on the next round");
        }
    }
}

/// Asks every agent for the status whose hash differs from the hub's, every `period`.
async fn periodic_status_resync(
    client: Arc<SourceClient<ManifestWork>>,
    period: Duration,
    lease: Option<watch::Receiver<bool>>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {
                if lease.as_ref().is_some_and(|held| !*held.borrow()) {
                    continue; // the lease holder asks
                }
                if let Err(err) = client.resync(None).await {
                    warn!(%err, "periodic status resync failed; next in {period:?}");
                }
            }
        }
    }
}

pub struct HubService {
    state: AppState,
    client: Arc<SourceClient<ManifestWork>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl HubService {
    /// Subscribes the source client and starts the publisher. Pending changes left by an
    /// earlier hub are published right away.
    pub async fn start(
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        connections: Arc<dyn Connections>,
        metrics: Arc<HubMetrics>,
        options: HubOptions,
    ) -> Result<Self, ClientError> {
        let state =
            AppState::with_watch(store.clone(), connections, metrics.clone(), options.watch)
                .with_source_id(&options.source_id);
        let mut builder = SourceClient::builder(
            &options.source_id,
            transport,
            Arc::new(DbLister::new(store.clone(), metrics.clone())),
            WorkStatusHasher,
        )
        .codec(BundleSourceCodec::new());
        if let Some((qps, burst)) = options.rate_limit {
            builder = builder.rate_limit(qps, burst);
        }
        let client = Arc::new(builder.build());
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let writer = Arc::new(StatusWriter::new(
            store.clone(),
            metrics.clone(),
            state.seen.clone(),
        ));
        let sharded = ShardedStatusWriter::start(
            writer,
            metrics.clone(),
            options.status_writers,
            &tasks,
            &stop,
        );
        client.subscribe(Arc::new(sharded)).await?;
        {
            let (store, stop) = (store.clone(), stop.clone());
            tasks.spawn(async move { store.relay_wakeups(stop).await });
        }
        tasks.spawn(state.seen.clone().run(store.clone(), stop.clone()));
        if let Some(after) = options.redeliver_unreported_after {
            tasks.spawn(redeliver_unreported(
                store.clone(),
                client.clone(),
                after,
                stop.clone(),
            ));
        }
        let mut publisher = Publisher::new(store, client.clone(), metrics, options.publisher);
        if let Some(replica) = options.replica.clone() {
            publisher = publisher.at_replica(replica);
        }
        if let Some(lease) = options.lease.clone() {
            publisher = publisher.gated(lease);
        }
        tasks.spawn(publisher.run(stop.clone()));
        if let Some(period) = options.status_resync_every {
            tasks.spawn(periodic_status_resync(
                client.clone(),
                period,
                options.lease.clone(),
                stop.clone(),
            ));
        }
        info!(source_id = %options.source_id, "hub source client subscribed; publisher running");
        Ok(Self {
            state,
            client,
            tasks,
            stop,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP application over this hub.
    pub fn router(&self, tokens: ApiTokens) -> Router {
        api::router(self.state.clone(), tokens)
    }

    /// Traffic counters of the source client.
    pub fn client_stats(&self) -> StatsSnapshot {
        self.client.stats()
    }

    /// Stops the publisher, then the source client and its transport.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.client.shutdown().await;
    }
}
