//! The `manifests` codecs (docs/protocol.md §4.9): one Kubernetes object per work, for agents on
//! sdk-go up to v0.15. Events carry no `metadata`, `logtracing` or `statushash` (as v0.15's);
//! the version is the work's generation as for bundles.

use std::collections::BTreeMap;

use ::cloudevents::AttributesReader;
use serde_json::Value;

use super::{
    SpecHeader, StatusHeader, WorkCodecError, check_data_type, event_type_of, parse_data,
    spec_builder, status_builder, to_json,
};
use crate::extensions as ext;
use crate::work::model::payload::{ManifestConfig, SingleManifest, SingleManifestStatus};
use crate::work::model::{
    DATA_TYPE_ANNOTATION, MANIFEST_WORK_FINALIZER, Manifest, ManifestConfigOption,
    ManifestResourceStatus, ManifestWork, ManifestWorkSpec, ManifestWorkStatus, ManifestsTemplate,
    ORIGINAL_SOURCE_LABEL, ObjectMeta, ResourceIdentifier, manifests_data_type,
};
use crate::work::validation::{self, ManifestLimits};
use crate::{Codec, CodecError, DataType, Event, EventType};

/// Kubernetes' `UnsafeGuessKindToResource`: the plural resource name of a kind, used where
/// sdk-go asked the cluster's REST mapper (baton has no cluster to ask).
pub fn guess_resource(kind: &str) -> String {
    let singular = kind.to_lowercase();
    if let Some(stem) = singular.strip_suffix('y') {
        format!("{stem}ies")
    } else if singular.ends_with('s') {
        format!("{singular}es")
    } else if singular.is_empty() {
        singular
    } else {
        format!("{singular}s")
    }
}

/// The `resourceIdentifier` of a manifest: group of its apiVersion, guessed plural resource,
/// name and namespace (§4.9).
fn identify(manifest: &Manifest) -> ResourceIdentifier {
    let value = manifest.to_value().unwrap_or(Value::Null);
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let api_version = text(value.get("apiVersion"));
    let metadata = value.get("metadata");
    ResourceIdentifier {
        group: api_version
            .split_once('/')
            .map(|(group, _)| group.to_owned())
            .unwrap_or_default(),
        resource: guess_resource(&text(value.get("kind"))),
        name: text(metadata.and_then(|m| m.get("name"))),
        namespace: text(metadata.and_then(|m| m.get("namespace"))),
    }
}

fn spec_of(payload: SingleManifest) -> ManifestWorkSpec {
    let manifest_configs = payload
        .config_option
        .map(|config| ManifestConfigOption {
            resource_identifier: identify(&payload.manifest),
            feedback_rules: config.feedback_rules,
            update_strategy: config.update_strategy,
            ..ManifestConfigOption::default()
        })
        .into_iter()
        .collect();
    ManifestWorkSpec {
        workload: ManifestsTemplate {
            manifests: vec![payload.manifest],
        },
        delete_option: payload.delete_option,
        manifest_configs,
        executor: None,
    }
}

fn read_spec(event: &Event, header: &SpecHeader) -> Result<ManifestWorkSpec, CodecError> {
    match (header.deletion, ext::data_bytes(event)) {
        (None, None) => Err(CodecError::MissingData),
        (_, Some(bytes)) => Ok(spec_of(parse_data(&bytes, "a single Manifest")?)),
        (Some(_), None) => Ok(ManifestWorkSpec::default()),
    }
}

/// The source side: encodes specs (exactly one manifest), decodes status.
#[derive(Debug, Clone)]
pub struct ManifestSourceCodec {
    data_type: DataType,
}

impl Default for ManifestSourceCodec {
    fn default() -> Self {
        Self {
            data_type: manifests_data_type(),
        }
    }
}

impl ManifestSourceCodec {
    /// A codec with the default manifest limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a spec event as the sending source holds the work.
    pub fn decode_spec(&self, event: &Event) -> Result<ManifestWork, CodecError> {
        event_type_of(event, &self.data_type)?;
        let header = SpecHeader::read(event)?;
        let metadata = header.source_meta(event)?;
        let spec = read_spec(event, &header)?;
        Ok(ManifestWork {
            metadata,
            spec,
            status: ManifestWorkStatus::default(),
        })
    }
}

impl Codec<ManifestWork> for ManifestSourceCodec {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }

    fn encode(
        &self,
        source: &str,
        event_type: &EventType,
        work: &ManifestWork,
    ) -> Result<Event, CodecError> {
        check_data_type(&self.data_type, &event_type.data_type)?;
        let builder = spec_builder(source, event_type, &work.metadata);
        if work.metadata.deletion_timestamp.is_some() {
            return Ok(builder.build()?);
        }
        let manifests = &work.spec.workload.manifests;
        let [manifest] = manifests.as_slice() else {
            return Err(WorkCodecError::NotSingleManifest {
                uid: work.metadata.uid.clone(),
                count: manifests.len(),
            }
            .into());
        };
        validation::validate(manifests).map_err(WorkCodecError::from)?;
        let payload = SingleManifest {
            manifest: manifest.clone(),
            delete_option: work.spec.delete_option.clone(),
            config_option: work.spec.manifest_configs.first().map(|c| ManifestConfig {
                feedback_rules: c.feedback_rules.clone(),
                update_strategy: c.update_strategy.clone(),
            }),
        };
        Ok(builder.json_data(to_json(&payload)?).build()?)
    }

    fn decode(&self, event: &Event) -> Result<ManifestWork, CodecError> {
        event_type_of(event, &self.data_type)?;
        let header = StatusHeader::read(event)?;
        let metadata = header.meta(event)?;
        let bytes = ext::data_bytes(event).ok_or(CodecError::MissingData)?;
        let payload: SingleManifestStatus = parse_data(&bytes, "a ManifestStatus")?;
        Ok(ManifestWork {
            metadata,
            spec: ManifestWorkSpec::default(),
            status: ManifestWorkStatus {
                conditions: payload.conditions.unwrap_or_default(),
                resource_status: ManifestResourceStatus {
                    manifests: payload.status.into_iter().collect(),
                },
            },
        })
    }
}

/// The agent side: decodes specs as the v0.15 agent codec did, encodes status.
#[derive(Debug, Clone)]
pub struct ManifestAgentCodec {
    data_type: DataType,
    limits: ManifestLimits,
}

impl Default for ManifestAgentCodec {
    fn default() -> Self {
        Self {
            data_type: manifests_data_type(),
            limits: ManifestLimits::default(),
        }
    }
}

impl ManifestAgentCodec {
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

impl Codec<ManifestWork> for ManifestAgentCodec {
    fn data_type(&self) -> &DataType {
        &self.data_type
    }

    fn encode(
        &self,
        source: &str,
        event_type: &EventType,
        work: &ManifestWork,
    ) -> Result<Event, CodecError> {
        check_data_type(&self.data_type, &event_type.data_type)?;
        let payload = SingleManifestStatus {
            conditions: (!work.status.conditions.is_empty())
                .then(|| work.status.conditions.clone()),
            status: work.status.resource_status.manifests.first().cloned(),
        };
        Ok(status_builder(source, event_type, work)?
            .json_data(to_json(&payload)?)
            .build()?)
    }

    /// v0.15: the name is the resource id and the `metadata` extension is not read;
    /// resourceVersion is the decimal version, and (baton) generation the version too.
    fn decode(&self, event: &Event) -> Result<ManifestWork, CodecError> {
        event_type_of(event, &self.data_type)?;
        let header = SpecHeader::read(event)?;
        let metadata = ObjectMeta {
            name: header.resource_id.clone(),
            namespace: header.cluster_name.clone(),
            uid: header.resource_id.clone(),
            resource_version: header.version.to_string(),
            generation: header.version,
            deletion_timestamp: header.deletion,
            labels: BTreeMap::from([(
                ORIGINAL_SOURCE_LABEL.to_owned(),
                event.source().to_string(),
            )]),
            annotations: BTreeMap::from([(
                DATA_TYPE_ANNOTATION.to_owned(),
                self.data_type.to_string(),
            )]),
            finalizers: header
                .deletion
                .map(|_| vec![MANIFEST_WORK_FINALIZER.to_owned()])
                .unwrap_or_default(),
            ..ObjectMeta::default()
        };
        if header.deletion.is_some() {
            return Ok(ManifestWork {
                metadata,
                ..ManifestWork::default()
            });
        }
        let spec = read_spec(event, &header)?;
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
    use super::guess_resource;

    #[test]
    fn plural_resources_are_guessed_like_kubernetes() {
        assert_eq!(guess_resource("Deployment"), "deployments");
        assert_eq!(guess_resource("Ingress"), "ingresses");
        assert_eq!(guess_resource("NetworkPolicy"), "networkpolicies");
        assert_eq!(guess_resource("ConfigMap"), "configmaps");
    }
}
