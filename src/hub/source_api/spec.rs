//! What a source's spec event does to the store (docs/protocol.md §8.8, as Maestro's gRPC server
//! does it): `create_request` creates the resource with the event's `resourceid`, owned by the
//! event's source; `update_request` replaces its spec (version 0 takes the stored version, any
//! other must be the stored one); `delete_request` marks it deleting. The change then reaches
//! the agent as a REST change does: through the publish outbox, committed with it.
//!
//! Owns decoding a spec event into the store's input and the ownership rule (a source changes
//! only what it owns; a resource created over REST is owned by the hub's `--source-id`).
//! Must not publish to agents (the publisher does) nor choose gRPC codes (`error`).

use std::sync::Arc;

use ::cloudevents::AttributesReader;
use uuid::Uuid;

use super::error::SourceApiError;
use crate::cloudevents::Event;
use crate::cloudevents::event_type::{Action, EventType};
use crate::hub::api::storable;
use crate::hub::create_batcher::{CreateBatcher, CreateError};
use crate::store::{NewResource, RawJson, Resource, ResourceSpec, Store};
use crate::work::ManifestWork;
use crate::work::codec::BundleSourceCodec;
use crate::work::validation;

/// Applies spec events of sources to the store.
#[derive(Clone)]
pub struct SpecWriter {
    pub store: Arc<dyn Store>,
    pub creates: CreateBatcher,
    /// Owner of the resources created over REST.
    pub hub_source: String,
}

fn invalid(err: impl std::fmt::Display) -> SourceApiError {
    SourceApiError::Invalid(err.to_string())
}

fn raw(value: &impl serde::Serialize) -> Result<RawJson, SourceApiError> {
    serde_json::value::to_raw_value(value).map_err(invalid)
}

/// The store's spec of `work`, checked as a REST body is (manifests §4.5, storable text).
fn spec_of(work: &ManifestWork) -> Result<ResourceSpec, SourceApiError> {
    let manifests = &work.spec.workload.manifests;
    validation::validate(manifests).map_err(|e| invalid(format!("manifests: {e}")))?;
    let spec = ResourceSpec {
        manifests: raw(manifests)?,
        delete_option: work.spec.delete_option.as_ref().map(raw).transpose()?,
        manifest_configs: (!work.spec.manifest_configs.is_empty())
            .then(|| raw(&work.spec.manifest_configs))
            .transpose()?,
        labels: work.metadata.labels.clone(),
        annotations: work.metadata.annotations.clone(),
    };
    storable::document("manifests", &spec.manifests).map_err(invalid)?;
    storable::optional_document("deleteOption", spec.delete_option.as_ref()).map_err(invalid)?;
    storable::optional_document("manifestConfigs", spec.manifest_configs.as_ref())
        .map_err(invalid)?;
    storable::labels("metadata.labels", &spec.labels).map_err(invalid)?;
    storable::labels("metadata.annotations", &spec.annotations).map_err(invalid)?;
    Ok(spec)
}

impl SpecWriter {
    /// Applies one spec event of `event_type` (a create, update or delete request).
    pub async fn apply(&self, event: &Event, event_type: &EventType) -> Result<(), SourceApiError> {
        let work = BundleSourceCodec::new()
            .decode_spec(event)
            .map_err(invalid)?;
        let id = Uuid::parse_str(&work.metadata.uid)
            .map_err(|_| invalid(format!("resourceid: {:?} is not a UUID", work.metadata.uid)))?;
        let source = event.source().to_string();
        match event_type.action {
            Action::CreateRequest => self.create(id, &source, &work).await,
            Action::UpdateRequest => {
                let current = self.owned(id, &source).await?;
                // Maestro: a source need not track versions; 0 means "the stored one".
                let expected = match work.metadata.generation {
                    0 => current.version,
                    version => version,
                };
                self.store
                    .update_resource(id, expected, spec_of(&work)?)
                    .await?;
                Ok(())
            }
            Action::DeleteRequest => match self.owned(id, &source).await {
                Ok(_) => {
                    self.store.delete_resource(id).await?;
                    Ok(())
                }
                // Already gone: the agent confirmed an earlier delete.
                Err(SourceApiError::NotFound(_)) => Ok(()),
                Err(err) => Err(err),
            },
            ref other => Err(invalid(format!(
                "type: a source publishes create_request, update_request, delete_request or a status resync_request, not {other}"
            ))),
        }
    }

    async fn create(
        &self,
        id: Uuid,
        source: &str,
        work: &ManifestWork,
    ) -> Result<(), SourceApiError> {
        storable::text("metadata.name", &work.metadata.name).map_err(invalid)?;
        let new = NewResource {
            id: Some(id),
            consumer_name: work.metadata.namespace.clone(),
            name: Some(work.metadata.name.clone()),
            source: Some(source.to_owned()),
            spec: spec_of(work)?,
        };
        match self.creates.create(new).await {
            Ok(_) => Ok(()),
            Err(CreateError::Store(err)) => Err(err.into()),
            Err(CreateError::Stopped) => Err(SourceApiError::Unavailable),
        }
    }

    /// The resource `id` if `source` owns it.
    async fn owned(&self, id: Uuid, source: &str) -> Result<Resource, SourceApiError> {
        let resource = self.store.get_resource(id).await?;
        let owner = resource.source.as_deref().unwrap_or(&self.hub_source);
        if owner != source {
            return Err(SourceApiError::Denied(format!(
                "resource {id} belongs to source {owner:?}, not {source:?}"
            )));
        }
        Ok(resource)
    }
}
