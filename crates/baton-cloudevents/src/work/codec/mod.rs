//! The ManifestWork codecs (docs/protocol.md §4): one module per data type, each with a source-side
//! codec (encodes spec, decodes status) and an agent-side codec (decodes spec, encodes status),
//! all implementing the core [`Codec`](crate::Codec). This module holds what the
//! data types share: the extension reads of §4.4/§4.6, the `metadata` and `logtracing`
//! extensions, and the codec error.

pub mod manifestbundles;
pub mod manifests;

use std::collections::BTreeMap;

use ::cloudevents::AttributesReader;

use super::model::{
    DATA_TYPE_ANNOTATION, LOG_TRACING_PREFIX, MANIFEST_WORK_FINALIZER, ManifestWork,
    ORIGINAL_SOURCE_LABEL, ObjectMeta, SEQUENCE_ID_ANNOTATION, Time,
};
use super::validation::ManifestError;
use crate::extensions::{self as ext};
use crate::{CodecError, DataType, Event, EventBuilder, EventType};

pub use manifestbundles::{BundleAgentCodec, BundleSourceCodec};
pub use manifests::{ManifestAgentCodec, ManifestSourceCodec};

/// Payload-specific failures, carried as [`CodecError::Invalid`].
#[derive(Debug, thiserror::Error)]
pub enum WorkCodecError {
    /// The workload breaks a rule of §4.5.
    #[error("the spec is invalid: {0}")]
    InvalidManifests(#[from] ManifestError),
    /// The `metadata` extension does not parse.
    #[error("the metadata extension is not a valid ObjectMeta JSON: {0}")]
    Metadata(#[source] serde_json::Error),
    /// The `logtracing` extension does not parse.
    #[error("the logtracing extension is not a JSON object of strings: {0}")]
    LogTracing(#[source] serde_json::Error),
    /// A status cannot be addressed without the owning source.
    #[error("work {0} has no {ORIGINAL_SOURCE_LABEL} label; cannot address its status")]
    NoOriginalSource(String),
    #[error("work {uid} has {count} manifests; the manifests data type carries exactly one")]
    /// The `manifests` data type carries exactly one manifest.
    NotSingleManifest {
        /// The work.
        uid: String,
        /// How many manifests it has.
        count: usize,
    },
    /// The status hash could not be computed.
    #[error("cannot compute the status hash: {0}")]
    StatusHash(#[source] serde_json::Error),
    /// The payload could not be rendered.
    #[error("cannot render the payload: {0}")]
    Render(#[source] serde_json::Error),
}

impl From<WorkCodecError> for CodecError {
    fn from(err: WorkCodecError) -> Self {
        CodecError::Invalid(Box::new(err))
    }
}

/// Refuses an event type of another data type.
pub(crate) fn check_data_type(expected: &DataType, got: &DataType) -> Result<(), CodecError> {
    if expected == got {
        Ok(())
    } else {
        Err(CodecError::WrongDataType {
            expected: expected.to_string(),
            got: got.to_string(),
        })
    }
}

/// The parsed type of a received event, refused unless it is of `expected`.
pub(crate) fn event_type_of(event: &Event, expected: &DataType) -> Result<EventType, CodecError> {
    let event_type: EventType = event.ty().parse()?;
    check_data_type(expected, &event_type.data_type)?;
    Ok(event_type)
}

/// The `metadata` extension as `ObjectMeta`, if present.
pub(crate) fn read_metadata(event: &Event) -> Result<Option<ObjectMeta>, CodecError> {
    match ext::string(event, ext::METADATA)? {
        None => Ok(None),
        Some(text) => Ok(Some(
            serde_json::from_str(text).map_err(WorkCodecError::Metadata)?,
        )),
    }
}

/// Copies the `logtracing` entries (keys with the logging prefix) into `annotations`.
pub(crate) fn read_log_tracing(
    event: &Event,
    annotations: &mut BTreeMap<String, String>,
) -> Result<(), CodecError> {
    let Some(text) = ext::string(event, ext::LOG_TRACING)? else {
        return Ok(());
    };
    let map: BTreeMap<String, String> =
        serde_json::from_str(text).map_err(WorkCodecError::LogTracing)?;
    annotations.extend(
        map.into_iter()
            .filter(|(k, _)| k.starts_with(LOG_TRACING_PREFIX)),
    );
    Ok(())
}

/// The `logtracing` value for `meta`: its logging annotations as a JSON object (`{}` if none).
pub(crate) fn log_tracing_json(meta: &ObjectMeta) -> Result<String, CodecError> {
    let map: BTreeMap<&str, &str> = meta
        .annotations
        .iter()
        .filter(|(k, _)| k.starts_with(LOG_TRACING_PREFIX))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Ok(serde_json::to_string(&map).map_err(WorkCodecError::Render)?)
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(serde_json::to_vec(value).map_err(WorkCodecError::Render)?)
}

pub(crate) fn parse_data<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<T, CodecError> {
    serde_json::from_slice(bytes).map_err(|source| CodecError::Json { what, source })
}

/// The identity extensions of a spec event (§4.4): `resourceid` and `clustername` required;
/// `resourceversion` required unless the event is a deletion, where it defaults to 0 (the
/// v1.3 broker sends deletes without it, §8.6.3).
pub(crate) struct SpecHeader {
    pub resource_id: String,
    pub cluster_name: String,
    pub version: i64,
    pub deletion: Option<Time>,
}

impl SpecHeader {
    pub fn read(event: &Event) -> Result<Self, CodecError> {
        let resource_id = ext::required_string(event, ext::RESOURCE_ID)?.to_owned();
        let cluster_name = ext::required_string(event, ext::CLUSTER_NAME)?.to_owned();
        let deletion = ext::timestamp(event, ext::DELETION_TIMESTAMP)?.map(Time);
        let version = match ext::integer(event, ext::RESOURCE_VERSION)? {
            Some(v) => v,
            None if deletion.is_some() => 0,
            None => return Err(ext::ExtensionError::Missing(ext::RESOURCE_VERSION).into()),
        };
        Ok(Self {
            resource_id,
            cluster_name,
            version,
            deletion,
        })
    }

    /// The source's view of the work's metadata: the `metadata` extension (or nothing) with
    /// uid, name (default the resource id), namespace and generation set from the extensions.
    pub fn source_meta(&self, event: &Event) -> Result<ObjectMeta, CodecError> {
        let mut meta = read_metadata(event)?.unwrap_or_default();
        meta.uid.clone_from(&self.resource_id);
        if meta.name.is_empty() {
            meta.name.clone_from(&self.resource_id);
        }
        meta.namespace.clone_from(&self.cluster_name);
        meta.generation = self.version;
        if let Some(deletion) = self.deletion {
            meta.deletion_timestamp = Some(deletion);
        }
        Ok(meta)
    }
}

/// Turns the source's view of a spec into the agent's (§4.4, v1.2+): resourceVersion is the
/// agent's own, the owning source and data type are recorded, log tracing is copied, and a
/// deleting work gets the cleanup finalizer.
pub(crate) fn agent_view(
    event: &Event,
    data_type: &DataType,
    mut meta: ObjectMeta,
) -> Result<ObjectMeta, CodecError> {
    meta.resource_version.clear();
    meta.annotations
        .insert(DATA_TYPE_ANNOTATION.to_owned(), data_type.to_string());
    meta.labels
        .insert(ORIGINAL_SOURCE_LABEL.to_owned(), event.source().to_string());
    read_log_tracing(event, &mut meta.annotations)?;
    if meta.deletion_timestamp.is_some() {
        meta.finalizers = vec![MANIFEST_WORK_FINALIZER.to_owned()];
    }
    Ok(meta)
}

/// The identity extensions of a status event (§4.6), read by the source.
pub(crate) struct StatusHeader {
    pub resource_id: String,
    pub cluster_name: String,
    pub version: i64,
    pub sequence_id: String,
}

impl StatusHeader {
    pub fn read(event: &Event) -> Result<Self, CodecError> {
        Ok(Self {
            resource_id: ext::required_string(event, ext::RESOURCE_ID)?.to_owned(),
            cluster_name: ext::string(event, ext::CLUSTER_NAME)?
                .unwrap_or_default()
                .to_owned(),
            version: ext::integer(event, ext::RESOURCE_VERSION)?
                .ok_or(ext::ExtensionError::Missing(ext::RESOURCE_VERSION))?,
            sequence_id: ext::required_string(event, ext::SEQUENCE_ID)?.to_owned(),
        })
    }

    /// The work's metadata as the source rebuilds it: the `metadata` extension if present,
    /// then uid, name, namespace, generation and the sequence id annotation. The namespace is
    /// the `clustername` whenever the event has one: a work lives in its cluster's namespace,
    /// and `clustername` is what a broker or topic ties to the sender, where `metadata` is
    /// whatever the sender wrote.
    pub fn meta(&self, event: &Event) -> Result<ObjectMeta, CodecError> {
        let mut meta = read_metadata(event)?.unwrap_or_default();
        meta.uid.clone_from(&self.resource_id);
        if meta.name.is_empty() {
            meta.name.clone_from(&self.resource_id);
        }
        if !self.cluster_name.is_empty() || meta.namespace.is_empty() {
            meta.namespace.clone_from(&self.cluster_name);
        }
        meta.generation = self.version;
        meta.annotations
            .insert(SEQUENCE_ID_ANNOTATION.to_owned(), self.sequence_id.clone());
        read_log_tracing(event, &mut meta.annotations)?;
        Ok(meta)
    }
}

/// The envelope of a spec event from a source (§4.1): cluster, resource id and version.
pub(crate) fn spec_builder(
    source: &str,
    event_type: &EventType,
    meta: &ObjectMeta,
) -> EventBuilder {
    let mut builder = EventBuilder::new(source, event_type)
        .cluster_name(&meta.namespace)
        .resource_id(&meta.uid)
        .resource_version(meta.generation);
    if let Some(deletion) = meta.deletion_timestamp {
        builder = builder.deletion_timestamp(deletion.0);
    }
    builder
}

/// The envelope of a status event from an agent (§4.6): owning source, cluster, resource id,
/// version and a fresh sequence id.
pub(crate) fn status_builder(
    source: &str,
    event_type: &EventType,
    work: &ManifestWork,
) -> Result<EventBuilder, CodecError> {
    let original_source = work
        .original_source()
        .ok_or_else(|| WorkCodecError::NoOriginalSource(work.metadata.uid.clone()))?;
    Ok(EventBuilder::new(source, event_type)
        .cluster_name(&work.metadata.namespace)
        .original_source(original_source)
        .resource_id(&work.metadata.uid)
        .resource_version(work.metadata.generation)
        .sequence_id(
            super::sequence::SequenceGenerator::global()
                .next_id()
                .to_string(),
        ))
}
