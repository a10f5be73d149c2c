//! The event data shapes (docs/protocol.md §4.1, §4.6, §4.9): what the `data` of a work event holds.

use serde::{Deserialize, Serialize};

use super::meta::null_default;
use super::spec::{
    DeleteOption, FeedbackRule, Manifest, ManifestConfigOption, ManifestWorkExecutor,
    UpdateStrategy,
};
use super::status::{Condition, ManifestCondition};

/// Spec data of `manifestbundles` (§4.1). `manifests` is always rendered; the executor is
/// spelled `executer` on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBundle {
    /// The Kubernetes objects.
    #[serde(default, deserialize_with = "null_default")]
    pub manifests: Vec<Manifest>,
    /// As [`ManifestWorkSpec::delete_option`](super::ManifestWorkSpec::delete_option).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// As [`ManifestWorkSpec::manifest_configs`](super::ManifestWorkSpec::manifest_configs).
    pub manifest_configs: Vec<ManifestConfigOption>,
    /// As [`ManifestWorkSpec::executor`](super::ManifestWorkSpec::executor).
    #[serde(default, rename = "executer", skip_serializing_if = "Option::is_none")]
    pub executer: Option<ManifestWorkExecutor>,
}

/// Status data of `manifestbundles` (§4.6). `conditions` is always rendered, `null` when the
/// work has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBundleStatus {
    /// The spec the status is about, when the agent sends it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_bundle: Option<ManifestBundle>,
    /// Conditions of the whole work.
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// The status of each manifest.
    pub resource_status: Vec<ManifestCondition>,
}

/// Spec data of `manifests` (§4.9): one Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SingleManifest {
    /// The Kubernetes object.
    pub manifest: Manifest,
    /// What happens to it when the work is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
    /// Status feedback and update strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_option: Option<ManifestConfig>,
}

/// `configOption` of a single manifest (§4.9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestConfig {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Status fields to report back.
    pub feedback_rules: Vec<FeedbackRule>,
    /// How the agent updates the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
}

/// Status data of `manifests` (§4.9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleManifestStatus {
    /// Conditions of the work.
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    /// The status of the one manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ManifestCondition>,
}
