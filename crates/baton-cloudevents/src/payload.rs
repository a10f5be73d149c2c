//! The resync request bodies (docs/protocol.md §6.2, §6.3), with sdk-go's exact JSON field names.
//! An empty list means "send me everything" (§6.5 step 5, §6.6 step 1).

use serde::{Deserialize, Serialize};

/// Body of a `spec.resync_request` (agent → source): the versions the agent holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceVersionList {
    #[serde(
        rename = "resourceVersions",
        default,
        deserialize_with = "null_as_empty"
    )]
    /// One entry per resource the agent holds.
    pub resource_versions: Vec<ResourceVersion>,
}

/// A resource and the version the agent holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceVersion {
    /// The `resourceid`.
    #[serde(rename = "resourceID")]
    pub resource_id: String,
    /// The version held (0: unversioned).
    #[serde(rename = "resourceVersion")]
    pub resource_version: i64,
}

/// Body of a `status.resync_request` (source → agent): the status hashes the source holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusHashList {
    /// One entry per resource whose status the source asks about (empty: about every one).
    #[serde(rename = "statusHashes", default, deserialize_with = "null_as_empty")]
    pub status_hashes: Vec<ResourceStatusHash>,
}

/// A resource and the hash of the status the source holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceStatusHash {
    /// The `resourceid`.
    #[serde(rename = "resourceID")]
    pub resource_id: String,
    /// The hash (§6.4) of the status the source holds.
    #[serde(rename = "statusHash")]
    pub status_hash: String,
}

/// Go marshals a nil slice as `null`; treat it as the empty list.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_match_sdk_go() {
        let list = ResourceVersionList {
            resource_versions: vec![ResourceVersion {
                resource_id: "id".into(),
                resource_version: 1,
            }],
        };
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"resourceVersions":[{"resourceID":"id","resourceVersion":1}]}"#
        );
        let hashes: StatusHashList = serde_json::from_str(r#"{"statusHashes":null}"#).unwrap();
        assert!(hashes.status_hashes.is_empty());
        let empty: ResourceVersionList = serde_json::from_str("{}").unwrap();
        assert_eq!(
            serde_json::to_string(&empty).unwrap(),
            r#"{"resourceVersions":[]}"#
        );
    }
}
