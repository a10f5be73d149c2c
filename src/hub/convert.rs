//! Between the store's records and the ManifestWorks the SDK sends: a resource row becomes the
//! source's view of its work (uid = resource id, namespace = consumer, generation = version,
//! §4.1, §4.3), with the reported status (stored JSON text) as its typed status.

use crate::store::{ReportedStatus, Resource};
use crate::work::model::meta::Time;
use crate::work::model::{
    DeleteOption, Manifest, ManifestConfigOption, ManifestWork, ManifestWorkSpec,
    ManifestWorkStatus, ManifestsTemplate, ObjectMeta, SEQUENCE_ID_ANNOTATION,
};

/// A stored value no longer fits the ManifestWork model (should not happen: input is validated).
#[derive(Debug, thiserror::Error)]
#[error("resource {id}: stored {what} is not a valid ManifestWork {what}: {source}")]
pub struct ConvertError {
    pub id: uuid::Uuid,
    pub what: &'static str,
    #[source]
    pub source: serde_json::Error,
}

/// The work the source publishes for `resource`.
pub fn work_of(resource: &Resource) -> Result<ManifestWork, ConvertError> {
    let err = |what| {
        move |source| ConvertError {
            id: resource.id,
            what,
            source,
        }
    };
    // The stored text, split into one raw manifest per element: a scan, no tree.
    let manifests = serde_json::from_str::<Vec<Manifest>>(resource.spec.manifests.get())
        .map_err(err("manifests"))?;
    let delete_option = resource
        .spec
        .delete_option
        .as_ref()
        .map(|raw| serde_json::from_str::<DeleteOption>(raw.get()))
        .transpose()
        .map_err(err("deleteOption"))?;
    let manifest_configs = match &resource.spec.manifest_configs {
        Some(raw) => serde_json::from_str::<Vec<ManifestConfigOption>>(raw.get())
            .map_err(err("manifestConfigs"))?,
        None => Vec::new(),
    };
    let mut metadata = meta_of(resource);
    let status = match &resource.status {
        Some(reported) => {
            metadata.annotations.insert(
                SEQUENCE_ID_ANNOTATION.to_owned(),
                reported.sequence_id.clone(),
            );
            status_of(reported).map_err(err("status"))?
        }
        None => ManifestWorkStatus::default(),
    };
    Ok(ManifestWork {
        metadata,
        spec: ManifestWorkSpec {
            workload: ManifestsTemplate { manifests },
            delete_option,
            manifest_configs,
            executor: None,
        },
        status,
    })
}

/// The work's metadata as the source sees it: name (the id when unnamed), namespace (the
/// consumer), uid (the id), generation and resource version (the version), timestamps, and the
/// resource's labels and annotations.
pub fn meta_of(resource: &Resource) -> ObjectMeta {
    ObjectMeta {
        name: resource
            .name
            .clone()
            .unwrap_or_else(|| resource.id.to_string()),
        namespace: resource.consumer_name.clone(),
        uid: resource.id.to_string(),
        resource_version: resource.version.to_string(),
        generation: resource.version,
        creation_timestamp: Some(Time(resource.created_at)),
        deletion_timestamp: resource.deleted_at.map(Time),
        labels: resource.spec.labels.clone(),
        annotations: resource.spec.annotations.clone(),
        ..ObjectMeta::default()
    }
}

/// The typed status of what an agent reported.
pub fn status_of(reported: &ReportedStatus) -> Result<ManifestWorkStatus, serde_json::Error> {
    serde_json::from_str(reported.status.get())
}
