//! `ManifestWorkSpec` (work.open-cluster-management.io/v1) with Go's JSON names and
//! `omitempty` rules (docs/protocol.md §4.1). Manifests are opaque Kubernetes objects kept as the
//! raw JSON text they arrived as, so unknown fields survive and §4.5 can measure their size.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::meta::null_default;

/// One manifest: the raw JSON text of a Kubernetes object, exactly as received.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Manifest(Box<RawValue>);

impl Manifest {
    /// A manifest from JSON text (any JSON value; §4.5 validation decides if it is an object).
    pub fn from_json(text: impl Into<String>) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.into()).map(Self)
    }

    /// A manifest from a JSON value (rendered compactly).
    pub fn from_value(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self)
    }

    /// The raw JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// Parsed as a generic JSON value (for inspection, e.g. kind and name).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

/// Same text, same manifest.
impl PartialEq for Manifest {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for Manifest {}

/// The manifests a work applies (OCM `ManifestsTemplate`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestsTemplate {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// The Kubernetes objects, applied in this order.
    pub manifests: Vec<Manifest>,
}

/// What an agent applies and how (OCM `ManifestWorkSpec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkSpec {
    /// The manifests.
    #[serde(default)]
    pub workload: ManifestsTemplate,
    /// What happens to the applied resources when the work is deleted (default: they are deleted
    /// in the foreground).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<DeleteOption>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Per-resource options: status feedback, update strategy, condition rules.
    pub manifest_configs: Vec<ManifestConfigOption>,
    /// The identity the agent applies the manifests as (default: its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<ManifestWorkExecutor>,
}

/// How an agent deletes the resources of a work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOption {
    /// `Foreground`, `Orphan` or `SelectivelyOrphan`.
    #[serde(default)]
    pub propagation_policy: String,
    #[serde(
        default,
        rename = "selectivelyOrphans",
        skip_serializing_if = "Option::is_none"
    )]
    /// With `SelectivelyOrphan`: the resources to leave in place.
    pub selectively_orphan: Option<SelectivelyOrphan>,
    /// Delete the work this many seconds after it completed (its `Complete` condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// The resources to leave in place under the `SelectivelyOrphan` policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectivelyOrphan {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// One rule per resource left in place.
    pub orphaning_rules: Vec<ResourceIdentifier>,
}

/// Identifies one resource of the workload (also the shape of an orphaning rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceIdentifier {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// Resource, plural (e.g. `deployments`).
    #[serde(default)]
    pub resource: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (`""` for a cluster-scoped resource).
    #[serde(default)]
    pub namespace: String,
}

/// Options for one resource of a work (OCM `ManifestConfigOption`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestConfigOption {
    /// The resource the options apply to.
    pub resource_identifier: ResourceIdentifier,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Status fields to report back (status feedback).
    pub feedback_rules: Vec<FeedbackRule>,
    /// How the agent updates the resource (default: `Update`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<UpdateStrategy>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Conditions the agent computes on the resource.
    pub condition_rules: Vec<ConditionRule>,
    /// When feedback is collected: `Poll` or `Watch` (`""`: the agent's default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub feedback_scrape_type: String,
}

/// One status feedback rule: a well-known status set, or JSON paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackRule {
    /// `WellKnownStatus` or `JSONPaths`.
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// With `JSONPaths`: the fields to report.
    pub json_paths: Vec<JsonPath>,
}

/// A field reported by status feedback.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonPath {
    /// The name the value is reported under.
    #[serde(default)]
    pub name: String,
    /// The resource version the path applies to (`""`: any).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The JSON path, e.g. `.status.readyReplicas`.
    #[serde(default)]
    pub path: String,
}

/// How an agent updates a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStrategy {
    /// `Update`, `CreateOnly`, `ServerSideApply` or `ReadOnly`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// With `ServerSideApply`: its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_apply: Option<ServerSideApplyConfig>,
}

/// Options of server-side apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSideApplyConfig {
    /// Take ownership of fields another manager owns.
    #[serde(default)]
    pub force: bool,
    /// The field manager (`""`: the agent's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field_manager: String,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Fields whose drift the agent leaves alone.
    pub ignore_fields: Vec<IgnoreField>,
}

/// Fields the agent does not set back when they drift on the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreField {
    /// When they are ignored: `OnSpokePresent` or `OnSpokeChange`.
    #[serde(default)]
    pub condition: String,
    /// The fields, as JSON paths.
    #[serde(default, rename = "jsonPaths", skip_serializing_if = "Vec::is_empty")]
    pub json_paths: Vec<String>,
    #[serde(
        default,
        rename = "jsonPointers",
        skip_serializing_if = "Vec::is_empty"
    )]
    /// The fields, as JSON pointers.
    pub json_pointers: Vec<String>,
    #[serde(
        default,
        rename = "jqPathExpressions",
        skip_serializing_if = "Vec::is_empty"
    )]
    /// The fields, as jq path expressions.
    pub jq_path_expressions: Vec<String>,
}

/// A condition the agent computes on a resource and reports in its status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionRule {
    /// The condition type it sets (e.g. `Complete`).
    #[serde(default)]
    pub condition: String,
    /// How it is computed: `WellKnownConditions` or `CEL`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// With `CEL`: the expressions that must all hold.
    #[serde(default, deserialize_with = "null_default")]
    pub cel_expressions: Vec<String>,
    /// The condition's message.
    #[serde(default)]
    pub message: String,
    /// A CEL expression that renders the message.
    #[serde(default)]
    pub message_expression: String,
}

/// Who applies the manifests (`executor` in the API, `executer` in the bundle payload, §4.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestWorkExecutor {
    /// Who the agent acts as.
    pub subject: ExecutorSubject,
}

/// The identity an agent applies a work as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorSubject {
    /// The kind of subject: `ServiceAccount`.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// With `ServiceAccount`: the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccountSubject>,
}

/// A service account on the managed cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountSubject {
    /// Its namespace.
    #[serde(default)]
    pub namespace: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
}
