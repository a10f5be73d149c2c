//! The source client's [`Lister`] over the store: resyncs are answered from the database, the
//! hub's single source of truth (§6.5), so an empty answer really means "nothing".

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use super::convert::work_of;
use crate::cloudevents::{ListError, ListOptions, Lister};
use crate::store::{Store, StoreError};
use crate::work::model::ManifestWork;

pub struct DbLister {
    store: Arc<dyn Store>,
}

impl DbLister {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Lister<ManifestWork> for DbLister {
    async fn list(&self, options: &ListOptions) -> Result<Vec<ManifestWork>, ListError> {
        let cluster = Some(options.cluster_name.as_str()).filter(|c| !c.is_empty());
        let resources = self
            .store
            .resources_of(cluster)
            .await
            .map_err(ListError::new)?;
        resources
            .iter()
            .map(|r| work_of(r).map_err(ListError::new))
            .collect()
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
