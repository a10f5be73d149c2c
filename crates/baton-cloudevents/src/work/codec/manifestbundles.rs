//! The `manifestbundles` codecs (docs/protocol.md §4.1–§4.7): the whole ManifestWork spec as a
//! `ManifestBundle`, its status as a `ManifestBundleStatus`. Sends what sdk-go v1.3 sends
//! (generation as version, `metadata` and `logtracing` on both directions) and accepts v1.0.

use super::{
    SpecHeader, StatusHeader, WorkCodecError, agent_view, check_data_type, event_type_of,
    log_tracing_json, parse_data, spec_builder, status_builder, to_json,
};
use crate::extensions as ext;
use crate::work::model::payload::{ManifestBundle, ManifestBundleStatus, RawManifestBundle};
use crate::work::model::{
    ManifestResourceStatus, ManifestWork, ManifestWorkSpec, ManifestWorkStatus, ManifestsTemplate,
    ObjectMeta, manifest_bundles_data_type,
};
use crate::work::status_hash;
use crate::work::validation::{self, ManifestLimits};
use crate::{Codec, CodecError, DataType, Event, EventBuilder, EventType};

fn bundle_of(spec: &ManifestWorkSpec) -> ManifestBundle {
    ManifestBundle {
        manifests: spec.workload.manifests.clone(),
        delete_option: spec.delete_option.clone(),
        manifest_configs: spec.manifest_configs.clone(),
        executer: spec.executor.clone(),
    }
}

fn spec_of(bundle: ManifestBundle) -> ManifestWorkSpec {
    ManifestWorkSpec {
        workload: ManifestsTemplate {
            manifests: bundle.manifests,
        },
        delete_option: bundle.delete_option,
        manifest_configs: bundle.manifest_configs,
        executor: bundle.executer,
    }
}

/// The source side: encodes specs, decodes status.
#[derive(Debug, Clone)]
pub struct BundleSourceCodec {
    data_type: DataType,
    limits: ManifestLimits,
}

impl Default for BundleSourceCodec {
    fn default() -> Self {
        Self {
            data_type: manifest_bundles_data_type(),
            limits: ManifestLimits::default(),
        }
    }
}

impl BundleSourceCodec {
    /// A codec with the default manifest limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides the limits specs are validated against before sending (§4.5).
    pub fn with_limits(mut self, limits: ManifestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Reads a spec event as the source that sent it holds the work (for servers accepting
    /// spec publishes from sources, §8.8): metadata from the extension, spec from the data.
    pub fn decode_spec(&self, event: &Event) -> Result<ManifestWork, CodecError> {
        event_type_of(event, &self.data_type)?;
        let header = SpecHeader::read(event)?;
        let metadata = header.source_meta(event)?;
        let spec = match (header.deletion, ext::data_bytes(event)) {
            (None, None) => return Err(CodecError::MissingData),
            (_, Some(bytes)) => spec_of(parse_data(&bytes, "a ManifestBundle")?),
            (Some(_), None) => ManifestWorkSpec::default(),
        };
        Ok(ManifestWork {
            metadata,
            spec,
            status: ManifestWorkStatus::default(),
        })
    }

    /// The spec event [`encode`](Codec::encode) builds for a work with `metadata` and this
    /// spec, from manifests kept as JSON text: the text is written as it is, neither parsed nor
    /// validated, so the caller vouches that it passed §4.5 (a source that validated the
    /// manifests when it stored them). A deleting work is sent without data (§4.2).
    pub fn encode_text(
        &self,
        source: &str,
        event_type: &EventType,
        metadata: &ObjectMeta,
        bundle: &RawManifestBundle<'_>,
    ) -> Result<Event, CodecError> {
        check_data_type(&self.data_type, &event_type.data_type)?;
        let builder = spec_envelope(source, event_type, metadata)?;
        if metadata.deletion_timestamp.is_some() {
            return Ok(builder.build()?);
        }
        Ok(builder.json_data(to_json(bundle)?).build()?)
    }
}

/// A spec event's envelope (§4.1): identity, `metadata` and `logtracing`.
fn spec_envelope(
    source: &str,
    event_type: &EventType,
    metadata: &ObjectMeta,
) -> Result<EventBuilder, CodecError> {
    let text = serde_json::to_string(metadata).map_err(WorkCodecError::Render)?;
    Ok(spec_builder(source, event_type, metadata)
        .metadata(text)
        .log_tracing(log_tracing_json(metadata)?))
}

impl Codec<ManifestWork> for BundleSourceCodec {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// §4.1 / §4.2: a deleting work is sent without data.
    fn encode(
        &self,
        source: &str,
        event_type: &EventType,
        work: &ManifestWork,
    ) -> Result<Event, CodecError> {
        check_data_type(&self.data_type, &event_type.data_type)?;
        let builder = spec_envelope(source, event_type, &work.metadata)?;
        if work.metadata.deletion_timestamp.is_some() {
            return Ok(builder.build()?);
        }
        validation::validate_with(&work.spec.workload.manifests, self.limits)
            .map_err(WorkCodecError::from)?;
        Ok(builder
            .json_data(to_json(&bundle_of(&work.spec))?)
            .build()?)
    }

    /// §4.6: the status as the source rebuilds it, with the sequence id annotation.
    fn decode(&self, event: &Event) -> Result<ManifestWork, CodecError> {
        event_type_of(event, &self.data_type)?;
        let header = StatusHeader::read(event)?;
        let metadata = header.meta(event)?;
        let bytes = ext::data_bytes(event).ok_or(CodecError::MissingData)?;
        let payload: ManifestBundleStatus = parse_data(&bytes, "a ManifestBundleStatus")?;
        Ok(ManifestWork {
            metadata,
            spec: payload.manifest_bundle.map(spec_of).unwrap_or_default(),
            status: ManifestWorkStatus {
                conditions: payload.conditions.unwrap_or_default(),
                resource_status: ManifestResourceStatus {
                    manifests: payload.resource_status,
                },
            },
        })
    }
}

/// The agent side: decodes specs (validating them), encodes status.
#[derive(Debug, Clone)]
pub struct BundleAgentCodec {
    data_type: DataType,
    limits: ManifestLimits,
}

impl Default for BundleAgentCodec {
    fn default() -> Self {
        Self {
            data_type: manifest_bundles_data_type(),
            limits: ManifestLimits::default(),
        }
    }
}

impl BundleAgentCodec {
    /// A codec with the default manifest limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides the validation limits (§4.5).
    pub fn with_limits(mut self, limits: ManifestLimits) -> Self {
        self.limits = limits;
        self
    }
}

impl Codec<ManifestWork> for BundleAgentCodec {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// §4.6: status with sequence id, status hash, the agent's metadata (resourceVersion
    /// cleared) and log tracing.
    fn encode(
        &self,
        source: &str,
        event_type: &EventType,
        work: &ManifestWork,
    ) -> Result<Event, CodecError> {
        check_data_type(&self.data_type, &event_type.data_type)?;
        let hash = status_hash::status_hash(&work.status).map_err(WorkCodecError::StatusHash)?;
        let mut metadata = work.metadata.clone();
        metadata.resource_version.clear();
        let payload = ManifestBundleStatus {
            manifest_bundle: None,
            conditions: (!work.status.conditions.is_empty())
                .then(|| work.status.conditions.clone()),
            resource_status: work.status.resource_status.manifests.clone(),
        };
        Ok(status_builder(source, event_type, work)?
            .status_hash(hash)
            .log_tracing(log_tracing_json(&work.metadata)?)
            .metadata(serde_json::to_string(&metadata).map_err(WorkCodecError::Render)?)
            .json_data(to_json(&payload)?)
            .build()?)
    }

    /// §4.4 (v1.2+): the work as the agent holds it; a deletion needs no data (§4.2, C8).
    fn decode(&self, event: &Event) -> Result<ManifestWork, CodecError> {
        event_type_of(event, &self.data_type)?;
        let header = SpecHeader::read(event)?;
        let metadata = agent_view(event, &self.data_type, header.source_meta(event)?)?;
        if header.deletion.is_some() {
            return Ok(ManifestWork {
                metadata,
                ..ManifestWork::default()
            });
        }
        let bytes = ext::data_bytes(event).ok_or(CodecError::MissingData)?;
        let spec = spec_of(parse_data(&bytes, "a ManifestBundle")?);
        validation::validate_with(&spec.workload.manifests, self.limits)
            .map_err(WorkCodecError::from)?;
        Ok(ManifestWork {
            metadata,
            spec,
            status: ManifestWorkStatus::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use ::cloudevents::AttributesWriter;
    use serde_json::value::RawValue;

    use super::*;
    use crate::work::model::{DeleteOption, Manifest, Time};
    use crate::{Action, SubResource};

    fn spec_type(action: Action) -> EventType {
        EventType::new(manifest_bundles_data_type(), SubResource::Spec, action)
    }

    /// The event without what differs between two encodes (a fresh id and time).
    fn comparable(mut event: Event) -> Event {
        event.set_id("id");
        event.set_time(None::<chrono::DateTime<chrono::Utc>>);
        event
    }

    fn work(manifests: &str) -> ManifestWork {
        ManifestWork {
            metadata: ObjectMeta {
                name: "web".into(),
                namespace: "cluster1".into(),
                uid: "03f36550-d4de-565a-b59e-268477dbea7f".into(),
                resource_version: "2".into(),
                generation: 2,
                ..ObjectMeta::default()
            },
            spec: ManifestWorkSpec {
                workload: ManifestsTemplate {
                    manifests: serde_json::from_str::<Vec<Manifest>>(manifests).unwrap(),
                },
                delete_option: Some(DeleteOption {
                    propagation_policy: "Orphan".into(),
                    ..DeleteOption::default()
                }),
                ..ManifestWorkSpec::default()
            },
            status: ManifestWorkStatus::default(),
        }
    }

    #[test]
    fn encode_text_sends_what_encode_sends() {
        let manifests = r#"[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}},{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}]"#;
        let raw: Box<RawValue> = serde_json::from_str(manifests).unwrap();
        let codec = BundleSourceCodec::new();
        let mut work = work(manifests);
        for action in [Action::CreateRequest, Action::DeleteRequest] {
            if action == Action::DeleteRequest {
                work.metadata.deletion_timestamp = Some(Time::now());
            }
            let bundle = RawManifestBundle {
                manifests: &raw,
                delete_option: work.spec.delete_option.as_ref(),
                manifest_configs: &work.spec.manifest_configs,
                executer: None,
            };
            let event_type = spec_type(action.clone());
            let typed = codec.encode("hub", &event_type, &work).unwrap();
            let text = codec
                .encode_text("hub", &event_type, &work.metadata, &bundle)
                .unwrap();
            assert_eq!(comparable(text), comparable(typed), "{action:?}");
        }
        let status_type = EventType::new(
            crate::DataType::new("io.open-cluster-management.works", "v1alpha1", "manifests"),
            SubResource::Spec,
            Action::CreateRequest,
        );
        let bundle = RawManifestBundle {
            manifests: &raw,
            delete_option: None,
            manifest_configs: &[],
            executer: None,
        };
        assert!(matches!(
            codec.encode_text("hub", &status_type, &work.metadata, &bundle),
            Err(CodecError::WrongDataType { .. })
        ));
    }
}
