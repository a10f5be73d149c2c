//! The event data shapes (docs/protocol.md §4.1, §4.6, §4.9): what the `data` of a work event holds.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

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

/// A [`ManifestBundle`] to send whose manifests are JSON text: the array is written as it is
/// (no manifest is parsed or copied), so it renders as the `ManifestBundle` of the same
/// manifests does when the text has no whitespace between its elements (whitespace there is
/// kept, and no reader sees it: §4.5 counts each manifest's own text). For a source that keeps
/// validated manifests as text (`BundleSourceCodec::encode_text`).
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RawManifestBundle<'a> {
    /// The JSON array of the Kubernetes objects.
    pub manifests: &'a RawValue,
    /// As [`ManifestBundle::delete_option`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<&'a DeleteOption>,
    /// As [`ManifestBundle::manifest_configs`].
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub manifest_configs: &'a [ManifestConfigOption],
    /// As [`ManifestBundle::executer`].
    #[serde(rename = "executer", skip_serializing_if = "Option::is_none")]
    pub executer: Option<&'a ManifestWorkExecutor>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_bundle_renders_as_the_bundle_of_its_manifests() {
        let manifests =
            r#"[{"kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v w"}},{"b":[1,2]}]"#;
        let delete_option = DeleteOption {
            propagation_policy: "Orphan".into(),
            ..DeleteOption::default()
        };
        let configs = vec![ManifestConfigOption::default()];
        let typed = ManifestBundle {
            manifests: serde_json::from_str(manifests).unwrap(),
            delete_option: Some(delete_option.clone()),
            manifest_configs: configs.clone(),
            executer: None,
        };
        let raw: Box<RawValue> = serde_json::from_str(manifests).unwrap();
        let text = RawManifestBundle {
            manifests: &raw,
            delete_option: Some(&delete_option),
            manifest_configs: &configs,
            executer: None,
        };
        assert_eq!(
            serde_json::to_string(&text).unwrap(),
            serde_json::to_string(&typed).unwrap()
        );
        let bare = RawManifestBundle {
            manifests: &raw,
            delete_option: None,
            manifest_configs: &[],
            executer: None,
        };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            format!(r#"{{"manifests":{manifests}}}"#)
        );
    }
}
