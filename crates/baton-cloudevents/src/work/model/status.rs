//! `ManifestWorkStatus` with Go's JSON names and `omitempty` rules (docs/protocol.md §4.6). The
//! serde rendering of these types is exactly the Kubernetes unstructured form the status hash
//! is computed over (§6.4): `resourceStatus` always present, `statusFeedback` always present,
//! per-manifest `conditions` `null` when unset and `[]` when empty.

use serde::{Deserialize, Serialize};

use super::meta::{Time, null_default};

/// The condition type a deleted work carries (§4.7).
pub const CONDITION_DELETED: &str = "Deleted";
/// The reason of the `Deleted` condition (§4.7).
pub const REASON_MANIFESTS_DELETED: &str = "ManifestsDeleted";

/// A `metav1.Condition`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition type (`Applied`, `Available`, `Degraded`, `Deleted`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The work generation the condition was computed for.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_generation: i64,
    /// Go renders an unset time as `null`.
    #[serde(default)]
    pub last_transition_time: Option<Time>,
    /// Why, in CamelCase (e.g. `AppliedManifestWorkComplete`).
    #[serde(default)]
    pub reason: String,
    /// Why, for people.
    #[serde(default)]
    pub message: String,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

impl Condition {
    /// Whether `status` is `True`.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The condition of `type_` in `conditions`, if any.
pub fn find_condition<'c>(conditions: &'c [Condition], type_: &str) -> Option<&'c Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Kubernetes `meta.SetStatusCondition`: replace the condition of the same type (keeping its
/// transition time when the status did not change) or append it; an unset time becomes now.
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time;
            }
            if condition.last_transition_time.is_none() {
                condition.last_transition_time = Some(Time::now());
            }
            *existing = condition;
        }
        None => {
            if condition.last_transition_time.is_none() {
                condition.last_transition_time = Some(Time::now());
            }
            conditions.push(condition);
        }
    }
}

/// What an agent reports about a work (OCM `ManifestWorkStatus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestWorkStatus {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Conditions of the whole work.
    pub conditions: Vec<Condition>,
    /// Always rendered, `{}` when empty (§6.4).
    #[serde(default)]
    pub resource_status: ManifestResourceStatus,
}

impl ManifestWorkStatus {
    /// True when the agent reported the work deleted (`Deleted=True`, §4.7).
    pub fn is_deleted(&self) -> bool {
        find_condition(&self.conditions, CONDITION_DELETED).is_some_and(Condition::is_true)
    }
}

/// The status of each manifest of a work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestResourceStatus {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// One entry per manifest.
    pub manifests: Vec<ManifestCondition>,
}

/// The status of one manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestCondition {
    /// Which manifest.
    #[serde(default)]
    pub resource_meta: ManifestResourceMeta,
    /// Always rendered, `{}` when there are no values.
    #[serde(default, rename = "statusFeedback")]
    pub status_feedbacks: StatusFeedbackResult,
    /// `None` renders `null`, `Some(vec![])` renders `[]`; the hash tells them apart (§6.4).
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
}

/// Identifies one manifest of a work: its position and its Kubernetes coordinates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestResourceMeta {
    /// Its index in the work's manifests.
    #[serde(default)]
    pub ordinal: i32,
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Resource, plural.
    #[serde(default)]
    pub resource: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (`""` when cluster-scoped).
    #[serde(default)]
    pub namespace: String,
}

/// The values the feedback rules of a manifest collected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFeedbackResult {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// One value per reported field.
    pub values: Vec<FeedbackValue>,
}

/// One reported field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackValue {
    /// The name of the rule's field.
    pub name: String,
    /// Its value.
    #[serde(rename = "fieldValue")]
    pub value: FieldValue,
}

/// One feedback value; `type_` says which member is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldValue {
    /// `Integer`, `String`, `Boolean` or `JsonRaw`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Set for `Integer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer: Option<i64>,
    /// Set for `String`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Set for `Boolean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean: Option<bool>,
    /// Set for `JsonRaw`: the JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_raw: Option<String>,
}
