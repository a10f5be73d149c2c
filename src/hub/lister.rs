//! The source client's [`Lister`] over the store: resyncs are answered from the database, the
//! hub's single source of truth (§6.5), so an empty answer really means "nothing".

use std::sync::Arc;

use std::time::Instant;

use async_trait::async_trait;
use uuid::Uuid;

use super::convert::work_of;
use super::metrics::HubMetrics;
use crate::cloudevents::{ListError, ListOptions, Lister};
use crate::store::{ConsumerFilter, OrderBy, Store, StoreError, every_page};
use crate::work::model::ManifestWork;

/// Consumers read per page when naming the fleet's clusters.
const CLUSTERS_PAGE: u32 = 1000;

pub struct DbLister {
    store: Arc<dyn Store>,
    metrics: Arc<HubMetrics>,
}

impl DbLister {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<HubMetrics>) -> Self {
        Self { store, metrics }
    }
}

#[async_trait]
impl Lister<ManifestWork> for DbLister {
    /// Every list is one resync (answering an agent's spec resync, or building a status
    /// resync request), so this is where resync runs are counted and timed.
    async fn list(&self, options: &ListOptions) -> Result<Vec<ManifestWork>, ListError> {
        let started = Instant::now();
        let cluster = Some(options.cluster_name.as_str()).filter(|c| !c.is_empty());
        let resources = self
            .store
            .resources_of(cluster)
            .await
            .map_err(ListError::new)?;
        let works = resources
            .iter()
            .map(|r| work_of(r).map_err(ListError::new))
            .collect();
        self.metrics.resync_runs.inc();
        self.metrics
            .resync_seconds
            .observe(started.elapsed().as_secs_f64());
        works
    }

    /// Every consumer, by name: a status resync of the whole fleet then lists one cluster at
    /// a time instead of decoding every resource of the fleet at once.
    async fn clusters(&self) -> Result<Option<Vec<String>>, ListError> {
        let every = ConsumerFilter::default();
        let consumers = every_page(CLUSTERS_PAGE, OrderBy::Name, |request| {
            self.store.list_consumers(&every, request)
        })
        .await
        .map_err(ListError::new)?;
        Ok(Some(consumers.into_iter().map(|c| c.name).collect()))
    }

    async fn get(
        &self,
        resource_id: &str,
        _options: &ListOptions,
    ) -> Result<Option<ManifestWork>, ListError> {
        let Ok(id) = Uuid::parse_str(resource_id) else {
            return Ok(None);
        };
        match self.store.get_resource(id).await {
            Ok(resource) => work_of(&resource).map(Some).map_err(ListError::new),
            Err(StoreError::ResourceNotFound(_)) => Ok(None),
            Err(err) => Err(ListError::new(err)),
        }
    }
}
