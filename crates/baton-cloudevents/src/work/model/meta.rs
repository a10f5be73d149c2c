//! The Kubernetes `ObjectMeta` subset a ManifestWork carries on the wire (docs/protocol.md §4.3), and
//! `metav1.Time`. Field order and `omitempty` follow Go's `ObjectMeta`, so `serde_json` renders
//! the `metadata` extension exactly as sdk-go v1.2+ does (maps sorted, as Go sorts map keys).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `metav1.Time`: kept at full precision, rendered as Kubernetes does (RFC 3339, whole
/// seconds, UTC `Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub DateTime<Utc>);

impl Time {
    /// Now, in whole seconds: what the wire can carry, so a status set now compares equal
    /// to the same status after a round trip.
    pub fn now() -> Self {
        let now = Utc::now();
        Self(DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now))
    }
}

impl From<DateTime<Utc>> for Time {
    fn from(time: DateTime<Utc>) -> Self {
        Self(time)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Self(t.with_timezone(&Utc)))
            .map_err(serde::de::Error::custom)
    }
}

/// The members of `ObjectMeta` baton uses, in Go's field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The work's name, unique in its namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A prefix the name is generated from, when `name` is empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// The cluster the work is for (§4.1).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The resource id (§1.3).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The holder's own storage version (opaque string); the wire version is `generation`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// The spec version carried as `resourceversion` (v1.2+, §10.2 #1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: i64,
    /// v1.0/v1.1 write `null` when unset, v1.2+ omit it (§10.2 #12); both read as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<Time>,
    /// Set by the source when the work is being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<Time>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    /// Labels (the agent's copy records the owning source in one, §4.4).
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    /// Annotations (data type, sequence id, log tracing; §4.4, §4.6).
    pub annotations: BTreeMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    /// Finalizers (the agent's cleanup finalizer while deleting, §4.4).
    pub finalizers: Vec<String>,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// Go renders nil maps and slices as `null`; read them as empty.
pub(crate) fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_renders_like_sdk_go_v1_3() {
        let expected = r#"{"name":"web-work","namespace":"cluster1","uid":"03f36550-d4de-565a-b59e-268477dbea7f","resourceVersion":"2","generation":2,"deletionTimestamp":"2025-06-01T13:30:00Z","labels":{"app":"web","team":"platform"},"annotations":{"cloudevents.open-cluster-management.io/resourceversion":"2"},"finalizers":["cloudevents.open-cluster-management.io/resource-cleanup"]}"#;
        let meta: ObjectMeta = serde_json::from_str(expected).unwrap();
        assert_eq!(serde_json::to_string(&meta).unwrap(), expected);
    }

    #[test]
    fn null_creation_timestamp_of_v1_0_reads_as_unset() {
        let meta: ObjectMeta =
            serde_json::from_str(r#"{"name":"w","creationTimestamp":null,"labels":null}"#).unwrap();
        assert_eq!(meta.creation_timestamp, None);
        assert_eq!(serde_json::to_string(&meta).unwrap(), r#"{"name":"w"}"#);
    }

    #[test]
    fn time_keeps_precision_but_renders_seconds() {
        let t: Time = serde_json::from_str(r#""2025-06-01T13:30:00.987654321Z""#).unwrap();
        assert_eq!(t.0.timestamp_subsec_nanos(), 987_654_321);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#""2025-06-01T13:30:00Z""#
        );
    }
}
