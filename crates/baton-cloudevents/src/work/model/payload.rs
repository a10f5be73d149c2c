//! The event data shapes (PROTOCOL.md §4.1, §4.6, §4.9): what the `data` of a work event holds.

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
    #[serde(default, deserialize_with = "null_default")]
    pub manifests: Vec<Manifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub manifest_configs: Vec<ManifestConfigOption>,
    #[serde(default, rename = "executer", skip_serializing_if = "Option::is_none")]
    pub executer: Option<ManifestWorkExecutor>,
}

/// Status data of `manifestbundles` (§4.6). `conditions` is always rendered, `null` when the
/// work has none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestBundleStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_bundle: Option<ManifestBundle>,
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub resource_status: Vec<ManifestCondition>,
}

/// Spec data of `manifests` (§4.9): one Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SingleManifest {
    pub manifest: Manifest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
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
    pub feedback_rules: Vec<FeedbackRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
}

/// Status data of `manifests` (§4.9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleManifestStatus {
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ManifestCondition>,
}
