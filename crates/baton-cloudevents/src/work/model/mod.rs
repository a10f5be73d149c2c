//! The ManifestWork model: what crosses the wire, with OCM's exact JSON names and optionality
//! (docs/protocol.md §4). [`ManifestWork`] is the object both sides hold; [`payload`] has the event
//! data shapes (`ManifestBundle`, `ManifestBundleStatus`, and the single-manifest payloads of
//! §4.9).

pub mod meta;
pub mod payload;
pub mod spec;
pub mod status;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DataType, ResourceObject};

pub use meta::{ObjectMeta, Time};
pub use spec::{
    DeleteOption, Manifest, ManifestConfigOption, ManifestWorkExecutor, ManifestWorkSpec,
    ManifestsTemplate, ResourceIdentifier,
};
pub use status::{
    Condition, ManifestCondition, ManifestResourceMeta, ManifestResourceStatus, ManifestWorkStatus,
};

/// Label on the agent's copy of a work: the source that owns it (§4.4, §9).
pub const ORIGINAL_SOURCE_LABEL: &str = "cloudevents.open-cluster-management.io/originalsource";
/// Annotation on the agent's copy of a work: the data type it arrived as (§4.4, §9).
pub const DATA_TYPE_ANNOTATION: &str = "cloudevents.open-cluster-management.io/datatype";
/// Annotation on the source's copy: the last accepted status sequence id (§4.6, §9).
pub const SEQUENCE_ID_ANNOTATION: &str = "cloudevents.open-cluster-management.io/sequenceid";
/// Prefix of the annotations carried in the `logtracing` extension (§3.1, §9).
pub const LOG_TRACING_PREFIX: &str = "logging.open-cluster-management.io/";
/// The finalizer an agent puts on a deleting work (§4.4).
pub const MANIFEST_WORK_FINALIZER: &str =
    "cluster.open-cluster-management.io/manifest-work-cleanup";

/// The `manifestbundles` data type every v1.x agent speaks (§2.4).
pub fn manifest_bundles_data_type() -> DataType {
    DataType::new(
        "io.open-cluster-management.works",
        "v1alpha1",
        "manifestbundles",
    )
}

/// The single-manifest `manifests` data type of sdk-go up to v0.15 (§4.9).
pub fn manifests_data_type() -> DataType {
    DataType::new("io.open-cluster-management.works", "v1alpha1", "manifests")
}

/// A ManifestWork (`work.open-cluster-management.io/v1`): identity and versions in `metadata`,
/// desired state in `spec`, the agent's report in `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestWork {
    /// Identity, versions, labels and annotations.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the agent applies.
    #[serde(default)]
    pub spec: ManifestWorkSpec,
    /// What the agent reported.
    #[serde(default)]
    pub status: ManifestWorkStatus,
}

impl ManifestWork {
    /// The source that owns this work, from the agent-side label (§4.6).
    pub fn original_source(&self) -> Option<&str> {
        self.metadata
            .labels
            .get(ORIGINAL_SOURCE_LABEL)
            .map(String::as_str)
    }

    /// The data type the work arrived as (agent side), if recorded.
    pub fn data_type(&self) -> Option<DataType> {
        self.metadata
            .annotations
            .get(DATA_TYPE_ANNOTATION)
            .and_then(|s| s.parse().ok())
    }

    /// The last accepted status sequence id (source side, §5.2).
    pub fn sequence_id(&self) -> &str {
        self.metadata
            .annotations
            .get(SEQUENCE_ID_ANNOTATION)
            .map_or("", String::as_str)
    }
}

/// uid = resource id; version = generation (v1.2+, §10.2 #1).
impl ResourceObject for ManifestWork {
    fn resource_id(&self) -> &str {
        &self.metadata.uid
    }

    fn resource_version(&self) -> i64 {
        self.metadata.generation
    }

    fn deletion_timestamp(&self) -> Option<DateTime<Utc>> {
        self.metadata.deletion_timestamp.map(|t| t.0)
    }

    /// The `originalsource` label the agent codec records from the spec event (§4.4).
    fn owner_source(&self) -> Option<&str> {
        self.original_source()
    }

    /// The work's namespace is its cluster (§4.1).
    fn cluster_name(&self) -> Option<&str> {
        Some(self.metadata.namespace.as_str()).filter(|n| !n.is_empty())
    }
}
