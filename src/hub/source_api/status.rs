//! The status events the source API sends a source (docs/protocol.md §4.6, §4.7): a stored
//! resource's reported status as `manifestbundles.status.update_request`, with the spec it is
//! about in `manifestBundle` (as Maestro fills it, §8.8), and the `Deleted=True` event once the
//! agent confirmed a deletion.
//!
//! Owns the encoding only. Must not read the store or decide who receives an event.

use crate::cloudevents::EventBuilder;
use crate::cloudevents::event_type::{Action, EventType, SubResource};
use crate::cloudevents::transport::grpc::binding;
use crate::cloudevents::transport::grpc::proto::CloudEvent;
use crate::hub::convert::{ConvertError, work_of};
use crate::store::Resource;
use crate::work::model::payload::{ManifestBundle, ManifestBundleStatus};
use crate::work::model::status::{CONDITION_DELETED, Condition};
use crate::work::model::{ManifestWork, ManifestWorkStatus, Time, manifest_bundles_data_type};
use crate::work::sequence::SequenceGenerator;
use crate::work::status_hash;

/// A status event that could not be built (a stored document no longer fits the model).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error("resource status: {0}")]
    Json(#[from] serde_json::Error),
    #[error("building the event: {0}")]
    Build(String),
}

fn status_type() -> EventType {
    EventType::new(
        manifest_bundles_data_type(),
        SubResource::Status,
        Action::UpdateRequest,
    )
}

/// The event telling `owner` the status `resource` has now. A fresh sequence id each time
/// (the hub's generator, node 1 as agents): a source accepts a status only with a sequence id
/// newer than the last it kept (§5.3), and a resync re-sends statuses it may already hold.
pub fn status_event(
    sender: &str,
    owner: &str,
    resource: &Resource,
) -> Result<CloudEvent, EncodeError> {
    let work = work_of(resource)?;
    let bundle = ManifestBundle {
        manifests: work.spec.workload.manifests.clone(),
        delete_option: work.spec.delete_option.clone(),
        manifest_configs: work.spec.manifest_configs.clone(),
        executer: work.spec.executor.clone(),
    };
    encode(sender, owner, &work, Some(bundle))
}

/// The event telling `owner` that the agent removed resource `id` (§4.7): `Deleted=True`.
pub fn deleted_event(
    sender: &str,
    owner: &str,
    id: &str,
    consumer: &str,
    version: i64,
) -> Result<CloudEvent, EncodeError> {
    let mut work = ManifestWork::default();
    work.metadata.uid = id.to_owned();
    work.metadata.name = id.to_owned();
    work.metadata.namespace = consumer.to_owned();
    work.metadata.generation = version;
    work.status = ManifestWorkStatus {
        conditions: vec![Condition {
            type_: CONDITION_DELETED.to_owned(),
            status: "True".to_owned(),
            observed_generation: 0,
            last_transition_time: Some(Time::now()),
            reason: "ManifestsDeleted".to_owned(),
            message: format!("The manifests are deleted from the cluster {consumer}"),
        }],
        ..ManifestWorkStatus::default()
    };
    encode(sender, owner, &work, None)
}

fn encode(
    sender: &str,
    owner: &str,
    work: &ManifestWork,
    bundle: Option<ManifestBundle>,
) -> Result<CloudEvent, EncodeError> {
    let hash = status_hash::status_hash(&work.status)?;
    let mut metadata = work.metadata.clone();
    metadata.resource_version.clear();
    let payload = ManifestBundleStatus {
        manifest_bundle: bundle,
        conditions: (!work.status.conditions.is_empty()).then(|| work.status.conditions.clone()),
        resource_status: work.status.resource_status.manifests.clone(),
    };
    let event = EventBuilder::new(sender, &status_type())
        .cluster_name(&work.metadata.namespace)
        .original_source(owner)
        .resource_id(&work.metadata.uid)
        .resource_version(work.metadata.generation)
        .sequence_id(SequenceGenerator::global().next_id().to_string())
        .status_hash(hash)
        .metadata(serde_json::to_string(&metadata)?)
        .json_data(serde_json::to_vec(&payload)?)
        .build()
        .map_err(|e| EncodeError::Build(e.to_string()))?;
    binding::to_proto(&event).map_err(|e| EncodeError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevents::Codec;
    use crate::store::{ReportedStatus, ResourceSpec};
    use crate::work::codec::BundleSourceCodec;

    fn resource() -> Resource {
        let manifest = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default"}});
        let status = r#"{"conditions":[{"type":"Applied","status":"True","observedGeneration":2,"lastTransitionTime":"2025-06-01T12:00:05Z","reason":"AppliedManifestWorkComplete","message":"Apply manifest work complete"}],"resourceStatus":{}}"#;
        let now = chrono::Utc::now();
        Resource {
            id: uuid::Uuid::nil(),
            consumer_id: uuid::Uuid::nil(),
            consumer_name: "cluster1".into(),
            name: Some("web".into()),
            source: Some("maestro".into()),
            version: 2,
            spec: ResourceSpec::from_values(&[manifest], None, None).unwrap(),
            status: Some(ReportedStatus {
                status: serde_json::value::RawValue::from_string(status.into()).unwrap(),
                hash: "h".into(),
                sequence_id: "1929145946591989760".into(),
                updated_at: now,
                version: Some(2),
            }),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    /// What sdk-go's source codec reads (baton's port of it): the work's id, name, version,
    /// status and a sequence id; the spec from `manifestBundle`.
    #[test]
    fn a_status_event_decodes_as_the_source_codec_reads_it() {
        let resource = resource();
        let event =
            binding::from_proto(status_event("baton", "maestro", &resource).unwrap()).unwrap();
        let work = BundleSourceCodec::new().decode(&event).unwrap();
        assert_eq!(work.metadata.uid, uuid::Uuid::nil().to_string());
        assert_eq!(work.metadata.name, "web");
        assert_eq!(work.metadata.generation, 2);
        assert_eq!(work.status.conditions[0].type_, "Applied");
        assert!(!work.sequence_id().is_empty());
        assert_eq!(work.spec.workload.manifests.len(), 1);
        assert_eq!(
            crate::cloudevents::extensions::string(&event, "originalsource").unwrap(),
            Some("maestro")
        );
    }

    #[test]
    fn a_deleted_event_says_deleted_true() {
        let event = binding::from_proto(
            deleted_event(
                "baton",
                "maestro",
                "5b1c8e0e-6f1a-4c0b-9d2e-1a2b3c4d5e6f",
                "c1",
                3,
            )
            .unwrap(),
        )
        .unwrap();
        let work = BundleSourceCodec::new().decode(&event).unwrap();
        assert!(work.status.is_deleted());
        assert_eq!(work.metadata.uid, "5b1c8e0e-6f1a-4c0b-9d2e-1a2b3c4d5e6f");
    }
}
